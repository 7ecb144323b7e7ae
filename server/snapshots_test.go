package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestSnapshotSpacing: a snapshot is due after enough facts and time, the
// spacing stretches with the last pause, and a copied snapshot is written
// beside the loop and waited for at the end.
func TestSnapshotSpacing(t *testing.T) {
	saved := 0
	s := snapshotter{path: "x", what: "test", log: zap.NewNop(), save: func(context.Context, string) error { saved++; return nil }}
	s.at = time.Now().Add(-time.Hour)
	if s.due() {
		t.Fatal("due with no facts gone by")
	}
	s.count(snapshotEvery)
	if !s.due() {
		t.Fatal("not due after snapshotEvery facts and an hour")
	}
	s.takeIfDue(context.Background())
	if saved != 1 || s.facts != 0 || s.due() {
		t.Fatalf("after taking one: saved %d, facts %d, due %v", saved, s.facts, s.due())
	}

	s.count(snapshotEvery)
	s.paused = time.Minute // a slow snapshot: the next waits snapshotPauseFactor minutes
	s.at = time.Now().Add(-(snapshotPauseFactor - 1) * time.Minute)
	if s.due() {
		t.Fatalf("due %d minutes after a snapshot that paused the loop for one", snapshotPauseFactor-1)
	}
	s.at = time.Now().Add(-(snapshotPauseFactor + 1) * time.Minute)
	if !s.due() {
		t.Fatalf("not due %d minutes after", snapshotPauseFactor+1)
	}

	written := make(chan struct{}, 2)
	release := make(chan struct{})
	writes := 0
	c := snapshotter{path: "x", what: "copy", log: zap.NewNop(), copyState: func(context.Context) (func(string) error, error) {
		writes++
		return func(string) error { written <- struct{}{}; <-release; return nil }, nil
	}}
	c.count(snapshotEvery)
	c.at = time.Now().Add(-time.Hour)
	c.takeIfDue(context.Background())
	<-written // the write runs beside the loop
	if !c.busy.Load() {
		t.Fatal("a snapshot being written is not marked busy")
	}
	c.count(1)
	done := make(chan struct{})
	go func() { c.final(context.Background()); close(done) }()
	select {
	case <-done:
		t.Fatal("final returned while a write was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-done
	if writes != 2 {
		t.Fatalf("%d snapshots copied, want 2 (the one in flight and the final one)", writes)
	}

	failing := snapshotter{path: "x", what: "failing", log: zap.NewNop(), save: func(context.Context, string) error { return errors.New("disk full") }}
	failing.count(snapshotEvery)
	failing.at = time.Now().Add(-time.Hour)
	failing.takeIfDue(context.Background())
	if failing.facts == 0 || failing.due() {
		t.Fatal("a failed snapshot forgot its facts, or is due again at once")
	}
}
