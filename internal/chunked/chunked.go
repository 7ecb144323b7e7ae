// Package chunked is a growing array kept in chunks of a fixed length, so
// that appending never copies what it holds. At millions of elements a
// contiguous slice grown by append copied everything again and again into
// fresh, faulting pages, and held the old copy and the new one at once:
// the engine keeps its clicks this way, and the ledger view its entries.
//
// Only the first chunk grows (doubling up to Len), so that a small array
// stays small. An element costs its own size and a share of a chunk header
// per Len elements.
//
// chunked imports only the standard library.
package chunked

// Bits sets how many elements a chunk holds: Len, 1<<Bits.
const (
	Bits = 16
	Len  = 1 << Bits
	mask = Len - 1
)

// Array is a growing array of T kept in chunks. The zero Array is empty
// and ready to use. It is not safe for concurrent use.
type Array[T any] struct {
	chunks [][]T
	n      int
}

// Add appends v.
func (a *Array[T]) Add(v T) {
	last := len(a.chunks) - 1
	switch {
	case last < 0:
		a.chunks = append(a.chunks, make([]T, 0, 64))
		last = 0
	case len(a.chunks[last]) == Len:
		a.chunks = append(a.chunks, make([]T, 0, Len))
		last++
	case len(a.chunks[last]) == cap(a.chunks[last]):
		grown := make([]T, len(a.chunks[last]), min(Len, 2*cap(a.chunks[last])))
		copy(grown, a.chunks[last])
		a.chunks[last] = grown
	}
	a.chunks[last] = append(a.chunks[last], v)
	a.n++
}

// At is element i, which must exist.
func (a *Array[T]) At(i int) T { return a.chunks[i>>Bits][i&mask] }

// Ref is where element i, which must exist, is held: good until the next
// Add (an element of a full chunk never moves, but the first chunk moves
// while it grows).
func (a *Array[T]) Ref(i int) *T { return &a.chunks[i>>Bits][i&mask] }

// Spare is where element Len()+k will be held once added, if the last
// chunk already has room for it (else nil): a caller can hint that memory
// into the cache before it writes there.
func (a *Array[T]) Spare(k int) *T {
	if len(a.chunks) == 0 {
		return nil
	}
	last := a.chunks[len(a.chunks)-1]
	if i := len(last) + k; k >= 0 && i < cap(last) {
		return &last[:i+1][i]
	}
	return nil
}

// Len is the number of elements.
func (a *Array[T]) Len() int { return a.n }

// Capacity is the number of elements the chunks have room for.
func (a *Array[T]) Capacity() int {
	n := 0
	for _, ch := range a.chunks {
		n += cap(ch)
	}
	return n
}

// Chunks are the elements in order, a chunk at a time (a snapshot writes
// them as one array). They are the array's own: read them, never write.
func (a *Array[T]) Chunks() [][]T { return a.chunks }

// Of holds s in chunks without copying it (a decoded snapshot's array):
// each chunk is a window of s, and adding past the last copies at most
// that one.
func Of[T any](s []T) Array[T] {
	a := Array[T]{n: len(s)}
	for len(s) > 0 {
		k := min(len(s), Len)
		a.chunks = append(a.chunks, s[:k:k])
		s = s[k:]
	}
	return a
}
