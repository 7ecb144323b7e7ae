package digestmap

import (
	"cmp"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
)

// The map agrees with a Go map over random keys, key 0 and keys that land
// on the same slot included, through growth from empty and from a sized
// start, with hints (Prefetch) of any key between the calls, and lists
// its pairs in key order.
func TestMapAgreesWithAGoMap(t *testing.T) {
	var empty Map[int32]
	empty.Prefetch(42) // an empty map has no slots to hint
	empty.Prefetch(0)
	for _, start := range []*Map[int32]{{}, New[int32](10), New[int32](5000)} {
		m, want := start, map[uint64]int32{}
		r := rand.New(rand.NewSource(1))
		keys := []uint64{0, 1, 1 << 63, ^uint64(0)}
		for range 3000 {
			keys = append(keys, r.Uint64())
		}
		for i := range 200 { // neighbours: equal high bits, one probe chain
			keys = append(keys, uint64(i)<<1)
		}
		hints := rand.New(rand.NewSource(2))
		for i := range 20000 {
			// A hint of any key, held or not, must change nothing.
			m.Prefetch(keys[hints.Intn(len(keys))])
			k := keys[r.Intn(len(keys))]
			if i%3 == 0 {
				got, ok := m.Get(k)
				if w, wok := want[k]; got != w || ok != wok {
					t.Fatalf("Get(%d) = %d, %v; want %d, %v", k, got, ok, w, wok)
				}
				continue
			}
			p, held := m.Ref(k)
			if _, wasHeld := want[k]; held != wasHeld {
				t.Fatalf("Ref(%d) said held %v, want %v", k, held, wasHeld)
			}
			*p += int32(i)
			want[k] += int32(i)
		}
		if m.Len() != len(want) {
			t.Fatalf("Len %d, want %d", m.Len(), len(want))
		}
		keysOut, values := m.Sorted()
		if !slices.IsSorted(keysOut) || len(keysOut) != len(want) {
			t.Fatalf("Sorted gave %d keys, sorted: %v", len(keysOut), slices.IsSorted(keysOut))
		}
		for i, k := range keysOut {
			if values[i] != want[k] {
				t.Fatalf("Sorted: key %d has %d, want %d", k, values[i], want[k])
			}
		}
		if m.Slots() < m.Len()*4/3 {
			t.Fatalf("%d slots for %d keys: fuller than three quarters", m.Slots(), m.Len())
		}
	}
}

func TestNewSizesForItsKeys(t *testing.T) {
	m := New[uint64](1000)
	slots := m.Slots()
	for k := uint64(1); k <= 1000; k++ {
		m.Put(k, k)
	}
	if m.Slots() != slots {
		t.Errorf("a map sized for 1000 keys grew from %d to %d slots holding them", slots, m.Slots())
	}
	if v, ok := m.Get(1000); !ok || v != 1000 {
		t.Errorf("Get(1000) = %d, %v", v, ok)
	}
}

// The digests of these strings are pinned: the writer's snapshots hold
// digests, so a change here must come with a new snapshot version.
func TestDigestKeepsItsValues(t *testing.T) {
	for _, c := range []struct {
		s    string
		want uint64
	}{
		{"", 0x7963dcac9e595991},
		{"a", 0xfd44adcebb8dcc09},
		{"v-laptop", 0x687e870d3a07b8ec},
		{"checkout\x00evt-0001", 0x9a667fb6e08feeb},
		{"3f2504e0-4f89-11d3-9a0c-0305e82c3301", 0x9f1754ee3eae46b6},
	} {
		if got := Digest(c.s); got != c.want {
			t.Errorf("Digest(%q) = %#x, want %#x", c.s, got, c.want)
		}
	}
	if got := Add(AddByte(Digest("checkout"), 0), "evt-0001"); got != 0x198476c22011df92 {
		t.Errorf("Add(AddByte(Digest(checkout), 0), evt-0001) = %#x", got)
	}
}

// Strings that differ by one byte anywhere, by trailing zero bytes, or
// only by where a key of two parts is split, get different digests.
func TestDigestTellsApartNearStrings(t *testing.T) {
	seen := map[uint64]string{}
	add := func(s string, h uint64) {
		if other, ok := seen[h]; ok {
			t.Fatalf("%q and %q share digest %#x", s, other, h)
		}
		seen[h] = s
	}
	base := []byte("0123456789abcdefghijklmnopqrstuvwxyz0123")
	for n := 0; n <= len(base); n++ {
		add(string(base[:n]), Digest(string(base[:n])))
		for i := 0; i < n; i++ {
			b := append([]byte(nil), base[:n]...)
			b[i] ^= 1
			add(string(b), Digest(string(b)))
		}
	}
	for _, s := range []string{"\x00", "\x00\x00", "a\x00", "a\x00\x00\x00\x00\x00\x00\x00", "a\x00\x00\x00\x00\x00\x00\x00\x00"} {
		add(s, Digest(s))
	}
	parts := map[uint64]string{}
	for _, split := range []string{"ab|c", "a|bc", "|abc", "abc|"} {
		i := strings.Index(split, "|")
		h := Add(AddByte(Digest(split[:i]), 0), split[i+1:])
		if other, ok := parts[h]; ok {
			t.Errorf("keys %q and %q share digest %#x", split, other, h)
		}
		parts[h] = split
	}
}

// A million ids of one pattern spread evenly over the top bits, which a
// map's slot comes from: no bucket of 1,024 holds a fifth more than its
// share (a fair spread's largest is about 10% over).
func TestDigestSpreadsIds(t *testing.T) {
	const n, buckets = 1 << 20, 1 << 10
	var count [buckets]int
	for i := range n {
		count[Digest(fmt.Sprintf("v%d", i))>>54]++
	}
	for b, c := range count {
		if c > n/buckets*6/5 {
			t.Fatalf("bucket %d holds %d digests of %d, over a fifth more than its share", b, c, n)
		}
	}
}

// Every key finds its own position, however digests collide: here every
// key has the same digest but one.
func TestIndexTellsApartKeysSharingADigest(t *testing.T) {
	var list []string
	keyAt := func(i int32) string { return list[i] }
	digestOf := func(k string) uint64 {
		if k == "lone" {
			return 1
		}
		return 7
	}
	x := NewIndex[string](0)
	for _, k := range []string{"a", "b", "lone", "c", "b"} {
		i, held := x.FindOrAdd(k, digestOf(k), keyAt, int32(len(list)))
		if !held {
			list = append(list, k)
		}
		if list[i] != k {
			t.Fatalf("FindOrAdd(%s) gave position %d, which holds %s", k, i, list[i])
		}
	}
	if len(list) != 4 {
		t.Fatalf("%d keys listed, want 4: %v", len(list), list)
	}
	for want, k := range list {
		if i, ok := x.Find(k, digestOf(k), keyAt); !ok || int(i) != want {
			t.Errorf("Find(%s) = %d, %v; want %d", k, i, ok, want)
		}
	}
	if _, ok := x.Find("d", 7, keyAt); ok {
		t.Error("a key never added, sharing a held digest, was found")
	}
	if _, ok := x.Find("e", 9, keyAt); ok {
		t.Error("a key never added was found")
	}
}

func TestSortedEdges(t *testing.T) {
	var empty Map[int]
	if k, v := empty.Sorted(); len(k) != 0 || len(v) != 0 {
		t.Errorf("empty map: %v %v", k, v)
	}
	var zero Map[int]
	zero.Put(0, 7)
	if k, v := zero.Sorted(); !slices.Equal(k, []uint64{0}) || !slices.Equal(v, []int{7}) {
		t.Errorf("key 0 alone: %v %v", k, v)
	}
}

// BenchmarkSorted lists a million digests' pairs in key order, and as the
// baseline in the same run, sorts the same pairs with one comparison sort.
func BenchmarkSorted(b *testing.B) {
	m := New[int32](1 << 20)
	r := rand.New(rand.NewSource(1))
	for i := range 1 << 20 {
		m.Put(r.Uint64(), int32(i))
	}
	b.Run("buckets", func(b *testing.B) {
		for range b.N {
			m.Sorted()
		}
	})
	b.Run("comparison-sort", func(b *testing.B) {
		for range b.N {
			pairs := make([]slot[int32], 0, m.Len())
			for _, s := range m.slots {
				if s.key != 0 {
					pairs = append(pairs, s)
				}
			}
			slices.SortFunc(pairs, func(a, b slot[int32]) int { return cmp.Compare(a.key, b.key) })
		}
	})
}
