package ingest

import (
	"context"
	"errors"
	"fmt"
	"testing"

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
	out, _ = in.Submit(ctx, []events.Fact{fact(t, "a", "katie"), fact(t, "a", "x"), fact(t, "c", "katie")})
	if got := statuses(out); got != "dra" {
		t.Fatalf("second batch %s, want dra", got)
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
