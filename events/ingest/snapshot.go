package ingest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/internal/snapshot"
)

const (
	indexSnapshotKind    = "refledger.ingest-index"
	indexSnapshotVersion = 3
	slotBytes            = 32
)

// WriteSnapshot saves the index and the fact-log head it covers to path,
// atomically. The slot table goes in as it is in memory (four little-endian
// words a slot, empty ones too, 8-byte aligned in the file), so that
// loading maps the file and uses the table where it lies. It must not run
// beside Submit: call it from the goroutine that submits.
func (in *Ingester) WriteSnapshot(ctx context.Context, path string) error {
	write, err := in.SnapshotCopy(ctx)
	if err != nil {
		return err
	}
	return write(path)
}

// SnapshotCopy copies the index as it stands (a copy of its slot table:
// about a tenth of a second at ten million facts) and returns what writes
// that copy as WriteSnapshot would, which may run while facts are
// submitted. SnapshotCopy itself must not run beside Submit.
func (in *Ingester) SnapshotCopy(ctx context.Context) (func(path string) error, error) {
	id, err := store.CommitIDAt(ctx, in.log, in.head)
	if err != nil {
		return nil, err
	}
	head, key, used, slots := in.head, in.index.key, in.index.used, slices.Clone(in.index.slots)
	return func(path string) error {
		return snapshot.WriteFile(path, indexSnapshotKind, indexSnapshotVersion, func(e *snapshot.Encoder) {
			e.Uvarint(head)
			e.String(id)
			e.Bytes(key[:])
			e.Uvarint(uint64(used))
			e.Uvarint(uint64(len(slots)))
			e.Align(8)
			buf := make([]byte, 0, 64<<10)
			for _, s := range slots {
				buf = binary.LittleEndian.AppendUint64(buf, s.k0)
				buf = binary.LittleEndian.AppendUint64(buf, s.k1)
				buf = binary.LittleEndian.AppendUint64(buf, s.payload)
				buf = binary.LittleEndian.AppendUint64(buf, s.position)
				if len(buf) == cap(buf) {
					e.Raw(buf)
					buf = buf[:0]
				}
			}
			e.Raw(buf)
		})
	}, nil
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
	err := snapshot.MapFile(path, indexSnapshotKind, indexSnapshotVersion, func(r *snapshot.Decoder) error {
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
// early; check the decoder's error). On a little-endian machine, with the
// table 8-byte aligned in the buffer, the index uses the table where it
// lies (a mapped file's pages are read as they are touched); otherwise it
// copies it. Either way every slot is checked.
func decodeIndex(r *snapshot.Decoder) (head store.Position, id string, x *Index) {
	head, id = r.Uvarint(), r.String()
	key := r.Bytes()
	used, size := r.Uvarint(), r.Uvarint()
	if len(key) != 16 {
		r.Fail("index key of %d bytes, want 16", len(key))
		return head, id, nil
	}
	if size < 1<<10 || size&(size-1) != 0 || size > 1<<40 || used*4 > size*3 {
		r.Fail("an index of %d slots cannot hold %d entries", size, used)
		return head, id, nil
	}
	r.Align(8)
	raw := r.Raw(int(size) * slotBytes)
	if r.Err() != nil {
		return head, id, nil
	}
	x = &Index{key: [16]byte(key), block: newDigestCipher([16]byte(key))}
	if overlay, ok := slotsOver(raw); ok {
		x.slots = overlay
	} else {
		x.slots = make([]slot, size)
		for i := range x.slots {
			b := raw[i*slotBytes:]
			x.slots[i] = slot{k0: binary.LittleEndian.Uint64(b), k1: binary.LittleEndian.Uint64(b[8:]),
				payload: binary.LittleEndian.Uint64(b[16:]), position: binary.LittleEndian.Uint64(b[24:])}
		}
	}
	for i := range x.slots {
		if s := &x.slots[i]; s.k1 != 0 {
			x.used++
		} else if s.k0 != 0 || s.payload != 0 || s.position != 0 {
			r.Fail("empty index slot %d holds data", i)
			return head, id, nil
		}
	}
	if uint64(x.used) != used {
		r.Fail("%d index entries, the header says %d", x.used, used)
		return head, id, nil
	}
	return head, id, x
}

// A slot is four words, with no padding: the file's layout.
var _ [slotBytes - unsafe.Sizeof(slot{})]struct{}
var _ [unsafe.Sizeof(slot{}) - slotBytes]struct{}

// slotsOver lays the slot table over raw bytes without copying, where the
// machine is little-endian and the bytes are aligned for it.
func slotsOver(raw []byte) ([]slot, bool) {
	if len(raw) == 0 || binary.NativeEndian.Uint16([]byte{1, 0}) != 1 || uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%unsafe.Alignof(slot{}) != 0 {
		return nil, false
	}
	return unsafe.Slice((*slot)(unsafe.Pointer(unsafe.SliceData(raw))), len(raw)/slotBytes), true
}
