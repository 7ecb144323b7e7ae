package jetstream

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/events/store/storetest"
)

func TestEmbeddedConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := OpenEmbedded(EmbeddedConfig{DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestExternalConformance reaches a second embedded server by URL, as an
// external JetStream would be.
func TestExternalConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		srv, err := StartServer(EmbeddedConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
		s, err := Connect(srv.ClientURL(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestRetryAfterLostAckFromAnotherProcess appends a fenced commit through
// one store and retries it through a second one, which has no memory of the
// first: JetStream refuses the expected sequence before its dedupe, and the
// store must still answer duplicate.
func TestRetryAfterLostAckFromAnotherProcess(t *testing.T) {
	srv, err := StartServer(EmbeddedConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	open := func() store.Log {
		nc, err := nats.Connect(srv.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		s, err := Open(nc, Options{})
		if err != nil {
			t.Fatal(err)
		}
		l, err := s.Log(t.Context(), "ledger")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, b := open(), open()
	c := store.Commit{ID: "decision-1", Events: []store.Event{{ID: "e", Type: "t", Data: []byte("x")}}}
	first, err := a.Append(t.Context(), c, store.NoCommits{})
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.Append(t.Context(), c, store.NoCommits{})
	if err != nil || !again.Duplicate || again.Position != first.Position {
		t.Fatalf("retry from another process = %+v, %v; want duplicate at %d", again, err, first.Position)
	}
	other := store.Commit{ID: "decision-2", Events: c.Events}
	if _, err := b.Append(t.Context(), other, store.NoCommits{}); err == nil {
		t.Fatal("a different commit at a stale position was appended")
	}
}

// TestReadThroughStalls: a read that stalls goes on from where it got to;
// it gives up only after consumeStallsMax stalls in a row with no
// progress, and any other error ends it at once.
func TestReadThroughStalls(t *testing.T) {
	stall := fmt.Errorf("%w: fetch: %w", store.ErrUnavailable, jetstream.ErrNoHeartbeat)
	var starts []store.Position
	// Three stalls, each after some progress, then the end.
	steps := []struct {
		next store.Position
		err  error
	}{{5, stall}, {9, stall}, {12, stall}, {20, nil}}
	err := readThroughStalls(1, func(from store.Position) (store.Position, error) {
		starts = append(starts, from)
		s := steps[len(starts)-1]
		return s.next, s.err
	})
	if err != nil || fmt.Sprint(starts) != "[1 5 9 12]" {
		t.Fatalf("stalls with progress: err %v, reads from %v, want nil and [1 5 9 12]", err, starts)
	}
	// Stalls with no progress: given up after consumeStallsMax.
	reads := 0
	err = readThroughStalls(7, func(from store.Position) (store.Position, error) {
		reads++
		return from, stall
	})
	if !errors.Is(err, jetstream.ErrNoHeartbeat) || reads != consumeStallsMax {
		t.Fatalf("stalls without progress: err %v after %d reads, want the stall after %d", err, reads, consumeStallsMax)
	}
	// Another error is not retried.
	reads = 0
	err = readThroughStalls(1, func(from store.Position) (store.Position, error) {
		reads++
		return from + 1, store.ErrCorrupt
	})
	if !errors.Is(err, store.ErrCorrupt) || reads != 1 {
		t.Fatalf("a corrupt log: err %v after %d reads, want it after 1", err, reads)
	}
}
