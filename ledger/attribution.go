package ledger

import (
	"cmp"
	"encoding/binary"
	"slices"
	"time"
	"unsafe"

	"github.com/refledger/refledger/internal/chunked"
	"github.com/refledger/refledger/internal/digestmap"
)

// The attribution state keeps every click in one array of 32-byte
// records (click), two to a cache line: the time, the link, the visitor's
// previous click and the click id, inline when it is short. Deciding an
// order walks the buyer's clicks from the latest back, and at ten million
// clicks nearly every step is a cache miss: with the four held in parallel
// arrays a step missed up to five times (the link, time and id each in a
// line of its own), in one record it misses once. Visitors and contacts
// are keyed by a 64-bit digest of their id (digestmap.Digest; a collision
// needs ~4 billion ids to become likely). A click costs its record and a
// share of its visitor's 32-byte slot (recentClicks): about 49 bytes in
// the standard history of 8M clicks by 2M visitors, within the 64-byte
// goal.
type clicks struct {
	all chunked.Array[click]
	ids []byte // the ids too long to hold inline

	byVisitor *digestmap.Map[recentClicks] // visitor digest -> latest clicks
	byContact map[uint64][]int32           // clicks that carried the contact id
}

// recentClicks is a visitor's latest clicks, newest first, each the
// previous click of the one before it; after them noMoreClicks, or
// olderByPrev when older clicks are found by following the oldest held
// click's prev (also past a full array). Deciding an order reads the
// buyer's clicks from the latest back: following prev from the latest
// loaded them one after another, a cache miss each at ten million clicks,
// where the clicks held here load at once. With the key, a visitor's slot
// is 32 bytes.
type recentClicks [recentHeld]int32

const (
	recentHeld         = 6
	noMoreClicks int32 = -1
	olderByPrev  int32 = -2
)

// latestOnly is what a visitor's slot holds when only its latest click is
// known (a restored snapshot keeps only that).
func latestOnly(latest int32) recentClicks {
	return recentClicks{latest, olderByPrev, olderByPrev, olderByPrev, olderByPrev, olderByPrev}
}

// click is one click: 32 bytes.
type click struct {
	// Click time in Unix nanoseconds: attribution compares a click with
	// an order to the nanosecond (CONTRACT §2: a click at 10:00:00.9 is
	// after an order at 10:00:00.5).
	at   int64
	link int32 // link number in the catalog
	prev int32 // previous click of the same visitor, -1 for none
	// id holds the click id's bytes when idLen is at most inlineID, else
	// where it starts in clicks.ids and its length (little-endian 4-byte
	// integers).
	id    [inlineID]byte
	idLen uint8
}

// inlineID is the longest click id a click holds itself; longIDLen marks
// one kept in the arena.
const (
	inlineID  = 15
	longIDLen = 0xff
)

func newClicks() *clicks {
	return &clicks{byVisitor: digestmap.New[recentClicks](0), byContact: map[uint64][]int32{}}
}

// digest is the engine's 64-bit digest of a string (digestmap.Digest).
func digest(s string) uint64 { return digestmap.Digest(s) }

// keyDigest digests a fact key (source, a zero byte, id) without building it.
func keyDigest(source, id string) uint64 {
	return digestmap.Add(digestmap.AddByte(digestmap.Digest(source), 0), id)
}

// len is the number of clicks.
func (c *clicks) len() int { return c.all.Len() }

// get is click i.
func (c *clicks) get(i int32) *click { return c.all.Ref(int(i)) }

// add records a click. It keeps none of the strings it is given (the id is
// copied, the visitor and contact digested): a click's strings may share
// the stored bytes of its commit (events.StoredDecoder.TransientClicks).
func (c *clicks) add(clickID string, at time.Time, link int32, visitor, contact string) {
	i := int32(c.all.Len())
	recent, seen := c.byVisitor.Ref(digest(visitor))
	prev := recent[0]
	if !seen {
		prev = noMoreClicks
		*recent = recentClicks{noMoreClicks, noMoreClicks, noMoreClicks, noMoreClicks, noMoreClicks, noMoreClicks}
	}
	copy(recent[1:], recent[:recentHeld-1])
	recent[0] = i
	k := click{at: at.UnixNano(), link: link, prev: prev}
	setClickID(c, &k, clickID)
	c.all.Add(k)
	if contact != "" {
		k := digest(contact)
		c.byContact[k] = append(c.byContact[k], i)
	}
}

// setClickID gives k the click id: inline, or copied into c's arena.
func setClickID[ID ~string | ~[]byte](c *clicks, k *click, id ID) {
	if len(id) <= inlineID {
		k.idLen = uint8(copy(k.id[:], id))
		return
	}
	if len(c.ids)+len(id) > cap(c.ids) {
		c.growIDs(len(id))
	}
	binary.LittleEndian.PutUint32(k.id[0:], uint32(len(c.ids)))
	binary.LittleEndian.PutUint32(k.id[4:], uint32(len(id)))
	k.idLen = longIDLen
	c.ids = append(c.ids, id...)
}

// growIDs makes the id arena half as large again. append alone grows a
// large slice a quarter at a time, and at millions of clicks copying the
// arena again and again cost more than deciding every order; doubling
// would copy least but could leave half of it unused, and the garbage
// collector counts what is allocated.
func (c *clicks) growIDs(idLen int) {
	grown := make([]byte, len(c.ids), max(16<<10, cap(c.ids)+cap(c.ids)/2, len(c.ids)+idLen))
	copy(grown, c.ids)
	c.ids = grown
}

func (c *clicks) id(i int32) string { return string(c.idBytes(i)) }

// idBytes is click i's id, to be copied, never kept.
func (c *clicks) idBytes(i int32) []byte { return c.idOf(c.get(i)) }

// idOf is k's id, to be copied, never kept.
func (c *clicks) idOf(k *click) []byte {
	if k.idLen != longIDLen {
		return k.id[:k.idLen]
	}
	start := binary.LittleEndian.Uint32(k.id[0:])
	return c.ids[start : start+binary.LittleEndian.Uint32(k.id[4:])]
}

// appendOfVisitor appends the visitor's clicks to out, oldest first.
func (c *clicks) appendOfVisitor(out []int32, visitorDigest uint64) []int32 {
	recent, ok := c.byVisitor.Get(visitorDigest)
	if !ok {
		return out
	}
	start, more := len(out), true // more: older clicks are found by prev
	for _, i := range recent {
		if i < 0 {
			more = i == olderByPrev
			break
		}
		out = append(out, i)
	}
	if more {
		for i := c.get(out[len(out)-1]).prev; i >= 0; i = c.get(i).prev {
			out = append(out, i)
		}
	}
	slices.Reverse(out[start:])
	return out
}

// Bytes estimates the memory the click state holds, for the per-click goal.
func (c *clicks) Bytes() int {
	n := c.all.Capacity()*int(unsafe.Sizeof(click{})) + cap(c.ids)
	n += c.byVisitor.Slots() * (8 + int(unsafe.Sizeof(recentClicks{})))
	for _, l := range c.byContact {
		n += 8 + 24 + cap(l)*4
	}
	return n
}

// identities links visitors (browsers) with contacts (people), each link
// with the time it was first known to hold: an order counts a link only
// from then on, whatever order the facts reached the log in, so an order
// decided again later (a referral that arrived late) sees the links it
// would have seen in time order.
type identities struct {
	contactOf *digestmap.Map[identity] // visitor digest -> contact (the one linked latest)
	// others holds the other contacts of the few visitors identified as
	// more than one (a shared computer, a family tablet).
	others map[uint64][]identity
	// visitorsOf lists a contact's browsers in the order they were
	// identified as it (their time, earliest first).
	visitorsOf *digestmap.Map[[]identified] // contact digest -> visitors
	// many finds a browser in the list of a contact that has more than
	// maxHistoryBrowsers (a placeholder many people share) without a scan.
	many   map[uint64]map[uint64]int64 // contact digest -> visitor digest -> time identified
	manual map[uint64][]manualReferral
}

// prefetch hints the links of a visitor and of a contact (either may be
// empty) that a fact will look up (Engine.Prefetch).
func (i *identities) prefetch(visitor, contact string) {
	if visitor != "" {
		i.contactOf.Prefetch(digest(visitor))
	}
	if contact != "" {
		i.visitorsOf.Prefetch(digest(contact))
	}
}

// identity is a contact a visitor was identified as, and since when (Unix
// nanoseconds); byOrder when only an order that gave both ids said so.
type identity struct {
	contact string
	at      int64
	byOrder bool
	// more marks a visitor's latest link (contactOf) when the visitor has
	// others too: the lookups of others, a map, are then made only for
	// the few that have any.
	more bool
}

// after reports whether identity a is the later of two links of one
// visitor: by time; at one instant an order's link after any other (an
// import appends an instant's identifications before its orders), then by
// contact id, so that which came first in the log never decides it.
func (a identity) after(b identity) bool {
	switch {
	case a.at != b.at:
		return a.at > b.at
	case a.byOrder != b.byOrder:
		return a.byOrder
	}
	return a.contact > b.contact
}

// countsFor reports whether the link counts for an order at time at: one
// that only an order made counts for the orders after that one.
func (a identity) countsFor(at int64) bool { return a.at < at || a.at == at && !a.byOrder }

// identified is a visitor identified as a contact, and since when;
// byOrder when only an order that gave both ids said so (it does not count
// for that order itself, which was decided before it identified anyone).
type identified struct {
	visitor uint64
	at      int64
	byOrder bool
}

type manualReferral struct {
	at      time.Time
	partner string
	note    string
}

func newIdentities() *identities {
	return &identities{
		contactOf: digestmap.New[identity](0), others: map[uint64][]identity{},
		visitorsOf: digestmap.New[[]identified](0), many: map[uint64]map[uint64]int64{}, manual: map[uint64][]manualReferral{},
	}
}

// identify links visitor and contact from time at, said by an order when
// byOrder. A link already known keeps its earliest time (and counts as
// any identification's once one says so at that time); of a visitor's
// links, the latest (identity.after) is its contactOf, and the others are
// kept beside it.
func (id *identities) identify(visitor, contact string, at time.Time, byOrder bool) {
	v, nanos := digest(visitor), at.UnixNano()
	link := identity{contact: contact, at: nanos, byOrder: byOrder}
	latest, held := id.contactOf.Ref(v)
	switch {
	case !held:
		*latest = link
	case latest.contact == contact && !latest.more: // the usual case: the one link, said again
		*latest = merged(*latest, link)
	default:
		var links []identity
		if latest.more {
			links = id.others[v]
		}
		was := *latest
		was.more = false
		links = append(links, was)
		if i := slices.IndexFunc(links, func(l identity) bool { return l.contact == contact }); i >= 0 {
			link = merged(links[i], link)
			links = slices.Delete(links, i, i+1)
		}
		links = append(links, link)
		newest := 0
		for i := range links {
			if links[i].after(links[newest]) {
				newest = i
			}
		}
		*latest = links[newest]
		if others := slices.Delete(links, newest, newest+1); len(others) > 0 {
			id.others[v] = others
			latest.more = true
		} else {
			delete(id.others, v)
		}
	}
	k := digest(contact)
	visitors, _ := id.visitorsOf.Ref(k)
	if was, known := id.identifiedAt(k, *visitors, v); known {
		switch {
		case was < nanos:
			return
		case was == nanos:
			if i := findBrowser(*visitors, v, was); i >= 0 {
				(*visitors)[i].byOrder = (*visitors)[i].byOrder && byOrder
			}
			return
		}
		i := findBrowser(*visitors, v, was)
		*visitors = slices.Delete(*visitors, i, i+1)
	}
	*visitors = insertBrowser(*visitors, identified{visitor: v, at: nanos, byOrder: byOrder})
	if len(*visitors) > maxHistoryBrowsers { // many holds the contacts with more (and only those)
		if m := id.many[k]; m != nil {
			m[v] = nanos
		} else {
			id.indexMany(k, *visitors)
		}
	}
}

// merged is one link said twice: from the earlier time, and by an order
// only if at that time only orders said so.
func merged(a, b identity) identity {
	switch {
	case a.at < b.at:
		return a
	case b.at < a.at:
		return b
	}
	a.byOrder = a.byOrder && b.byOrder
	return a
}

// identifiedAt is when visitor v was identified as contact k, whose
// browsers are visitors.
func (id *identities) identifiedAt(k uint64, visitors []identified, v uint64) (int64, bool) {
	if len(visitors) > maxHistoryBrowsers {
		at, ok := id.many[k][v]
		return at, ok
	}
	for _, b := range visitors {
		if b.visitor == v {
			return b.at, true
		}
	}
	return 0, false
}

// indexMany indexes the browsers of contact k, now that it has many.
func (id *identities) indexMany(k uint64, visitors []identified) {
	m := make(map[uint64]int64, len(visitors))
	for _, b := range visitors {
		m[b.visitor] = b.at
	}
	id.many[k] = m
}

// insertBrowser puts b in its place by time (after those of its time): at
// the end, nearly always.
func insertBrowser(list []identified, b identified) []identified {
	i := len(list)
	if i > 0 && list[i-1].at > b.at {
		i, _ = slices.BinarySearchFunc(list, b.at+1, func(e identified, at int64) int { return cmp.Compare(e.at, at) })
	}
	return slices.Insert(list, i, b)
}

// findBrowser is the index of visitor v, identified at time at, in list,
// which holds it.
func findBrowser(list []identified, v uint64, at int64) int {
	i, _ := slices.BinarySearchFunc(list, at, func(e identified, at int64) int { return cmp.Compare(e.at, at) })
	for ; i < len(list) && list[i].at == at; i++ {
		if list[i].visitor == v {
			return i
		}
	}
	panic("ledger: a contact's browser list lost a browser its index holds") // our bug, not the input's
}

// maxHistoryBrowsers bounds the browsers whose clicks make up a contact's
// referral history for one order: a person has a few, and a contact id
// that thousands of browsers share (a "guest" placeholder a checkout
// sends) would otherwise have every order of it weigh every click of all
// of them.
const maxHistoryBrowsers = 64

// browsersBefore is the browsers identified as contact by time at (Unix
// nanoseconds), for an order then: a browser identified after the order
// was not the buyer's yet, and one that only an order identified counts
// for the orders after that one, not for it nor for others of its instant
// (an order is decided before it identifies anyone). At most
// maxHistoryBrowsers of them, those identified last, and how many it left
// out. The list may be the state's: read it, never change it.
func (id *identities) browsersBefore(contact uint64, at int64) ([]identified, int) {
	visitors, _ := id.visitorsOf.Get(contact)
	end, _ := slices.BinarySearchFunc(visitors, at+1, func(e identified, at int64) int { return cmp.Compare(e.at, at) })
	list := visitors[:end]
	for i := end - 1; i >= 0 && list[i].at == at; i-- {
		if list[i].byOrder {
			if len(list) == end {
				list = slices.Clone(list) // rare: an order of the same instant identified it
			}
			list = slices.Delete(list, i, i+1)
		}
	}
	start := max(0, len(list)-maxHistoryBrowsers)
	return list[start:], start
}

// contactAt is the contact a visitor was identified as last (in
// identity.after's order) among the links that count for an order at time
// at (Unix nanoseconds), or "".
func (id *identities) contactAt(visitor string, at int64) string {
	if visitor == "" {
		return ""
	}
	v := digest(visitor)
	latest, ok := id.contactOf.Get(v)
	if !ok {
		return ""
	}
	var best identity
	if latest.countsFor(at) {
		best = latest
	}
	if !latest.more {
		return best.contact
	}
	for _, l := range id.others[v] {
		if l.countsFor(at) && (best.contact == "" || l.after(best)) {
			best = l
		}
	}
	return best.contact
}

// eachContact calls fn with every contact a visitor was identified as.
func (id *identities) eachContact(visitor uint64, fn func(contact string)) {
	latest, ok := id.contactOf.Get(visitor)
	if !ok {
		return
	}
	fn(latest.contact)
	if !latest.more {
		return
	}
	for _, o := range id.others[visitor] {
		fn(o.contact)
	}
}
