package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/internal/snapshot"
)

const (
	indexSnapshotKind    = "refledger.ingest-index"
	indexSnapshotVersion = 2
	// indexChunk is how many slots go in one fixed-width run of the file.
	indexChunk = 8192
)

// WriteSnapshot saves the index and the fact-log head it covers to path,
// atomically. It must not run beside Submit: call it from the goroutine
// that submits.
func (in *Ingester) WriteSnapshot(ctx context.Context, path string) error {
	id, err := store.CommitIDAt(ctx, in.log, in.head)
	if err != nil {
		return err
	}
	x := in.index
	return snapshot.WriteFile(path, indexSnapshotKind, indexSnapshotVersion, func(e *snapshot.Encoder) {
		e.Uvarint(in.head)
		e.String(id)
		e.Bytes(x.key[:])
		e.Uvarint(uint64(x.used))
		e.Uvarint(uint64(len(x.slots)))
		// Each used slot with its number: loading puts every entry back
		// where it was, with no hashing and no probing.
		run := make([]uint64, 0, 5*indexChunk)
		for i, s := range x.slots {
			if s.k1 == 0 {
				continue
			}
			run = append(run, uint64(i), s.k0, s.k1, s.payload, s.position)
			if len(run) == cap(run) {
				e.Uint64s(run)
				run = run[:0]
			}
		}
		if len(run) > 0 {
			e.Uint64s(run)
		}
		e.Uint64s(nil) // the end
	})
}

// OpenFrom opens an ingester from the index snapshot at path, then reads
// only the facts appended since it was taken. Without a usable snapshot
// (none yet, a damaged one, another log's) it reads the whole log as Open
// does; reason then says why.
func OpenFrom(ctx context.Context, log store.Log, path string) (in *Ingester, reason error, err error) {
	in, reason = openFrom(ctx, log, path)
	if reason == nil {
		if err := in.catchUp(ctx); err != nil {
			return nil, nil, err
		}
		return in, nil, nil
	}
	if ctx.Err() != nil {
		return nil, reason, ctx.Err()
	}
	in, err = Open(ctx, log)
	if in != nil {
		in.rebuilt = true
	}
	return in, reason, err
}

// Rebuilt reports whether the index was rebuilt from the whole log rather
// than loaded from a snapshot.
func (in *Ingester) Rebuilt() bool { return in.rebuilt }

func openFrom(ctx context.Context, log store.Log, path string) (*Ingester, error) {
	in := &Ingester{log: log}
	var id string
	err := snapshot.ReadFile(path, indexSnapshotKind, indexSnapshotVersion, func(r *snapshot.Decoder) error {
		in.head, id, in.index = decodeIndex(r)
		return r.Err()
	})
	if err != nil {
		return nil, err
	}
	got, err := store.CommitIDAt(ctx, log, in.head)
	switch {
	case errors.Is(err, store.ErrNoCommit):
		return nil, fmt.Errorf("%w: %v (another store?)", snapshot.ErrUnusable, err)
	case err != nil:
		return nil, err
	case got != id:
		return nil, fmt.Errorf("%w: the commit at %d is %q, the snapshot's was %q (another store?)", snapshot.ErrUnusable, in.head, got, id)
	}
	return in, nil
}

// decodeIndex reads an index snapshot's body: the fact-log head it covers,
// the id of the commit there, and the index (nil when the decoder failed
// early; check the decoder's error).
func decodeIndex(r *snapshot.Decoder) (head store.Position, id string, x *Index) {
	head, id = r.Uvarint(), r.String()
	key := r.Bytes()
	used, size := r.Count(40), r.Uvarint()
	if len(key) != 16 {
		r.Fail("index key of %d bytes, want 16", len(key))
		return head, id, nil
	}
	if size < 1<<10 || size&(size-1) != 0 || uint64(used)*4 > size*3 || (size > 1<<11 && uint64(used) < size/4) {
		r.Fail("an index of %d slots cannot hold %d entries", size, used)
		return head, id, nil
	}
	x = newIndexWithKey([16]byte(key), int(size))
	for {
		run := r.Uint64s()
		if len(run) == 0 {
			break
		}
		if len(run)%5 != 0 || x.used+len(run)/5 > used {
			r.Fail("a run of %d words does not fit the index", len(run))
			break
		}
		for i := 0; i < len(run); i += 5 {
			at, k1 := run[i], run[i+2]
			if at >= size || k1&1 == 0 || x.slots[at].k1 != 0 {
				r.Fail("index entry %d is out of place", x.used)
				break
			}
			x.slots[at] = slot{k0: run[i+1], k1: k1, payload: run[i+3], position: run[i+4]}
			x.used++
		}
	}
	if x.used != used {
		r.Fail("%d index entries, the header says %d", x.used, used)
	}
	return head, id, x
}
