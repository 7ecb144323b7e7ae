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
	indexSnapshotVersion = 1
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
		run := make([]uint64, 0, 4*indexChunk)
		for _, s := range x.slots {
			if s.k1 == 0 {
				continue
			}
			run = append(run, s.k0, s.k1, s.payload, s.position)
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
		in.head, id = r.Uvarint(), r.String()
		key := r.Bytes()
		used := r.Count(32)
		if len(key) != 16 {
			r.Fail("index key of %d bytes, want 16", len(key))
			return r.Err()
		}
		in.index = newIndexWithKey([16]byte(key), used*4/3+1)
		for got := 0; ; {
			run := r.Uint64s()
			if len(run) == 0 {
				if got != used {
					r.Fail("%d index entries, the header says %d", got, used)
				}
				break
			}
			if len(run)%4 != 0 || got+len(run)/4 > used {
				r.Fail("a run of %d words does not fit the index", len(run))
				break
			}
			for i := 0; i < len(run); i += 4 {
				if run[i+1]&1 == 0 {
					r.Fail("index entry %d has no mark", got)
					break
				}
				in.index.put(slot{k0: run[i], k1: run[i+1], payload: run[i+2], position: run[i+3]})
				got++
			}
		}
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
