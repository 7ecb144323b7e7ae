package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	cenats "github.com/cloudevents/sdk-go/protocol/nats/v2"
	cejs "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	ceclient "github.com/cloudevents/sdk-go/v2/client"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/nats-io/nats.go"
)

// The CloudEvents modes, sent by the official Go SDK's own clients to a
// running service (embedded JetStream, NATS, HTTP), each to land as a
// decided order: HTTP binary mode (the SDK's default) and structured mode,
// a batch, data_base64, JSON media types with parameters and +json, and
// extensions (taken, not stored); NATS structured (the SDK's core NATS
// sender) and binary mode (the SDK's JetStream sender, and its encoding
// published and requested on core NATS, through the intake and the core
// subscription). The same event in structured and in binary mode is a
// duplicate, never a conflict.

// sdkOrder is an order event built with the SDK, its data a JSON object.
func sdkOrder(t *testing.T, id string, at time.Time) cloudevents.Event {
	t.Helper()
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource("checkout")
	e.SetType("order.placed")
	e.SetTime(at)
	if err := e.SetData(cloudevents.ApplicationJSON, orderData(id)); err != nil {
		t.Fatal(err)
	}
	return e
}

func orderData(id string) map[string]any {
	return map[string]any{"order_id": id, "visitor_id": "v-" + id, "currency": "USD",
		"lines": []map[string]any{{"line_id": "l1", "product_id": "scm", "quantity": 1, "amount": "10.00"}}}
}

// waitDecided waits for the ledger to decide each order: its event landed.
func waitDecided(t *testing.T, svc *benchService, ids ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, id := range ids {
		for !svc.srv.live.ledgerView().Explained(id) {
			if time.Now().After(deadline) {
				t.Fatalf("order %s never landed", id)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// httpStatus is the HTTP status of an SDK send.
func httpStatus(t *testing.T, result error) int {
	t.Helper()
	var res *cehttp.Result
	if !cloudevents.ResultAs(result, &res) {
		t.Fatalf("not an HTTP result: %v", result)
	}
	return res.StatusCode
}

func TestCloudEventsModesOverHTTP(t *testing.T) {
	svc := startBench(t)
	defer svc.stop()
	client, err := cloudevents.NewClientHTTP(cloudevents.WithTarget(svc.url + "/v1/events"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	structured := cloudevents.WithEncodingStructured(ctx)
	at := time.Now().Add(-time.Minute).Round(0)

	base64Order := sdkOrder(t, "h-base64", at)
	raw, _ := json.Marshal(orderData("h-base64"))
	base64Order.SetData(cloudevents.ApplicationJSON, raw) // bytes: data_base64 in structured mode
	charset := sdkOrder(t, "h-charset", at)
	charset.SetData("application/json; charset=utf-8", orderData("h-charset"))
	charsetStructured := sdkOrder(t, "h-charset-s", at)
	charsetStructured.SetData("application/json; charset=utf-8", orderData("h-charset-s"))
	vendor := sdkOrder(t, "h-vendor", at)
	vendor.SetData("application/vnd.acme+json", orderData("h-vendor"))
	vendorStructured := sdkOrder(t, "h-vendor-s", at)
	vendorStructured.SetData("application/vnd.acme+json", orderData("h-vendor-s"))
	extensions := sdkOrder(t, "h-ext", at)
	extensions.SetSubject("h-ext")
	extensions.SetDataSchema("https://shop.example/schemas/order.json")
	extensions.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	extensionsStructured := extensions.Clone()
	extensionsStructured.SetID("h-ext-s")
	extensionsStructured.SetData(cloudevents.ApplicationJSON, orderData("h-ext-s"))

	for _, tc := range []struct {
		name  string
		ctx   context.Context
		event cloudevents.Event
	}{
		{"binary", ctx, sdkOrder(t, "h-binary", at)},
		{"structured", structured, sdkOrder(t, "h-structured", at)},
		{"data_base64", structured, base64Order},
		{"binary bytes", ctx, func() cloudevents.Event {
			e := base64Order.Clone()
			e.SetID("h-bytes")
			e.SetData(cloudevents.ApplicationJSON, marshalJSON(orderData("h-bytes")))
			return e
		}()},
		{"charset binary", ctx, charset},
		{"charset structured", structured, charsetStructured},
		{"+json binary", ctx, vendor},
		{"+json structured", structured, vendorStructured},
		{"extensions binary", ctx, extensions},
		{"extensions structured", structured, extensionsStructured},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := httpStatus(t, client.Send(tc.ctx, tc.event)); got != http.StatusCreated {
				t.Fatalf("answered %d, want 201", got)
			}
			waitDecided(t, svc, tc.event.ID())
		})
	}

	t.Run("structured then binary is a duplicate", func(t *testing.T) {
		e := sdkOrder(t, "h-twice", at)
		if got := httpStatus(t, client.Send(structured, e)); got != http.StatusCreated {
			t.Fatalf("structured answered %d, want 201", got)
		}
		if got := httpStatus(t, client.Send(ctx, e)); got != http.StatusOK {
			t.Fatalf("the same event in binary mode answered %d, want 200 (a duplicate)", got)
		}
		e.SetData(cloudevents.ApplicationJSON, marshalJSON(orderData("h-twice"))) // data_base64 now
		if got := httpStatus(t, client.Send(structured, e)); got != http.StatusOK {
			t.Fatalf("the same event with data_base64 answered %d, want 200 (a duplicate)", got)
		}
	})

	t.Run("batch", func(t *testing.T) {
		batch := []cloudevents.Event{sdkOrder(t, "h-batch-1", at), sdkOrder(t, "h-batch-2", at)}
		code, body := post(t, svc.url, http.Header{"Content-Type": {"application/cloudevents-batch+json; charset=utf-8"}}, marshalJSON(batch))
		if code != http.StatusOK || !strings.Contains(compact(body), `"accepted":2`) {
			t.Fatalf("%d %s", code, body)
		}
		waitDecided(t, svc, "h-batch-1", "h-batch-2")
		code, body = post(t, svc.url, http.Header{"Content-Type": {"application/cloudevents-batch+json"}}, marshalJSON(batch[0]))
		if code != http.StatusBadRequest || !strings.Contains(body, "JSON array") {
			t.Fatalf("a batch that is one object: %d %s", code, body)
		}
	})

	t.Run("binary by hand", func(t *testing.T) {
		h := http.Header{"Content-Type": {"application/json"}, "Ce-Specversion": {"1.0"}, "Ce-Id": {"h-curl"},
			"Ce-Source": {"checkout"}, "Ce-Type": {"order.placed"}, "Ce-Time": {at.Format(time.RFC3339Nano)}}
		if code, body := post(t, svc.url, h, marshalJSON(orderData("h-curl"))); code != http.StatusCreated {
			t.Fatalf("%d %s", code, body)
		}
		h.Del("Ce-Id")
		code, body := post(t, svc.url, h, marshalJSON(orderData("h-curl")))
		if code != http.StatusBadRequest || !strings.Contains(compact(body), `"field":"ce-id"`) {
			t.Fatalf("binary mode without ce-id: %d %s, want 400 naming ce-id", code, body)
		}
		h.Set("Ce-Id", "h-curl-text")
		h.Set("Content-Type", "text/plain")
		code, body = post(t, svc.url, h, []byte("an order"))
		if code != http.StatusBadRequest || !strings.Contains(compact(body), `"field":"datacontenttype"`) {
			t.Fatalf("binary mode with text: %d %s, want 400 naming datacontenttype", code, body)
		}
	})
}

func marshalJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// compact is an answer's JSON without its indentation.
func compact(body string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(body)) != nil {
		return body
	}
	return b.String()
}

func post(t *testing.T, url string, h http.Header, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/events", bytes.NewReader(body))
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func TestCloudEventsModesOverNATS(t *testing.T) {
	svc := startBench(t)
	defer svc.stop()
	url := svc.js.Server().ClientURL()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	at := time.Now().Add(-time.Minute).Round(0)

	// binaryMsg is the event as the SDK's NATS binary mode writes it.
	binaryMsg := func(e cloudevents.Event) *nats.Msg {
		var body bytes.Buffer
		header, err := cejs.WriteMsg(cloudevents.WithEncodingBinary(ctx), binding.ToMessage(&e), &body)
		if err != nil {
			t.Fatal(err)
		}
		if header.Get("ce-specversion") != "1.0" || header.Get("ce-id") != e.ID() {
			t.Fatalf("the SDK wrote headers %v", header)
		}
		return &nats.Msg{Subject: IngestSubject, Header: header, Data: body.Bytes()}
	}
	request := func(m *nats.Msg) Result {
		t.Helper()
		reply, err := nc.RequestMsg(m, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r Result
		if err := json.Unmarshal(reply.Data, &r); err != nil {
			t.Fatalf("%s: %v", reply.Data, err)
		}
		return r
	}

	t.Run("structured, SDK core NATS sender", func(t *testing.T) {
		sender, err := cenats.NewSenderFromConn(nc, IngestSubject)
		if err != nil {
			t.Fatal(err)
		}
		client, err := cloudevents.NewClient(sender)
		if err != nil {
			t.Fatal(err)
		}
		if res := client.Send(ctx, sdkOrder(t, "n-structured", at)); !cloudevents.IsACK(res) {
			t.Fatal(res)
		}
		waitDecided(t, svc, "n-structured") // through the intake
	})

	t.Run("binary, SDK JetStream sender", func(t *testing.T) {
		sender, err := cejs.NewSenderFromConn(nc, IntakeStream, IngestSubject, nil)
		if err != nil {
			t.Fatal(err)
		}
		client, err := cloudevents.NewClient(sender, ceclient.WithForceBinary())
		if err != nil {
			t.Fatal(err)
		}
		// A JetStream publish is a request: the stream acknowledges it,
		// and the core subscription answers it too; the SDK takes the
		// first answer, and when it is the service's it reports an
		// invalid acknowledgement. Either way the event lands.
		if res := client.Send(ctx, sdkOrder(t, "n-jetstream", at)); !cloudevents.IsACK(res) && !errors.Is(res, nats.ErrInvalidJSAck) {
			t.Fatal(res)
		}
		waitDecided(t, svc, "n-jetstream")
	})

	t.Run("binary, published", func(t *testing.T) {
		if err := nc.PublishMsg(binaryMsg(sdkOrder(t, "n-binary-pub", at))); err != nil {
			t.Fatal(err)
		}
		waitDecided(t, svc, "n-binary-pub") // through the intake, from the stream's headers
	})

	t.Run("binary, requested", func(t *testing.T) {
		if r := request(binaryMsg(sdkOrder(t, "n-binary-req", at))); r.Status != "accepted" {
			t.Fatalf("%+v", r)
		}
		waitDecided(t, svc, "n-binary-req")
	})

	t.Run("data_base64", func(t *testing.T) {
		e := sdkOrder(t, "n-base64", at)
		e.SetData(cloudevents.ApplicationJSON, marshalJSON(orderData("n-base64")))
		if r := request(&nats.Msg{Subject: IngestSubject, Data: marshalJSON(e)}); r.Status != "accepted" {
			t.Fatalf("%+v", r)
		}
	})

	t.Run("structured then binary is a duplicate", func(t *testing.T) {
		e := sdkOrder(t, "n-twice", at)
		e.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		if r := request(&nats.Msg{Subject: IngestSubject, Data: marshalJSON(e)}); r.Status != "accepted" {
			t.Fatalf("structured: %+v", r)
		}
		if r := request(binaryMsg(e)); r.Status != "duplicate" {
			t.Fatalf("the same event in binary mode: %+v, want a duplicate", r)
		}
	})

	t.Run("binary without ce-id", func(t *testing.T) {
		m := binaryMsg(sdkOrder(t, "n-no-id", at))
		m.Header.Del("ce-id")
		r := request(m)
		if r.Status != "rejected" || r.Error == nil || r.Error.Field != "ce-id" {
			t.Fatalf("%+v, want rejected naming ce-id", r)
		}
		m.Reply = ""
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if rejs := svc.srv.rejections.list(); len(rejs) > 0 {
				if got := rejs[len(rejs)-1]; got.Error.Field != "ce-id" || got.Source != "checkout" {
					t.Fatalf("recorded %+v", got)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal(fmt.Errorf("the publish without ce-id was never recorded as rejected"))
			}
		}
	})
}
