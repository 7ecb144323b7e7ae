package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestIntakeStreamDeniesRemovalsAndStillEmpties: the intake stream refuses
// a purge and a message delete, and its work queue still removes each
// event once the service has appended and acknowledged it.
func TestIntakeStreamDeniesRemovalsAndStillEmpties(t *testing.T) {
	svc := startBench(t)
	defer svc.stop()
	const n = 5
	for i := range n {
		event := fmt.Sprintf(`{"specversion":"1.0","id":"intake-%d","source":"checkout","type":"contact.identified","time":"2017-09-01T00:00:00Z","data":{"visitor_id":"v-%d","contact_id":"c-%d"}}`, i, i, i)
		if err := svc.js.Conn().Publish(IngestSubject, []byte(event)); err != nil {
			t.Fatal(err)
		}
	}
	js, err := jetstream.New(svc.js.Conn())
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(t.Context(), IntakeStream)
	if err != nil {
		t.Fatal(err)
	}
	accepted := svc.srv.metrics.ingested.WithLabelValues(pathIntake, "accepted")
	for deadline := time.Now().Add(10 * time.Second); testutil.ToFloat64(accepted) < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%v of %d intake events accepted", testutil.ToFloat64(accepted), n)
		}
	}
	var info *jetstream.StreamInfo
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if info, err = stream.Info(t.Context()); err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 || time.Now().After(deadline) {
			break
		}
	}
	if info.State.Msgs != 0 || info.State.LastSeq < n {
		t.Errorf("intake stream after its events were taken: %d messages (last %d), want none", info.State.Msgs, info.State.LastSeq)
	}
	if !info.Config.DenyPurge || !info.Config.DenyDelete {
		t.Errorf("intake stream: deny purge %v, deny delete %v", info.Config.DenyPurge, info.Config.DenyDelete)
	}
	if err := stream.Purge(t.Context()); err == nil {
		t.Error("the intake stream was purged")
	}
}
