package server

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	ejs "github.com/refledger/refledger/events/jetstream"
)

// TestIntakeAckTwiceIsNoError: a batch whose last acknowledgement timed
// out is acknowledged again after its append is retried; before, the
// second acknowledgement of its first messages failed with "already
// acknowledged", every second, and the intake never moved again.
func TestIntakeAckTwiceIsNoError(t *testing.T) {
	srv, err := ejs.StartServer(ejs.EmbeddedConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	s := &Server{}
	cons, err := s.openIntake(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"a", "b", "c"} {
		if err := nc.Publish(IngestSubject, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()
	var msgs []jetstream.Msg
	for len(msgs) < 3 {
		got, err := fetchIntake(cons)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, got...)
	}
	if err := ackIntake(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if err := ackIntake(ctx, msgs); err != nil {
		t.Fatalf("acknowledging a batch again: %v", err)
	}
	if again, err := fetchIntake(cons); err != nil || len(again) != 0 {
		t.Fatalf("after the acknowledgements the intake still holds %d (%v)", len(again), err)
	}
}
