package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/refledger/refledger/events"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Result(), string(b)
}

// TestLedgerReadsAnswer503WhileTheWriterCannotDecide: a ledger read never
// answers an empty or stale list as if it were current. Before, a ledger
// writer that could not open (a damaged ledger log) left /v1/balances
// answering 200 with an empty list.
func TestLedgerReadsAnswer503WhileTheWriterCannotDecide(t *testing.T) {
	partner, err := events.Decode([]byte(`{"specversion":"1.0","id":"p","source":"t","type":"partner.registered","time":"2024-01-01T00:00:00Z","data":{"partner_id":"maria","name":"Maria"}}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := memoryServer(t, Config{}, partner)
	h := srv.Handler()
	if resp, body := get(t, h, "/v1/balances"); resp.StatusCode != 503 || !strings.Contains(body, "still being opened") {
		t.Fatalf("balances before the writer opened: %d %s", resp.StatusCode, body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Run(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for resp, _ := get(t, h, "/readyz"); resp.StatusCode != 200; resp, _ = get(t, h, "/readyz") {
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, body := get(t, h, "/v1/balances")
	if resp.StatusCode != 200 || resp.Header.Get(headerLedgerThrough) != "1" || resp.Header.Get(headerFactsHead) != "1" {
		t.Fatalf("balances when ready: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	srv.health.set(problemWriter, errors.New("log ledger is damaged at position 7"))
	for _, path := range []string{"/v1/balances", "/v1/commissions", "/v1/partners/maria/statement", "/v1/orders/o/explain", "/v1/refusals"} {
		if resp, body := get(t, h, path); resp.StatusCode != 503 || !strings.Contains(body, "damaged at position 7") || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s while the writer cannot decide: %d %s", path, resp.StatusCode, body)
		}
	}
	if resp, body := get(t, h, "/readyz"); resp.StatusCode != 503 || !strings.Contains(body, `"ledger_writer"`) {
		t.Fatalf("readyz while the writer cannot decide: %d %s", resp.StatusCode, body)
	}
	srv.health.clear(problemWriter)
	if resp, body := get(t, h, "/readyz"); resp.StatusCode != 200 {
		t.Fatalf("readyz once the problem is over: %d %s", resp.StatusCode, body)
	}
}

// TestStuckWriterIsNotReady: a writer with facts waiting that decides
// none for the bound is reported, unless it is away (paused for a
// replay's apply, or rebuilding), and the report ends when it moves.
func TestStuckWriterIsNotReady(t *testing.T) {
	srv := memoryServer(t, Config{})
	l := srv.live
	l.stuckAfter = 50 * time.Millisecond
	l.factsHead.Store(5)
	l.factsFolded.Store(2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.watchProgress(ctx, 5*time.Millisecond)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	stuck := func() bool { _, ok := srv.health.has(problemStuck); return ok }
	waitFor("a stuck writer was not reported", stuck)
	if p, _ := srv.health.has(problemStuck); !strings.Contains(p.Reason, "3 fact commits wait") {
		t.Fatalf("reason %q", p.Reason)
	}
	l.factsFolded.Store(5)
	waitFor("the report did not end when the writer moved", func() bool { return !stuck() })
	l.writerAway.Store(true)
	l.factsHead.Store(9)
	time.Sleep(200 * time.Millisecond)
	if stuck() {
		t.Fatal("a writer away (paused or rebuilding) was reported stuck")
	}
}

// TestProblemsAreLoggedOncePerChange: a store that stays damaged is one
// log line, not one per retry (before, every half second).
func TestProblemsAreLoggedOncePerChange(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	h := newHealth(zap.New(core), time.Now)
	for range 10 {
		h.set(problemFactLog, errors.New("log facts is damaged at position 3"))
	}
	h.set(problemFactLog, errors.New("log facts is damaged at position 4"))
	h.clear(problemFactLog)
	h.clear(problemFactLog)
	if got := logs.Len(); got != 3 {
		t.Fatalf("%d log lines, want 3 (set, changed, over): %v", got, logs.All())
	}
}
