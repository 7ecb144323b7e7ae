package ledger

// chunkBits sets how many elements a chunk of a chunked array holds.
const (
	chunkBits = 16
	chunkLen  = 1 << chunkBits
	chunkMask = chunkLen - 1
)

// chunked is a growing array kept in chunks of chunkLen elements, so that
// appending never copies what it holds: at millions of clicks, contiguous
// arrays grown half as large again each time copied everything again and
// again into fresh, faulting pages, and held the old copy and the new one
// at once. Only the first chunk grows (doubling up to chunkLen), so that a
// small state stays small. An element costs its own size and a share of a
// chunk header per chunkLen elements.
type chunked[T any] struct {
	chunks [][]T
	n      int
}

// add appends v.
func (c *chunked[T]) add(v T) {
	last := len(c.chunks) - 1
	switch {
	case last < 0:
		c.chunks = append(c.chunks, make([]T, 0, 64))
		last = 0
	case len(c.chunks[last]) == chunkLen:
		c.chunks = append(c.chunks, make([]T, 0, chunkLen))
		last++
	case len(c.chunks[last]) == cap(c.chunks[last]):
		c.chunks[last] = withCap(c.chunks[last], min(chunkLen, 2*cap(c.chunks[last])))
	}
	c.chunks[last] = append(c.chunks[last], v)
	c.n++
}

// at is element i, which must exist.
func (c *chunked[T]) at(i int32) T { return c.chunks[i>>chunkBits][i&chunkMask] }

// len is the number of elements.
func (c *chunked[T]) len() int { return c.n }

// capacity is the number of elements the chunks have room for.
func (c *chunked[T]) capacity() int {
	n := 0
	for _, ch := range c.chunks {
		n += cap(ch)
	}
	return n
}

// chunkedOf holds s in chunks without copying it (a decoded snapshot's
// array): each chunk is a window of s, and appending past the last copies
// at most that one.
func chunkedOf[T any](s []T) chunked[T] {
	c := chunked[T]{n: len(s)}
	for len(s) > 0 {
		k := min(len(s), chunkLen)
		c.chunks = append(c.chunks, s[:k:k])
		s = s[k:]
	}
	return c
}

// withCap copies s into a new slice of capacity n (≥ len(s)).
func withCap[T any](s []T, n int) []T {
	t := make([]T, len(s), n)
	copy(t, s)
	return t
}
