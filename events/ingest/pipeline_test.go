package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"
)

// lossyLog loses the acknowledgement of the sends lose names: they land,
// but their senders are told the backend did not answer.
type lossyLog struct {
	store.Pipeline
	lose map[string]bool
}

func (l lossyLog) Send(c store.Commit, after store.Position, afterID string) *store.Sending {
	sent := l.Pipeline.Send(c, after, afterID)
	if !l.lose[c.ID] {
		return sent
	}
	lost := store.NewSending()
	sent.Result()
	lost.Finish(store.Appended{}, store.ErrUnavailable)
	return lost
}

// logKeys lists the log's commits by the keys (source/id) of their facts.
func logKeys(t *testing.T, log store.Log) string {
	t.Helper()
	out := ""
	err := log.Read(context.Background(), 1, func(s store.Stored) error {
		out += fmt.Sprint(s.Position, ":")
		for _, e := range s.Commit.Events {
			out += " " + strings.ReplaceAll(e.ID, "\x00", "/")
		}
		out += "; "
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sendAll(t *testing.T, in *Ingester, batches ...[]events.Fact) []*Sent {
	t.Helper()
	var sent []*Sent
	for i, b := range batches {
		s := in.Send(b)
		if s == nil {
			t.Fatalf("batch %d was not sent", i)
		}
		sent = append(sent, s)
	}
	return sent
}

func TestSendPipelinesCommits(t *testing.T) {
	ctx := context.Background()
	s, in, log := openEmbedded(t, t.TempDir())
	defer s.Close()
	sent := sendAll(t, in, []events.Fact{fact(t, "a", "k"), fact(t, "b", "k")}, []events.Fact{fact(t, "c", "k"), fact(t, "c", "k")})
	if in.Send([]events.Fact{fact(t, "d", "k")}) != nil {
		t.Error("a third commit was sent beside two in flight")
	}
	if _, err := in.Finish(ctx, sent[1]); !errors.Is(err, errFinishOrder) {
		t.Errorf("finishing the second send first: %v", err)
	}
	want := []string{"aa", "ad"}
	for i, s := range sent {
		out, err := in.Finish(ctx, s)
		if err != nil || statuses(out) != want[i] || out[0].Position != store.Position(i+1) || out[len(out)-1].Position != store.Position(i+1) {
			t.Fatalf("send %d: %+v, %v; want %s at %d", i, out, err, want[i], i+1)
		}
	}
	// A key in flight holds back a batch that repeats it: its outcome is
	// that commit's.
	e := in.Send([]events.Fact{fact(t, "e", "k")})
	if in.Send([]events.Fact{fact(t, "f", "k"), fact(t, "e", "k")}) != nil {
		t.Error("a batch repeating a key in flight was sent")
	}
	if _, err := in.Finish(ctx, e); err != nil {
		t.Fatal(err)
	}
	out, err := in.Submit(ctx, []events.Fact{fact(t, "e", "k"), fact(t, "a", "other"), fact(t, "g", "k")})
	if err != nil || statuses(out) != "dra" || out[0].Position != 3 || out[2].Position != 4 {
		t.Fatalf("after the pipeline: %+v, %v", out, err)
	}
	if got := logKeys(t, log); got != "1: forms/a forms/b; 2: forms/c; 3: forms/e; 4: forms/g; " {
		t.Errorf("the log holds %s", got)
	}
}

// Sends fenced behind a commit that did not land where it was decided do
// not land either; each is decided again, and nothing is lost or doubled.
func TestSendAfterTheLogMoved(t *testing.T) {
	ctx := context.Background()
	mem, _ := store.NewMemory().Log(ctx, store.FactsLog)
	in, err := Open(ctx, mem)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, mem) // another writer
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Submit(ctx, []events.Fact{fact(t, "x", "k"), fact(t, "b", "k")}); err != nil {
		t.Fatal(err)
	}
	sent := sendAll(t, in, []events.Fact{fact(t, "a", "k"), fact(t, "b", "k")}, []events.Fact{fact(t, "c", "k"), fact(t, "x", "k")})
	want := []string{"ad", "ad"}
	for i, s := range sent {
		out, err := in.Finish(ctx, s)
		if err != nil || statuses(out) != want[i] {
			t.Fatalf("send %d: %+v, %v; want %s", i, out, err, want[i])
		}
	}
	if got := logKeys(t, mem); got != "1: forms/x forms/b; 2: forms/a; 3: forms/c; " {
		t.Errorf("the log holds %s", got)
	}
}

// A send whose acknowledgement is lost landed all the same: the send fenced
// behind it lands too, and the lost one's facts are answered from the log.
func TestSendWithALostAcknowledgement(t *testing.T) {
	ctx := context.Background()
	mem, _ := store.NewMemory().Log(ctx, store.FactsLog)
	in, err := Open(ctx, lossyLog{Pipeline: mem.(store.Pipeline), lose: map[string]bool{}})
	if err != nil {
		t.Fatal(err)
	}
	first := []events.Fact{fact(t, "a", "k")}
	_, c, _ := in.decide(first)
	in.log.(lossyLog).lose[c.ID] = true
	sent := sendAll(t, in, first, []events.Fact{fact(t, "b", "k")})
	want := []string{"d", "a"}
	for i, s := range sent {
		out, err := in.Finish(ctx, s)
		if err != nil || statuses(out) != want[i] || out[0].Position != store.Position(i+1) {
			t.Fatalf("send %d: %+v, %v; want %s at %d", i, out, err, want[i], i+1)
		}
	}
	if got := logKeys(t, mem); got != "1: forms/a; 2: forms/b; " {
		t.Errorf("the log holds %s", got)
	}
	if in.Head() != 2 {
		t.Errorf("head %d, want 2", in.Head())
	}
}
