package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/internal/snapshot"
)

// TestIndexSnapshotRemembersEveryKey saves an index of more facts than one
// run of the file holds, adds facts after the snapshot, and reopens: every
// key before and after is a duplicate with its position, every changed
// payload a conflict, and the index digests as the saved one did.
func TestIndexSnapshotRemembersEveryKey(t *testing.T) {
	ctx := context.Background()
	log, _ := store.NewMemory().Log(ctx, store.FactsLog)
	in, err := Open(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	n := 8192 + 300 // past one growth of the table
	submit := func(in *Ingester, from, to int, contact string) []Outcome {
		var all []Outcome
		for i := from; i < to; i += MaxBatch {
			var batch []events.Fact
			for j := i; j < min(i+MaxBatch, to); j++ {
				batch = append(batch, fact(t, fmt.Sprint("f", j), contact))
			}
			out, err := in.Submit(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, out...)
		}
		return all
	}
	first := submit(in, 0, n, "katie")
	path := filepath.Join(t.TempDir(), "index.snap")
	if err := in.WriteSnapshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	later := submit(in, n, n+50, "katie") // after the snapshot: read from the log on open

	again, reason, err := OpenFrom(ctx, log, path)
	if err != nil || reason != nil {
		t.Fatalf("open from the snapshot: %v, %v", err, reason)
	}
	if again.Head() != in.Head() {
		t.Fatalf("head %d, want %d", again.Head(), in.Head())
	}
	for i, o := range submit(again, 0, n+50, "katie") {
		want := append(first, later...)[i].Position
		if o.Status != Duplicate || o.Position != want {
			t.Fatalf("fact %d after reopening: %+v, want a duplicate at %d", i, o, want)
		}
	}
	for i, o := range submit(again, n-5, n+5, "someone else") {
		if o.Status != Rejected || !errors.Is(o.Err, ErrConflict) {
			t.Fatalf("changed fact %d: %+v, want a conflict", i, o)
		}
	}
	if o := submit(again, n+50, n+51, "katie"); o[0].Status != Accepted {
		t.Fatalf("a new fact: %+v", o)
	}
}

func TestIndexSnapshotFallsBackToTheLog(t *testing.T) {
	ctx := context.Background()
	log, _ := store.NewMemory().Log(ctx, store.FactsLog)
	in, _ := Open(ctx, log)
	in.Submit(ctx, []events.Fact{fact(t, "a", "katie"), fact(t, "b", "katie")})
	path := filepath.Join(t.TempDir(), "index.snap")
	if err := in.WriteSnapshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	data[len(data)-9] ^= 1
	os.WriteFile(path, data, 0o644)
	other, _ := store.NewMemory().Log(ctx, store.FactsLog)
	for name, c := range map[string]struct {
		log  store.Log
		path string
		want error
	}{
		"missing": {log, filepath.Join(t.TempDir(), "none"), os.ErrNotExist},
		"damaged": {log, path, snapshot.ErrUnusable},
	} {
		again, reason, err := OpenFrom(ctx, c.log, c.path)
		if err != nil || !errors.Is(reason, c.want) {
			t.Errorf("%s: reason %v, err %v; want %v", name, reason, err, c.want)
			continue
		}
		if out, _ := again.Submit(ctx, []events.Fact{fact(t, "a", "katie")}); out[0].Status != Duplicate {
			t.Errorf("%s: rebuilt index forgot a key: %+v", name, out)
		}
	}
	// A sound snapshot of another log.
	os.Remove(path)
	in.WriteSnapshot(ctx, path)
	if _, reason, err := OpenFrom(ctx, other, path); err != nil || !errors.Is(reason, snapshot.ErrUnusable) {
		t.Errorf("another log's snapshot: reason %v, err %v", reason, err)
	}
}

// FuzzDecodeIndex: no body makes the index decoder panic or allocate past
// a few times its size, and a decoded index answers lookups.
func FuzzDecodeIndex(f *testing.F) {
	ctx := context.Background()
	log, _ := store.NewMemory().Log(ctx, store.FactsLog)
	in, _ := Open(ctx, log)
	in.Submit(ctx, []events.Fact{fact(f, "a", "katie"), fact(f, "b", "katie")})
	path := filepath.Join(f.TempDir(), "index.snap")
	if err := in.WriteSnapshot(ctx, path); err != nil {
		f.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	var header bytes.Buffer
	snapshot.NewEncoder(&header, indexSnapshotKind, indexSnapshotVersion).Finish()
	f.Add(data[header.Len()-4 : len(data)-4])
	f.Fuzz(func(t *testing.T, body []byte) {
		r := snapshot.NewDecoder(body)
		_, _, x := decodeIndex(r)
		if r.Err() != nil {
			return
		}
		x.lookup("forms\x00a")
		x.add("forms\x00c", []byte("payload"), 9)
	})
}
