package esdb

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/refledger/refledger/events/esdb/esdbtest"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/events/store/storetest"
)

// TestConformanceInProcess runs the store's conformance suite through the
// real client against the in-process protocol server.
func TestConformanceInProcess(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		srv, err := esdbtest.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)
		s, err := Connect(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestConformanceRealServer runs the suite against a real EventStoreDB
// (KurrentDB) wherever EVENTSTORE_URL names one, as docker compose does.
func TestConformanceRealServer(t *testing.T) {
	url := os.Getenv("EVENTSTORE_URL")
	if url == "" {
		t.Skip("EVENTSTORE_URL is not set: no EventStoreDB server can run on this machine (set it, e.g. esdb://localhost:2113?tls=false with docker compose up eventstore)")
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		// Each subtest needs empty logs: a real server keeps streams, so
		// every subtest gets stream names of its own.
		s.prefix = fmt.Sprintf("refledger-test-%d-", time.Now().UnixNano())
		return s
	})
}
