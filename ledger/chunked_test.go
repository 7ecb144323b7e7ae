package ledger

import (
	"bytes"
	"testing"

	"github.com/refledger/refledger/internal/snapshot"
)

// A chunked array holds what was added, in order, across chunks; one made
// from a decoded array goes on growing past it; and a snapshot writes it as
// the same bytes as the contiguous array.
func TestChunkedHoldsItsElementsAcrossChunks(t *testing.T) {
	const n = 2*chunkLen + 100
	var c chunked[int64]
	for i := range n {
		c.add(int64(i) * 3)
	}
	if c.len() != n || len(c.chunks) != 3 {
		t.Fatalf("len %d in %d chunks, want %d in 3", c.len(), len(c.chunks), n)
	}
	for _, i := range []int32{0, 63, 64, chunkLen - 1, chunkLen, 2*chunkLen + 99} {
		if got := c.at(i); got != int64(i)*3 {
			t.Errorf("element %d = %d, want %d", i, got, int64(i)*3)
		}
	}
	for _, ch := range c.chunks {
		if cap(ch) > chunkLen {
			t.Fatalf("a chunk of capacity %d, more than %d", cap(ch), chunkLen)
		}
	}

	flat := make([]int64, n)
	for i := range flat {
		flat[i] = int64(i) * 3
	}
	d := chunkedOf(flat)
	for i := range 5 {
		d.add(int64(n+i) * 3)
	}
	flat = append(flat, int64(n)*3, int64(n+1)*3, int64(n+2)*3, int64(n+3)*3, int64(n+4)*3)
	if d.len() != len(flat) {
		t.Fatalf("len %d, want %d", d.len(), len(flat))
	}
	for i := range flat {
		if d.at(int32(i)) != flat[i] {
			t.Fatalf("element %d = %d after growing a decoded array, want %d", i, d.at(int32(i)), flat[i])
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
		t.Error("a chunked array is written as other bytes than the contiguous one")
	}
}
