package ingest

import (
	"context"
	"errors"
	"testing"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/jetstream"
	"github.com/refledger/refledger/events/store"
)

// lostAckLog appends through to a real log, but loses the acknowledgement
// of its first append: the commit is durable, the caller hears an error
// (a broker that stored the message and went away before answering).
type lostAckLog struct {
	store.Log
	lost bool
}

var errAckLost = errors.New("acknowledgement lost")

func (l *lostAckLog) Append(ctx context.Context, c store.Commit, exp store.Expected) (store.Appended, error) {
	res, err := l.Log.Append(ctx, c, exp)
	if err == nil && !l.lost {
		l.lost = true
		return store.Appended{}, errAckLost
	}
	return res, err
}

// A batch whose append was acknowledged to nobody is submitted again, as
// Submit's contract allows: the log holds it once, the retry answers each
// fact a duplicate at the position where the first append made it durable
// (the log answers the commit as a duplicate, and the ingester learns it
// from the log), and the next batch lands after it. On the embedded
// JetStream store as on the memory one. It fails if the ingester took a
// duplicate append for a new one (Submit: the `res.Duplicate` branch).
func TestSubmitAfterALostAcknowledgement(t *testing.T) {
	ctx := context.Background()
	mem, _ := store.NewMemory().Log(ctx, store.FactsLog)
	js, err := jetstream.OpenEmbedded(jetstream.EmbeddedConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer js.Close()
	jsLog, err := js.Log(ctx, store.FactsLog)
	if err != nil {
		t.Fatal(err)
	}
	for name, real := range map[string]store.Log{"memory": mem, "jetstream": jsLog} {
		t.Run(name, func(t *testing.T) {
			log := &lostAckLog{Log: real}
			in, err := Open(ctx, log)
			if err != nil {
				t.Fatal(err)
			}
			batch := []events.Fact{fact(t, "a", "katie"), fact(t, "b", "katie")}
			if _, err := in.Submit(ctx, batch); !errors.Is(err, errAckLost) {
				t.Fatalf("first submit: %v, want the lost acknowledgement", err)
			}
			if h, _ := real.Head(ctx); h != 1 {
				t.Fatalf("log head %d after the lost acknowledgement, want the commit durable at 1", h)
			}
			out, err := in.Submit(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			if got := statuses(out); got != "dd" || out[0].Position != 1 || out[1].Position != 1 {
				t.Fatalf("the retry answered %s %+v, want both duplicates at position 1", got, out)
			}
			out, err = in.Submit(ctx, []events.Fact{fact(t, "c", "katie")})
			if err != nil || statuses(out) != "a" || out[0].Position != 2 {
				t.Fatalf("the next batch: %+v, %v, want accepted at 2", out, err)
			}
			if h, _ := real.Head(ctx); h != 2 {
				t.Fatalf("log head %d, want 2 commits: the batch once, then the next", h)
			}
		})
	}
}
