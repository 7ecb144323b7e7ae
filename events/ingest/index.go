package ingest

import (
	"hash/maphash"

	"github.com/refledger/refledger/events/store"
)

// Index remembers every fact key in the log with a digest of its canonical
// payload, in 24 bytes of map entry per fact. Digests use a per-process seed:
// the index is rebuilt from the log at start, never stored.
type Index struct {
	seedA, seedB maphash.Seed
	seen         map[keyDigest]entry
}

type keyDigest [2]uint64

type entry struct {
	payload  uint64
	position store.Position
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{seedA: maphash.MakeSeed(), seedB: maphash.MakeSeed(), seen: map[keyDigest]entry{}}
}

func (x *Index) key(k string) keyDigest {
	return keyDigest{maphash.String(x.seedA, k), maphash.String(x.seedB, k)}
}

func (x *Index) payload(b []byte) uint64 { return maphash.Bytes(x.seedA, b) }

// lookup returns the entry for a key, if the key was seen.
func (x *Index) lookup(key string) (entry, bool) {
	e, ok := x.seen[x.key(key)]
	return e, ok
}

// add records a stored fact: its key and canonical bytes.
func (x *Index) add(key string, canonical []byte, pos store.Position) {
	x.seen[x.key(key)] = entry{payload: x.payload(canonical), position: pos}
}
