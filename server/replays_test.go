package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/refledger/refledger/events"
)

// TestWhatIfsRunOneAtATime: while a what-if or an apply runs, another
// waits for it, and one whose request ends first is told why.
func TestWhatIfsRunOneAtATime(t *testing.T) {
	ctx := context.Background()
	srv := memoryServer(t, Config{})
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go srv.Run(runCtx)
	whatIf := func(ctx context.Context) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/replays", strings.NewReader(`{"current":true}`))
		srv.Handler().ServeHTTP(rec, req)
		return rec
	}

	srv.replaying <- struct{}{} // a what-if is running
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if rec := whatIf(short); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "another what-if or apply is running") {
		t.Fatalf("a what-if beside a running one = %d %s", rec.Code, rec.Body.String())
	}
	answered := make(chan int, 1)
	go func() { answered <- whatIf(ctx).Code }()
	select {
	case code := <-answered:
		t.Fatalf("a what-if answered %d while another ran", code)
	case <-time.After(200 * time.Millisecond):
	}
	<-srv.replaying // the running one ends
	if code := <-answered; code != http.StatusOK {
		t.Fatalf("the waiting what-if = %d, want 200", code)
	}
}

// TestLongWhatIfsLogTheirProgress: a what-if logs how far it has got (every
// 10 s in service; every fact here).
func TestLongWhatIfsLogTheirProgress(t *testing.T) {
	defer func(every time.Duration) { replayProgressEvery = every }(replayProgressEvery)
	replayProgressEvery = 0
	core, logs := observer.New(zap.InfoLevel)
	order, err := events.Decode([]byte(`{"specversion":"1.0","id":"o","source":"t","type":"order.placed","time":"2024-01-01T00:00:00Z","data":{"order_id":"o","currency":"USD","lines":[{"line_id":"l1","product_id":"p","quantity":1,"amount":"10.00"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := memoryServer(t, Config{Log: zap.New(core)}, order)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.Run(ctx)
	// The what-if replays what the live ledger has decided: wait for it.
	for deadline := time.Now().Add(10 * time.Second); !srv.live.ledgerView().Covers(1); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the live ledger never decided the order")
		}
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/replays", strings.NewReader(`{"current":true}`)))
	if rec.Code != http.StatusOK {
		t.Fatalf("what-if = %d %s", rec.Code, rec.Body.String())
	}
	lines := logs.FilterMessage("what-if in progress").All()
	if len(lines) == 0 || lines[0].ContextMap()["facts_done"] != uint64(1) {
		t.Fatalf("progress lines: %+v", lines)
	}
}
