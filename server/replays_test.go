package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestWhatIfsRunOneAtATime: while a what-if or an apply runs, another
// waits for it, and one whose request ends first is told why.
func TestWhatIfsRunOneAtATime(t *testing.T) {
	ctx := context.Background()
	srv := memoryServer(t)
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
