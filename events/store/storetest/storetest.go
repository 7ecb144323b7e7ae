// Package storetest is the conformance suite for store.Store backends. Every
// backend's tests call Run with a constructor of fresh, empty stores; a
// backend that passes gives refledger every guarantee store documents.
//
// storetest imports store and the standard library only.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/refledger/refledger/events/store"
)

// Run runs the suite. newStore returns an empty store for each subtest; the
// suite closes it.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"AppendAndReadInOrder", testAppendAndRead},
		{"ExpectedPosition", testExpectedPosition},
		{"DuplicateCommitID", testDuplicate},
		{"DuplicateAfterLostAck", testDuplicateAfterLostAck},
		{"InvalidCommits", testInvalid},
		{"ReadFromPosition", testReadFrom},
		{"FollowCatchesUpThenStreams", testFollow},
		{"ConcurrentAppends", testConcurrent},
		{"LogsAreSeparate", testSeparateLogs},
		{"PayloadBytesSurvive", testPayloadBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			defer s.Close()
			tt.fn(t, s)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openLog(t *testing.T, s store.Store, name string) store.Log {
	t.Helper()
	l, err := s.Log(ctxT(t), name)
	if err != nil {
		t.Fatalf("open log %q: %v", name, err)
	}
	return l
}

func commit(id string, n int) store.Commit {
	c := store.Commit{ID: id}
	for i := 0; i < n; i++ {
		c.Events = append(c.Events, store.Event{ID: fmt.Sprintf("%s/%d", id, i), Type: "test.happened", Data: []byte(fmt.Sprintf(`{"n":%d}`, i))})
	}
	return c
}

func mustAppend(t *testing.T, l store.Log, c store.Commit, exp store.Expected) store.Appended {
	t.Helper()
	a, err := l.Append(ctxT(t), c, exp)
	if err != nil {
		t.Fatalf("append %s at %s: %v", c.ID, exp, err)
	}
	return a
}

func readAll(t *testing.T, l store.Log, from store.Position) []store.Stored {
	t.Helper()
	var out []store.Stored
	if err := l.Read(ctxT(t), from, func(s store.Stored) error { out = append(out, s); return nil }); err != nil {
		t.Fatalf("read from %d: %v", from, err)
	}
	return out
}

func testAppendAndRead(t *testing.T, s store.Store) {
	l := openLog(t, s, "facts")
	if h, err := l.Head(ctxT(t)); err != nil || h != 0 {
		t.Fatalf("empty log head = %d, %v; want 0", h, err)
	}
	var last store.Position
	for i := 1; i <= 5; i++ {
		a := mustAppend(t, l, commit(fmt.Sprintf("c%d", i), i), store.Any{})
		if a.Duplicate || a.Position <= last {
			t.Fatalf("commit %d appended at %d (duplicate %v) after %d", i, a.Position, a.Duplicate, last)
		}
		last = a.Position
	}
	got := readAll(t, l, 0)
	if len(got) != 5 {
		t.Fatalf("read %d commits, want 5", len(got))
	}
	for i, s := range got {
		want := commit(fmt.Sprintf("c%d", i+1), i+1)
		if s.Commit.ID != want.ID || len(s.Commit.Events) != len(want.Events) {
			t.Fatalf("commit %d = %s with %d events, want %s with %d", i, s.Commit.ID, len(s.Commit.Events), want.ID, len(want.Events))
		}
		for j, e := range s.Commit.Events {
			if e.ID != want.Events[j].ID || e.Type != want.Events[j].Type || string(e.Data) != string(want.Events[j].Data) {
				t.Fatalf("event %d.%d = %+v, want %+v", i, j, e, want.Events[j])
			}
		}
	}
	if h, _ := l.Head(ctxT(t)); h != last {
		t.Fatalf("head = %d, want %d", h, last)
	}
}

func testExpectedPosition(t *testing.T, s store.Store) {
	l := openLog(t, s, "ledger")
	a := mustAppend(t, l, commit("first", 1), store.NoCommits{})
	if _, err := l.Append(ctxT(t), commit("second-empty", 1), store.NoCommits{}); !errors.Is(err, store.ErrWrongPosition) {
		t.Fatalf("NoCommits on a non-empty log: %v, want ErrWrongPosition", err)
	}
	b := mustAppend(t, l, commit("second", 2), store.At(a.Position))
	if _, err := l.Append(ctxT(t), commit("stale", 1), store.At(a.Position)); !errors.Is(err, store.ErrWrongPosition) {
		t.Fatalf("At(stale): %v, want ErrWrongPosition", err)
	}
	if _, err := l.Append(ctxT(t), commit("future", 1), store.At(b.Position+5)); !errors.Is(err, store.ErrWrongPosition) {
		t.Fatalf("At(future): %v, want ErrWrongPosition", err)
	}
	if got := readAll(t, l, 0); len(got) != 2 {
		t.Fatalf("a refused append wrote something: %d commits", len(got))
	}
}

func testDuplicate(t *testing.T, s store.Store) {
	l := openLog(t, s, "facts")
	a := mustAppend(t, l, commit("once", 2), store.Any{})
	b := mustAppend(t, l, commit("once", 2), store.Any{})
	if !b.Duplicate || b.Position != a.Position {
		t.Fatalf("second append of the same id = %+v, want duplicate at %d", b, a.Position)
	}
	if got := readAll(t, l, 0); len(got) != 1 {
		t.Fatalf("duplicate appended: %d commits", len(got))
	}
}

// testDuplicateAfterLostAck retries a fenced append whose acknowledgement was
// lost: the log has moved (by the commit itself), yet the retry must report a
// duplicate, not a wrong position.
func testDuplicateAfterLostAck(t *testing.T, s store.Store) {
	l := openLog(t, s, "ledger")
	a := mustAppend(t, l, commit("fenced", 1), store.NoCommits{})
	b, err := l.Append(ctxT(t), commit("fenced", 1), store.NoCommits{})
	if err != nil || !b.Duplicate || b.Position != a.Position {
		t.Fatalf("retry of a fenced commit = %+v, %v; want duplicate at %d", b, err, a.Position)
	}
	c := mustAppend(t, l, commit("next", 1), store.At(a.Position))
	d, err := l.Append(ctxT(t), commit("next", 1), store.At(a.Position))
	if err != nil || !d.Duplicate || d.Position != c.Position {
		t.Fatalf("retry at At(%d) = %+v, %v; want duplicate at %d", a.Position, d, err, c.Position)
	}
}

func testInvalid(t *testing.T, s store.Store) {
	l := openLog(t, s, "facts")
	big := store.Commit{ID: "big", Events: []store.Event{{ID: "e", Type: "t", Data: make([]byte, store.MaxCommitBytes+1)}}}
	for _, c := range []store.Commit{{ID: "", Events: commit("x", 1).Events}, {ID: "empty"}, big} {
		if _, err := l.Append(ctxT(t), c, store.Any{}); !errors.Is(err, store.ErrInvalidCommit) {
			t.Errorf("append of invalid commit %q: %v, want ErrInvalidCommit", c.ID, err)
		}
	}
	if _, err := s.Log(ctxT(t), "Not A Name"); err == nil {
		t.Error("opened a log with an invalid name")
	}
}

func testReadFrom(t *testing.T, s store.Store) {
	l := openLog(t, s, "facts")
	var positions []store.Position
	for i := 0; i < 10; i++ {
		positions = append(positions, mustAppend(t, l, commit(fmt.Sprintf("r%d", i), 1), store.Any{}).Position)
	}
	got := readAll(t, l, positions[6])
	if len(got) != 4 || got[0].Commit.ID != "r6" || got[0].Position != positions[6] {
		t.Fatalf("read from %d = %d commits starting %v", positions[6], len(got), got)
	}
	if got := readAll(t, l, positions[9]+1); len(got) != 0 {
		t.Fatalf("read past the head gave %d commits", len(got))
	}
	stop := errors.New("stop")
	n := 0
	err := l.Read(ctxT(t), 0, func(store.Stored) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("stopping a read: %v after %d", err, n)
	}
}

func testFollow(t *testing.T, s store.Store) {
	l := openLog(t, s, "facts")
	for i := 0; i < 3; i++ {
		mustAppend(t, l, commit(fmt.Sprintf("before%d", i), 1), store.Any{})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seen := make(chan string, 16)
	done := make(chan error, 1)
	go func() {
		done <- l.Follow(ctx, 2, func(s store.Stored) error { seen <- s.Commit.ID; return nil })
	}()
	want := []string{"before1", "before2", "after0", "after1"}
	for i, id := range want {
		if i == 2 {
			mustAppend(t, l, commit("after0", 1), store.Any{})
			mustAppend(t, l, commit("after1", 3), store.Any{})
		}
		select {
		case got := <-seen:
			if got != id {
				t.Fatalf("follow gave %s, want %s", got, id)
			}
		case <-ctx.Done():
			t.Fatalf("follow did not deliver %s", id)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("follow ended with %v, want the context's error", err)
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	l := openLog(t, s, "facts")
	const writers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := l.Append(ctxT(t), commit(fmt.Sprintf("w%d-%d", w, i), 1), store.Any{}); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := readAll(t, l, 0)
	ids := map[string]bool{}
	var last store.Position
	for _, s := range got {
		if s.Position < last {
			t.Fatalf("positions went back: %d after %d", s.Position, last)
		}
		last = s.Position
		if ids[s.Commit.ID] {
			t.Fatalf("commit %s read twice", s.Commit.ID)
		}
		ids[s.Commit.ID] = true
	}
	if len(ids) != writers*each {
		t.Fatalf("read %d distinct commits, want %d", len(ids), writers*each)
	}
	// Every writer's own commits keep their order.
	next := map[int]int{}
	for _, s := range got {
		var w, i int
		fmt.Sscanf(s.Commit.ID, "w%d-%d", &w, &i)
		if i != next[w] {
			t.Fatalf("writer %d: commit %d read before %d", w, i, next[w])
		}
		next[w]++
	}
}

func testSeparateLogs(t *testing.T, s store.Store) {
	a, b := openLog(t, s, "facts"), openLog(t, s, "ledger")
	mustAppend(t, a, commit("same-id", 1), store.Any{})
	if r := mustAppend(t, b, commit("same-id", 1), store.NoCommits{}); r.Duplicate {
		t.Fatal("a commit id in one log made a duplicate in another")
	}
	if len(readAll(t, a, 0)) != 1 || len(readAll(t, b, 0)) != 1 {
		t.Fatal("logs are not separate")
	}
}

func testPayloadBytes(t *testing.T, s store.Store) {
	l := openLog(t, s, "facts")
	data := make([]byte, 1024)
	for i := range data {
		data[i] = byte(i)
	}
	c := store.Commit{ID: "bytes", Events: []store.Event{{ID: "\x00odd id ✓", Type: "t", Data: data}, {ID: "empty", Type: "t"}}}
	mustAppend(t, l, c, store.Any{})
	data[0] = 99 // the store must have copied
	got := readAll(t, l, 0)
	if len(got) != 1 || got[0].Commit.Events[0].ID != "\x00odd id ✓" || got[0].Commit.Events[0].Data[0] != 0 || got[0].Commit.Events[0].Data[1023] != 255 || len(got[0].Commit.Events[1].Data) != 0 {
		t.Fatalf("payload bytes changed: %+v", got)
	}
}
