// Package digestmap is a map keyed by 64-bit digests, held in one flat
// array of slots probed linearly. The engine keeps millions of visitors,
// contacts, orders and facts by digest, and looks one up for nearly every
// fact it folds; at that size a lookup is a cache miss. A Go map's group
// of eight slots spans several cache lines (its control word on one, the
// slot on another), where a slot here holds the key and its value side by
// side (16 bytes for 4- and 8-byte values): in a benchmark of 2M keys
// under cache pressure, a lookup and update cost 230 ns against a Go map's
// 435.
//
// Keys are digests, so they are taken as well spread; a multiplicative
// hash spreads them further. There is no deletion: the engine never
// forgets a visitor or a fact. The package also holds the digest itself.
//
// digestmap imports only the standard library and internal/prefetch.
package digestmap

import (
	"cmp"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/refledger/refledger/internal/prefetch"
)

// Map maps uint64 keys to values of type V. The zero Map is empty and
// ready to use. It is not safe for concurrent use.
type Map[V any] struct {
	slots []slot[V] // a power of two long, or nil; key 0 marks a free slot
	used  int       // slots in use
	shift uint      // 64 - log2(len(slots))
	// Key 0 cannot be kept in a slot, so it is kept here.
	zero    V
	hasZero bool
}

type slot[V any] struct {
	key   uint64
	value V
}

// minSlots is the smallest table a map allocates.
const minSlots = 16

// New returns a map with room for n keys before it grows.
func New[V any](n int) *Map[V] {
	m := &Map[V]{}
	if n > 0 {
		m.resize(slotsFor(n))
	}
	return m
}

// slotsFor is the table length that holds n keys at most three quarters full.
func slotsFor(n int) int {
	size := minSlots
	for size/4*3 < n {
		size <<= 1
	}
	return size
}

// Len is the number of keys held.
func (m *Map[V]) Len() int {
	if m.hasZero {
		return m.used + 1
	}
	return m.used
}

// Get returns the value of key k, if it is held.
func (m *Map[V]) Get(k uint64) (V, bool) {
	if k == 0 {
		return m.zero, m.hasZero
	}
	if m.slots == nil {
		var none V
		return none, false
	}
	s := m.find(k)
	return s.value, s.key == k
}

// Put sets the value of key k.
func (m *Map[V]) Put(k uint64, v V) {
	p, _ := m.Ref(k)
	*p = v
}

// Ref returns where the value of key k is held, adding the key with the
// zero value when it is not held yet, and whether it was held. The
// pointer is good until the next Put or Ref.
func (m *Map[V]) Ref(k uint64) (*V, bool) {
	if k == 0 {
		held := m.hasZero
		m.hasZero = true
		return &m.zero, held
	}
	if (m.used+1)*4 > len(m.slots)*3 {
		m.resize(max(minSlots, 2*len(m.slots)))
	}
	s := m.find(k)
	if s.key == k {
		return &s.value, true
	}
	s.key = k
	m.used++
	return &s.value, false
}

// Prefetch starts bringing the slot of key k into the cache, so that a
// lookup of k a little later finds it there: a caller that knows the keys
// it will look up next overlaps their cache misses instead of taking them
// one after another. It changes nothing and returns at once.
func (m *Map[V]) Prefetch(k uint64) {
	if len(m.slots) > 0 {
		prefetch.Line(unsafe.Pointer(&m.slots[(k*0x9E3779B97F4A7C15)>>m.shift]))
	}
}

// find returns the slot holding k, or the free slot where k would go.
func (m *Map[V]) find(k uint64) *slot[V] {
	mask := uint64(len(m.slots) - 1)
	for i := (k * 0x9E3779B97F4A7C15) >> m.shift; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.key == k || s.key == 0 {
			return s
		}
	}
}

func (m *Map[V]) resize(size int) {
	old := m.slots
	m.slots, m.shift = make([]slot[V], size), uint(64-log2(size))
	for _, s := range old {
		if s.key != 0 {
			*m.find(s.key) = s
		}
	}
}

func log2(n int) int {
	b := 0
	for 1<<b < n {
		b++
	}
	return b
}

// Sorted returns the keys in increasing order and their values, as a
// snapshot writes them: the same map always gives the same bytes.
//
// Keys are digests, spread evenly, so one counting pass on their top bits
// puts each in a bucket of a few, and sorting the buckets is cheap: a
// comparison sort of the ten million fact keys of a large engine took most
// of a second of the writer's snapshot pause. Keys that crowd into a few
// buckets still come out sorted, only more slowly.
func (m *Map[V]) Sorted() ([]uint64, []V) {
	n := m.Len()
	bits := min(max(log2(n)-3, 1), 20) // about eight keys a bucket, at most a million buckets
	shift := uint(64 - bits)
	starts := make([]int, 1<<bits+1)
	if m.hasZero {
		starts[1]++
	}
	for _, s := range m.slots {
		if s.key != 0 {
			starts[s.key>>shift+1]++
		}
	}
	for i := 1; i < len(starts); i++ {
		starts[i] += starts[i-1]
	}
	pairs := make([]slot[V], n)
	next := slices.Clone(starts[:len(starts)-1]) // where each bucket's next key goes
	if m.hasZero {
		pairs[next[0]] = slot[V]{0, m.zero}
		next[0]++
	}
	for _, s := range m.slots {
		if s.key != 0 {
			b := s.key >> shift
			pairs[next[b]] = s
			next[b]++
		}
	}
	byKey := func(a, b slot[V]) int { return cmp.Compare(a.key, b.key) }
	for b := range next {
		if bucket := pairs[starts[b]:starts[b+1]]; len(bucket) > 1 {
			slices.SortFunc(bucket, byKey)
		}
	}
	keys, values := make([]uint64, n), make([]V, n)
	for i, p := range pairs {
		keys[i], values[i] = p.key, p.value
	}
	return keys, values
}

// Slots is the number of slots the map holds, for estimates of its size.
func (m *Map[V]) Slots() int { return len(m.slots) }

// The digest the engine and the click history key visitors, contacts and
// fact keys by. Snapshots hold digests, so it never changes without the
// versions of the writer's and the read models' snapshots changing too
// (TestDigestKeepsItsValues pins it). It takes eight bytes at a time, each
// word folded into the state by a 64×64→128-bit multiply whose halves are
// xored (as wyhash mixes). FNV-1a, which it replaced, takes a multiply per
// byte, one after another: a 36-byte id (a UUID, as cookies often are)
// cost it 31 ns against 8.6 here; ids of five to eight bytes, as in the
// synthetic history, cost 3 to 5 ns either way. Digest(s) is the digest of s;
// Add extends a digest h with s (its length included, so that "ab" then
// "c" and "a" then "bc" differ), and AddByte with one byte, so that a key
// of several parts is digested without building it.
const (
	Offset = 14695981039346656037 // the state every digest starts from
	k1     = 0xa0761d6478bd642f
	k2     = 0xe7037ed1a0b428db
	k3     = 0x8ebc6af09c88c6e3
)

// Digest is the digest of s.
func Digest(s string) uint64 { return Add(Offset, s) }

// Add extends digest h with the bytes of s: a word at a time, then the
// last one to eight bytes as one word (read overlapping, as wyhash does),
// with the length. Ids of up to eight bytes take one multiply.
func Add(h uint64, s string) uint64 {
	if len(s) > 8 {
		return addLong(h, s)
	}
	return mix(last(s)^k1, h^k3^uint64(len(s)))
}

// addLong is Add for strings longer than eight bytes.
func addLong(h uint64, s string) uint64 {
	n := uint64(len(s))
	for ; len(s) > 8; s = s[8:] {
		h = mix(word(s)^k1, h^k2)
	}
	return mix(last(s)^k1, h^k3^n)
}

// last is a word of the last one to eight bytes of a string, s: with its
// length, it tells them apart.
func last(s string) uint64 {
	switch {
	case len(s) == 8:
		return word(s)
	case len(s) >= 4:
		return uint64(half(s)) | uint64(half(s[len(s)-4:]))<<32
	case len(s) > 0:
		return uint64(s[0])<<16 | uint64(s[len(s)>>1])<<8 | uint64(s[len(s)-1])
	}
	return 0
}

// AddByte extends digest h with byte b.
func AddByte(h uint64, b byte) uint64 { return mix(uint64(b)^k3, h^k2) }

// mix folds a and b into one word: the two halves of their 128-bit
// product, xored.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// half is the first four bytes of s, little-endian.
func half(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// word is the first eight bytes of s, little-endian.
func word(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// Index numbers the items a caller keeps in a list, found by key: a Map
// of the keys' digests gives the position of the first key with each
// digest, and a key whose digest an earlier key holds is kept in overflow,
// so every key finds its own item however digests collide. The caller
// digests its keys and says which key is at a position.
type Index[K comparable] struct {
	digests  Map[int32]
	overflow map[K]int32
}

// NewIndex returns an index with room for n keys.
func NewIndex[K comparable](n int) Index[K] { return Index[K]{digests: *New[int32](n)} }

// Prefetch starts bringing the slot of digest d into the cache (Map.Prefetch).
func (x *Index[K]) Prefetch(d uint64) { x.digests.Prefetch(d) }

// Find returns the position of key k, whose digest is d.
func (x *Index[K]) Find(k K, d uint64, keyAt func(int32) K) (int32, bool) {
	i, ok := x.digests.Get(d)
	if !ok {
		return 0, false
	}
	if keyAt(i) == k {
		return i, true
	}
	i, ok = x.overflow[k]
	return i, ok
}

// FindOrAdd returns the position of key k, whose digest is d, and true; or,
// when the index does not hold k, records it at position next and returns
// next and false.
func (x *Index[K]) FindOrAdd(k K, d uint64, keyAt func(int32) K, next int32) (int32, bool) {
	slot, held := x.digests.Ref(d)
	if !held {
		*slot = next
		return next, false
	}
	if keyAt(*slot) == k {
		return *slot, true
	}
	if i, ok := x.overflow[k]; ok {
		return i, true
	}
	if x.overflow == nil {
		x.overflow = map[K]int32{}
	}
	x.overflow[k] = next
	return next, false
}
