package ledger

import (
	"slices"
	"time"
)

// The attribution state keeps every click in parallel arrays: 8 bytes of
// time, 4 of link, 4 linking to the visitor's previous click, and the click
// id in one shared byte arena. Visitors and contacts are keyed by a 64-bit
// FNV-1a digest of their id (a collision needs ~4 billion ids to become
// likely). That keeps a click near 40 bytes, within the 64-byte goal.
type clicks struct {
	// Click time in whole Unix seconds. Attribution compares a click with
	// an order to the second: a click in the same second as the order
	// counts as before it, since publishers often stamp orders to the
	// second while clicks carry fractions.
	at      []int64
	link    []int32  // link number in the catalog
	prev    []int32  // previous click of the same visitor, -1 for none
	idStart []uint32 // click id = ids[idStart[i]:idStart[i+1]] (or to the end)
	ids     []byte

	lastByVisitor map[uint64]int32   // visitor digest -> latest click
	byContact     map[uint64][]int32 // clicks that carried the contact id
}

func newClicks() *clicks {
	return &clicks{lastByVisitor: map[uint64]int32{}, byContact: map[uint64][]int32{}}
}

// digest is 64-bit FNV-1a, written out so that it allocates nothing.
func digest(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// keyDigest digests a fact key (source, a zero byte, id) without building it.
func keyDigest(source, id string) uint64 {
	h := digest(source)
	h *= fnvPrime // the zero byte: xor with 0, then multiply
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= fnvPrime
	}
	return h
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func (c *clicks) add(clickID string, at time.Time, link int32, visitor, contact string) {
	i := int32(len(c.at))
	v := digest(visitor)
	prev, ok := c.lastByVisitor[v]
	if !ok {
		prev = -1
	}
	if len(c.at) == cap(c.at) || len(c.ids)+len(clickID) > cap(c.ids) {
		c.grow(len(clickID))
	}
	c.at = append(c.at, at.Unix())
	c.link = append(c.link, link)
	c.prev = append(c.prev, prev)
	c.idStart = append(c.idStart, uint32(len(c.ids)))
	c.ids = append(c.ids, clickID...)
	c.lastByVisitor[v] = i
	if contact != "" {
		k := digest(contact)
		c.byContact[k] = append(c.byContact[k], i)
	}
}

// grow makes the click arrays half as large again, and the id arena
// with them, at the average id length so far. append alone grows a large
// slice a quarter at a time, and at millions of clicks copying them again
// and again (into fresh, faulting pages) cost more than deciding every
// order; doubling would copy least but could leave half of the arrays
// unused, and the garbage collector counts what is allocated.
func (c *clicks) grow(idLen int) {
	if len(c.at) == cap(c.at) {
		n := max(1024, cap(c.at)+cap(c.at)/2)
		c.at, c.link, c.prev, c.idStart = withCap(c.at, n), withCap(c.link, n), withCap(c.prev, n), withCap(c.idStart, n)
		if len(c.at) > 0 {
			if want := n*len(c.ids)/len(c.at) + n/16; want > cap(c.ids) {
				c.ids = withCap(c.ids, want)
			}
		}
	}
	if len(c.ids)+idLen > cap(c.ids) {
		c.ids = withCap(c.ids, max(16<<10, cap(c.ids)+cap(c.ids)/2, len(c.ids)+idLen))
	}
}

// withCap copies s into a new slice of capacity n (≥ len(s)).
func withCap[T any](s []T, n int) []T {
	t := make([]T, len(s), n)
	copy(t, s)
	return t
}

func (c *clicks) id(i int32) string { return string(c.idBytes(i)) }

// idBytes is click i's id in the arena, to be copied, never kept.
func (c *clicks) idBytes(i int32) []byte {
	end := uint32(len(c.ids))
	if int(i)+1 < len(c.idStart) {
		end = c.idStart[i+1]
	}
	return c.ids[c.idStart[i]:end]
}

// appendOfVisitor appends the visitor's clicks to out, oldest first.
func (c *clicks) appendOfVisitor(out []int32, visitorDigest uint64) []int32 {
	start := len(out)
	for i, ok := c.lastByVisitor[visitorDigest]; ok && i >= 0; i = c.prev[i] {
		out = append(out, i)
	}
	slices.Reverse(out[start:])
	return out
}

// Bytes estimates the memory the click state holds, for the per-click goal.
func (c *clicks) Bytes() int {
	const mapEntry = 8 + 4 + 12 // key, value and a share of bucket overhead
	n := cap(c.at)*8 + cap(c.link)*4 + cap(c.prev)*4 + cap(c.idStart)*4 + cap(c.ids)
	n += len(c.lastByVisitor) * mapEntry
	for _, l := range c.byContact {
		n += 8 + 24 + cap(l)*4
	}
	return n
}

// identities links visitors (browsers) with contacts (people).
type identities struct {
	contactOf  map[uint64]string   // visitor digest -> contact id (latest)
	visitorsOf map[uint64][]uint64 // contact digest -> visitor digests
	manual     map[uint64][]manualReferral
}

type manualReferral struct {
	at      time.Time
	partner string
	note    string
}

func newIdentities() *identities {
	return &identities{contactOf: map[uint64]string{}, visitorsOf: map[uint64][]uint64{}, manual: map[uint64][]manualReferral{}}
}

func (id *identities) identify(visitor, contact string) {
	v, c := digest(visitor), digest(contact)
	if id.contactOf[v] == contact {
		return
	}
	id.contactOf[v] = contact
	for _, known := range id.visitorsOf[c] {
		if known == v {
			return
		}
	}
	id.visitorsOf[c] = append(id.visitorsOf[c], v)
}
