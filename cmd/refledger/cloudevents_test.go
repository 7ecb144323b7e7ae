package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	cejs "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/nats-io/nats.go"
)

// TestServiceTakesEveryCloudEventsMode: a `refledger serve` process takes
// events from the official Go SDK in binary mode (its HTTP client's
// default, and its NATS JetStream encoding, published and requested) and
// in structured mode, and the same event in the other mode is a
// duplicate.
func TestServiceTakesEveryCloudEventsMode(t *testing.T) {
	s := startService(t, t.TempDir())
	before := s.decidedThrough()
	ctx := context.Background()
	event := func(id string) cloudevents.Event {
		e := cloudevents.NewEvent()
		e.SetID(id)
		e.SetSource("crm")
		e.SetType("contact.identified")
		e.SetTime(time.Now().Add(-time.Minute))
		e.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		e.SetData("application/json; charset=utf-8", map[string]string{"visitor_id": "v-" + id, "contact_id": "c-" + id})
		return e
	}
	client, err := cloudevents.NewClientHTTP(cloudevents.WithTarget(s.info.HTTPURL + "/v1/events"))
	if err != nil {
		t.Fatal(err)
	}
	send := func(ctx context.Context, e cloudevents.Event, want int) {
		t.Helper()
		var res *cehttp.Result
		if r := client.Send(ctx, e); !cloudevents.ResultAs(r, &res) || res.StatusCode != want {
			t.Fatalf("HTTP %s: %v, want %d", e.ID(), r, want)
		}
	}
	httpEvent := event("http-1")
	send(ctx, httpEvent, 201)                                           // binary mode
	send(cloudevents.WithEncodingStructured(ctx), httpEvent, 200)       // a duplicate
	send(cloudevents.WithEncodingStructured(ctx), event("http-2"), 201) // structured mode

	nc, err := nats.Connect(s.info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	binaryMsg := func(e cloudevents.Event) *nats.Msg {
		var body bytes.Buffer
		header, err := cejs.WriteMsg(cloudevents.WithEncodingBinary(ctx), binding.ToMessage(&e), &body)
		if err != nil {
			t.Fatal(err)
		}
		return &nats.Msg{Subject: "refledger.ingest", Header: header, Data: body.Bytes()}
	}
	request := func(m *nats.Msg, want string) {
		t.Helper()
		reply, err := nc.RequestMsg(m, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r struct{ Status string }
		if json.Unmarshal(reply.Data, &r); r.Status != want {
			t.Fatalf("NATS: %s, want %s", reply.Data, want)
		}
	}
	natsEvent := event("nats-1")
	request(binaryMsg(natsEvent), "accepted")
	structured, _ := json.Marshal(natsEvent)
	request(&nats.Msg{Subject: "refledger.ingest", Data: structured}, "duplicate")
	request(binaryMsg(httpEvent), "duplicate") // across transports too
	if err := nc.PublishMsg(binaryMsg(event("nats-2"))); err != nil {
		t.Fatal(err)
	}
	// Four events stored: http-1, http-2, nats-1 and, through the intake,
	// nats-2.
	eventually(t, "the published binary-mode event", func() bool { return s.decidedThrough() >= before+4 })
	if code, body := s.do("GET", "/v1/rejections", "", ""); code != 200 || bytes.Contains([]byte(body), []byte("nats-2")) {
		t.Fatalf("rejections %d %s", code, body)
	}
}
