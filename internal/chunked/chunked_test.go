package chunked

import (
	"bytes"
	"testing"

	"github.com/refledger/refledger/internal/snapshot"
)

// An array holds what was added, in order, across chunks; one made
// from a decoded array goes on growing past it; and a snapshot writes it as
// the same bytes as the contiguous array.
func TestArrayHoldsItsElementsAcrossChunks(t *testing.T) {
	const n = 2*Len + 100
	var c Array[int64]
	for i := range n {
		c.Add(int64(i) * 3)
	}
	if c.Len() != n || len(c.chunks) != 3 {
		t.Fatalf("len %d in %d chunks, want %d in 3", c.Len(), len(c.chunks), n)
	}
	for _, i := range []int{0, 63, 64, Len - 1, Len, 2*Len + 99} {
		if got := c.At(i); got != int64(i)*3 {
			t.Errorf("element %d = %d, want %d", i, got, int64(i)*3)
		}
	}
	for _, ch := range c.chunks {
		if cap(ch) > Len {
			t.Fatalf("a chunk of capacity %d, more than %d", cap(ch), Len)
		}
	}

	flat := make([]int64, n)
	for i := range flat {
		flat[i] = int64(i) * 3
	}
	d := Of(flat)
	for i := range 5 {
		d.Add(int64(n+i) * 3)
	}
	flat = append(flat, int64(n)*3, int64(n+1)*3, int64(n+2)*3, int64(n+3)*3, int64(n+4)*3)
	if d.Len() != len(flat) {
		t.Fatalf("len %d, want %d", d.Len(), len(flat))
	}
	for i := range flat {
		if d.At(i) != flat[i] {
			t.Fatalf("element %d = %d after growing a decoded array, want %d", i, d.At(i), flat[i])
		}
	}

	encode := func(write func(*snapshot.Encoder)) []byte {
		var b bytes.Buffer
		w := snapshot.NewEncoder(&b, "test", 1)
		write(w)
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	chunks := encode(func(w *snapshot.Encoder) { w.Int64s(d.chunks...) })
	contiguous := encode(func(w *snapshot.Encoder) { w.Int64s(flat) })
	if !bytes.Equal(chunks, contiguous) {
		t.Error("an array in chunks is written as other bytes than the contiguous one")
	}
}

// Spare points where an element will be held once added, when the last
// chunk has room for it, and is nil otherwise. (The first chunk moves while
// it grows, so the elements checked are those of a full-sized chunk.)
func TestSparePointsWhereTheElementWillBe(t *testing.T) {
	var c Array[int32]
	if c.Spare(0) != nil {
		t.Fatal("an empty array has spare room")
	}
	const n = Len + 100
	spare := map[int]*int32{}
	for i := range n {
		if i > Len { // the second chunk is made by the Len-th Add
			for _, k := range []int{0, 1, 7} {
				if p := c.Spare(k); p == nil {
					t.Fatalf("no room for element %d in a chunk of %d", i+k, Len)
				} else if i+k < n {
					spare[i+k] = p
				}
			}
		}
		c.Add(int32(i))
	}
	for want, p := range spare {
		if c.Ref(want) != p {
			t.Fatalf("Spare pointed elsewhere than element %d is held", want)
		}
	}
	if c.Spare(-1) != nil || c.Spare(Len) != nil {
		t.Error("room before the end, or past the last chunk")
	}
}
