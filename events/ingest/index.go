package ingest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"
)

// Index remembers every fact key in the log with a digest of its stored
// payload and its position: 32 bytes per fact in a flat open-addressing
// table, which saves and loads as a snapshot without rehashing anything.
//
// Digests are keyed: a CBC-MAC under AES with a random key, over the
// length and then the bytes (length first makes the messages prefix-free,
// which is what makes CBC-MAC a pseudo-random function). Nobody without the
// key can make two keys collide on purpose, and the key travels with the
// index's snapshot, so a loaded index digests as the one that was saved.
type Index struct {
	key   [16]byte
	block cipher.Block
	slots []slot // a power of two long; linear probing
	used  int
}

type slot struct {
	k0, k1   uint64 // the key's digest; k1's lowest bit is set in every used slot
	payload  uint64
	position store.Position
}

type entry struct {
	payload  uint64
	position store.Position
}

// NewIndex returns an empty index with a fresh random key.
func NewIndex() *Index {
	var key [16]byte
	if _, err := rand.Read(key[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return newIndexWithKey(key, 1<<10)
}

func newIndexWithKey(key [16]byte, size int) *Index {
	n := 1 << 10
	for n < size {
		n <<= 1
	}
	return &Index{key: key, block: newDigestCipher(key), slots: make([]slot, n)}
}

func newDigestCipher(key [16]byte) cipher.Block {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 16-byte key is always valid
	}
	return block
}

// sum is the keyed 128-bit digest of b.
func sum[T string | []byte](x *Index, b T) (uint64, uint64) {
	var st [16]byte
	binary.LittleEndian.PutUint64(st[:8], uint64(len(b)))
	x.block.Encrypt(st[:], st[:])
	for i := 0; i < len(b); i += 16 {
		for j := 0; j < 16 && i+j < len(b); j++ {
			st[j] ^= b[i+j]
		}
		x.block.Encrypt(st[:], st[:])
	}
	return binary.LittleEndian.Uint64(st[:8]), binary.LittleEndian.Uint64(st[8:])
}

// sum2 is sum of a followed by b, without joining them.
func sum2(x *Index, a, b []byte) (uint64, uint64) {
	if len(b) == 0 {
		return sum(x, a)
	}
	var st [16]byte
	n := len(a) + len(b)
	binary.LittleEndian.PutUint64(st[:8], uint64(n))
	x.block.Encrypt(st[:], st[:])
	for i := 0; i < n; i += 16 {
		for j := 0; j < 16 && i+j < n; j++ {
			if k := i + j; k < len(a) {
				st[j] ^= a[k]
			} else {
				st[j] ^= b[k-len(a)]
			}
		}
		x.block.Encrypt(st[:], st[:])
	}
	return binary.LittleEndian.Uint64(st[:8]), binary.LittleEndian.Uint64(st[8:])
}

func (x *Index) keyDigest(key string) (uint64, uint64) {
	k0, k1 := sum(x, key)
	return k0, k1 | 1
}

// payload is the digest of what a stored fact says: its content
// (events.StoredContent), never its arrival, so that the same fact sent
// again later is a duplicate. The content is a version 1 stored fact's
// bytes whatever the version, so digests taken before arrivals were
// stored (and kept in index snapshots) still match.
func (x *Index) payload(stored []byte) uint64 {
	head, rest := events.StoredContent(stored)
	p, _ := sum2(x, head, rest)
	return p
}

// find returns the slot of a key digest: the used one holding it, or the
// empty one where it would go.
func (x *Index) find(k0, k1 uint64) *slot {
	mask := uint64(len(x.slots) - 1)
	for i := k0 & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.k1 == 0 || (s.k0 == k0 && s.k1 == k1) {
			return s
		}
	}
}

// lookup returns the entry for a key, if the key was seen.
func (x *Index) lookup(key string) (entry, bool) {
	s := x.find(x.keyDigest(key))
	return entry{payload: s.payload, position: s.position}, s.k1 != 0
}

// add records a stored fact: its key and stored bytes.
func (x *Index) add(key string, stored []byte, pos store.Position) {
	k0, k1 := x.keyDigest(key)
	x.put(slot{k0: k0, k1: k1, payload: x.payload(stored), position: pos})
}

func (x *Index) put(s slot) {
	if (x.used+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	at := x.find(s.k0, s.k1)
	if at.k1 == 0 {
		x.used++
	}
	*at = s
}

func (x *Index) grow() {
	old := x.slots
	x.slots, x.used = make([]slot, 2*len(old)), 0
	for _, s := range old {
		if s.k1 != 0 {
			*x.find(s.k0, s.k1) = s
			x.used++
		}
	}
}
