package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// refused bounds the wait for the answer to what the server refuses: a
// permissions violation is never answered, so the request times out.
const refused = 300 * time.Millisecond

// TestNATSHasTheRolesOfHTTP: with tokens set, NATS asks for one as HTTP
// does. Before, the same event refused over HTTP without a token was
// accepted on NATS, and any client could read every fact, publish raw
// frames onto the log subjects and purge both logs.
func TestNATSHasTheRolesOfHTTP(t *testing.T) {
	const pub, fin, op = "publisher-token-0123456789", "finance-token-0123456789", "operator-token-0123456789"
	data := seededData(t)
	s := startService(t, data, "REFLEDGER_TOKENS=publisher:"+pub+",finance:"+fin+",operator:"+op)
	for _, o := range []struct {
		who string
		opt nats.Option
	}{{"anonymous", nil}, {"a wrong token", nats.Token("wrong-token-0123456789")}, {"finance", nats.Token(fin)}} {
		opts := []nats.Option{}
		if o.opt != nil {
			opts = append(opts, o.opt)
		}
		if nc, err := nats.Connect(s.info.NATSURL, opts...); err == nil {
			nc.Close()
			t.Errorf("%s connected to NATS", o.who)
		} else if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(err.Error(), "Authorization") {
			t.Errorf("%s: %v, want an authorization violation", o.who, err)
		}
	}

	event := `{"specversion":"1.0","id":"nats-auth-1","source":"checkout","type":"contact.identified","time":"2017-09-01T00:00:00Z","data":{"visitor_id":"v-na","contact_id":"c-na"}}`
	for _, o := range []struct {
		who string
		opt nats.Option
	}{{"publisher", nats.Token(pub)}, {"publisher as a password", nats.UserInfo("checkout", pub)}, {"operator", nats.Token(op)}} {
		nc, err := nats.Connect(s.info.NATSURL, o.opt)
		if err != nil {
			t.Fatalf("%s: %v", o.who, err)
		}
		defer nc.Close()
		reply, err := nc.Request("refledger.ingest", []byte(event), 10*time.Second)
		var res struct{ Status string }
		if err != nil || json.Unmarshal(reply.Data, &res) != nil || (res.Status != "accepted" && res.Status != "duplicate") {
			t.Fatalf("%s: an event on refledger.ingest: %v %v", o.who, err, reply)
		}
		if _, err := nc.Request("$JS.API.STREAM.DELETE.REFLEDGER_FACTS", nil, refused); err == nil {
			t.Fatalf("%s deleted the fact log", o.who)
		}
		if _, err := nc.Request("$JS.API.STREAM.PURGE.REFLEDGER_LEDGER", nil, refused); err == nil {
			t.Fatalf("%s purged the ledger log", o.who)
		}
		if _, err := nc.Request("refledger.log.facts", []byte("R\x01\x00"), refused); err == nil {
			t.Fatalf("%s wrote onto the fact log's subject", o.who)
		}
		// The service must not answer where the requester points it: before,
		// a request whose reply subject was a log subject had the service
		// (which may publish anywhere) write its answer into that log.
		for i, reply := range []string{"refledger.log.facts", "refledger.log.ledger"} {
			other := strings.Replace(event, "nats-auth-1", fmt.Sprintf("nats-auth-%s-%d", strings.ReplaceAll(o.who, " ", "-"), i), 1)
			if err := nc.PublishRequest("refledger.ingest", reply, []byte(other)); err != nil {
				t.Fatal(err)
			}
			if err := nc.PublishRequest("refledger.ingest.batch", reply, []byte(other)); err != nil {
				t.Fatal(err)
			}
		}
		// Nor may an operator make consumers: a push consumer delivers
		// wherever it is told (into the fact log), and pulling from the
		// intake's removes the events it has not taken.
		if _, err := nc.Request("$JS.API.CONSUMER.CREATE.REFLEDGER_LEDGER", []byte(`{"stream_name":"REFLEDGER_LEDGER","config":{"deliver_subject":"refledger.log.facts","ack_policy":"none"}}`), refused); err == nil {
			t.Fatalf("%s made a consumer of the ledger log delivering into the fact log", o.who)
		}
		if _, err := nc.Request("$JS.API.CONSUMER.MSG.NEXT.REFLEDGER_INTAKE.refledger-intake", []byte(`{"batch":1}`), refused); err == nil {
			t.Fatalf("%s pulled from the intake's consumer", o.who)
		}
		js, _ := jetstream.New(nc)
		wait := refused
		if o.who == "operator" {
			wait = 5 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		stream, err := js.Stream(ctx, "REFLEDGER_FACTS")
		if o.who == "operator" {
			// An operator reads the logs: the stream, and its messages.
			if err != nil {
				t.Fatalf("operator: stream info: %v", err)
			}
			if _, err := stream.GetMsg(ctx, 1); err != nil {
				t.Fatalf("operator: read a message: %v", err)
			}
		} else if err == nil {
			t.Fatalf("%s read the fact log's stream", o.who)
		}
		cancel()
	}
	// A command beside the service still comes through it (with the
	// service's own secret, which the data folder holds).
	if code, _, errOut := cli(t, "report", "balances", "--data", data); code != 0 {
		t.Fatalf("a report beside a service with tokens: exit %d: %s", code, errOut)
	}
	// The requests with a log subject for their reply were taken as plain
	// publishes; once the intake has them, nothing refused happened: both
	// logs are whole, with no foreign message in them, and the refused
	// batches are recorded.
	eventually(t, "the requests pointing at the logs appended", func() bool {
		_, body := s.do("GET", "/v1/rejections", fin, "")
		return strings.Count(body, `"field": "reply"`) == 6
	})
	if code, body := s.do("GET", "/readyz", "", ""); code != 200 {
		t.Fatalf("readyz after requests pointing at the logs: %d %s", code, body)
	}
	s.stop()
	if code, rep, errOut := checkJSON(t, data); code != 0 {
		t.Fatalf("check after the refused writes: exit %d %+v %s", code, rep, errOut)
	}
}

// TestNATSWithoutTokensTakesEventsOnly: with no tokens, NATS (on loopback)
// lets anyone publish events, and no more.
func TestNATSWithoutTokensTakesEventsOnly(t *testing.T) {
	s := startService(t, seededData(t))
	nc, err := nats.Connect(s.info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	event := `{"specversion":"1.0","id":"nats-open-1","source":"checkout","type":"contact.identified","time":"2017-09-01T00:00:00Z","data":{"visitor_id":"v-no","contact_id":"c-no"}}`
	if _, err := nc.Request("refledger.ingest", []byte(event), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Request("$JS.API.STREAM.PURGE.REFLEDGER_FACTS", nil, time.Second); err == nil {
		t.Fatal("an anonymous client purged the fact log")
	}
	if _, err := nc.Request("$JS.API.STREAM.INFO.REFLEDGER_FACTS", nil, time.Second); err == nil {
		t.Fatal("an anonymous client read the fact log's stream")
	}
}
