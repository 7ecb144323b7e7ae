package ingest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/jetstream"
	"github.com/refledger/refledger/events/store"
)

func fact(t testing.TB, id, contact string) events.Fact {
	t.Helper()
	f, err := events.Decode([]byte(fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"forms","type":"contact.identified","time":"2017-03-02T10:00:00Z","data":{"visitor_id":"v","contact_id":%q}}`, id, contact)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func statuses(out []Outcome) string {
	s := ""
	for _, o := range out {
		s += string(o.Status[0])
	}
	return s
}

func TestSubmitDuplicatesAndConflicts(t *testing.T) {
	ctx := context.Background()
	log, _ := store.NewMemory().Log(ctx, store.FactsLog)
	in, err := Open(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	out, err := in.Submit(ctx, []events.Fact{fact(t, "a", "katie"), fact(t, "b", "katie"), fact(t, "a", "katie"), fact(t, "b", "other")})
	if err != nil {
		t.Fatal(err)
	}
	// a, b accepted; a again in the same batch: duplicate; b with another payload: conflict.
	if got := statuses(out); got != "aadr" {
		t.Fatalf("outcomes %s, want aadr: %+v", got, out)
	}
	if out[2].Position != out[0].Position || !errors.Is(out[3].Err, ErrConflict) {
		t.Fatalf("duplicate position or conflict error wrong: %+v", out)
	}
	// A conflict names where the fact accepted first is, in the batch as
	// against the index (an API retry reads the first one's time there).
	if out[3].Position != out[1].Position || out[3].Position == 0 {
		t.Fatalf("a conflict within the batch names position %d, the first fact is at %d", out[3].Position, out[1].Position)
	}
	out, _ = in.Submit(ctx, []events.Fact{fact(t, "a", "katie"), fact(t, "a", "x"), fact(t, "c", "katie")})
	if got := statuses(out); got != "dra" {
		t.Fatalf("second batch %s, want dra", got)
	}
	if out[1].Position != 1 {
		t.Fatalf("a conflict with an earlier batch names position %d, want 1", out[1].Position)
	}
	if h, _ := log.Head(ctx); h != 2 {
		t.Fatalf("log head %d, want 2 commits", h)
	}
}

// TestIdempotencyAcrossRestart reopens the embedded store: the index is
// rebuilt from the log, so a key seen before a restart is still a duplicate
// (or a conflict) long after the broker's dedupe window.
func TestIdempotencyAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() (*jetstream.Store, *Ingester) {
		s, err := jetstream.OpenEmbedded(jetstream.EmbeddedConfig{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		log, err := s.Log(ctx, store.FactsLog)
		if err != nil {
			t.Fatal(err)
		}
		in, err := Open(ctx, log)
		if err != nil {
			t.Fatal(err)
		}
		return s, in
	}
	s, in := open()
	if out, err := in.Submit(ctx, []events.Fact{fact(t, "a", "katie")}); err != nil || out[0].Status != Accepted {
		t.Fatalf("first submit: %+v %v", out, err)
	}
	s.Close()
	s, in = open()
	defer s.Close()
	out, err := in.Submit(ctx, []events.Fact{fact(t, "a", "katie"), fact(t, "a", "changed")})
	if err != nil || statuses(out) != "dr" {
		t.Fatalf("after restart: %+v %v; want duplicate then conflict", out, err)
	}
}

// TestFencedByAnotherWriter moves the log under the ingester: it must learn
// the other writer's facts and not append them twice.
func TestFencedByAnotherWriter(t *testing.T) {
	ctx := context.Background()
	log, _ := store.NewMemory().Log(ctx, store.FactsLog)
	a, _ := Open(ctx, log)
	b, _ := Open(ctx, log)
	if _, err := a.Submit(ctx, []events.Fact{fact(t, "x", "katie")}); err != nil {
		t.Fatal(err)
	}
	out, err := b.Submit(ctx, []events.Fact{fact(t, "x", "katie"), fact(t, "y", "katie")})
	if err != nil || statuses(out) != "da" {
		t.Fatalf("second writer: %+v %v; want duplicate, accepted", out, err)
	}
}

// Each appended fact carries when the log received it, by the ingester's
// clock; and since what a fact says leaves its arrival out, the same fact
// sent again later, or stored before arrivals were kept (version 1), is a
// duplicate, and another payload under its key still a conflict.
func TestArrivalIsKeptAndIgnoredByIdempotency(t *testing.T) {
	ctx := context.Background()
	log, _ := store.NewMemory().Log(ctx, store.FactsLog)
	old := fact(t, "old", "katie") // stored as a fact log before arrivals held it
	if _, err := log.Append(ctx, store.Commit{ID: "old", Events: []store.Event{{ID: old.Key(), Type: old.Type, Data: events.EncodeStored(old)}}}, store.Any{}); err != nil {
		t.Fatal(err)
	}
	in, err := Open(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Date(2024, 6, 1, 12, 0, 0, 250, time.UTC)
	now := first
	in.SetClock(func() time.Time { return now })
	if out, err := in.Submit(ctx, []events.Fact{fact(t, "a", "katie")}); err != nil || statuses(out) != "a" {
		t.Fatalf("first submit: %+v %v", out, err)
	}
	now = first.Add(time.Hour)
	for _, reopen := range []bool{false, true} {
		if reopen {
			if in, err = Open(ctx, log); err != nil {
				t.Fatal(err)
			}
			in.SetClock(func() time.Time { return now })
		}
		out, err := in.Submit(ctx, []events.Fact{fact(t, "a", "katie"), fact(t, "old", "katie"), fact(t, "a", "x"), fact(t, "old", "x")})
		if err != nil || statuses(out) != "ddrr" {
			t.Fatalf("sent again an hour later (reopened %v): %+v %v; want duplicate, duplicate, conflict, conflict", reopen, out, err)
		}
	}
	var arrived []time.Time
	err = log.Read(ctx, 1, func(s store.Stored) error {
		for _, e := range s.Commit.Events {
			f, err := events.DecodeStored(e.Type, e.Data)
			if err != nil {
				return err
			}
			arrived = append(arrived, f.Arrived)
		}
		return nil
	})
	if err != nil || len(arrived) != 2 || !arrived[0].IsZero() || !arrived[1].Equal(first) {
		t.Fatalf("arrivals in the log %v (%v), want none for the old fact and %s", arrived, err, first)
	}
}
