package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/ingest"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/projections"
)

// TestUnknownCodeWaitsForTheCatalog: right after a start, before the
// catalog has read the fact log, a code it does not know yet is not
// answered 404 at once: the request waits for the catalog, then gets the
// redirect (the code was in the log) or the 404 (it was not).
func TestUnknownCodeWaitsForTheCatalog(t *testing.T) {
	ctx := context.Background()
	var catalog []events.Fact
	for _, raw := range []string{
		`{"specversion":"1.0","id":"p","source":"t","type":"partner.registered","time":"2024-01-01T00:00:00Z","data":{"partner_id":"maria","name":"Maria"}}`,
		`{"specversion":"1.0","id":"l","source":"t","type":"link.created","time":"2024-01-01T00:00:00Z","data":{"link_code":"maria-scm","partner_id":"maria","landing_url":"https://shop.example/scm"}}`,
	} {
		f, err := events.Decode([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		catalog = append(catalog, f)
	}
	srv := memoryServer(t, Config{}, catalog...)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	// Nothing runs yet: the catalog has not read the fact log.

	answered := make(chan int, 2)
	for _, code := range []string{"maria-scm", "nobody"} {
		go func() {
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/r/"+code, nil))
			answered <- rec.Code
		}()
	}
	select {
	case code := <-answered:
		t.Fatalf("answered %d before the catalog read the fact log", code)
	case <-time.After(200 * time.Millisecond):
	}
	go srv.Run(runCtx) // now the catalog catches up
	got := map[int]bool{<-answered: true, <-answered: true}
	if !got[http.StatusFound] || !got[http.StatusNotFound] {
		t.Fatalf("answers %v, want a 302 and a 404", got)
	}
}

// memoryServer returns a service configured by cfg over fresh in-memory
// logs whose fact log already holds facts. It does not run yet.
func memoryServer(t *testing.T, cfg Config, facts ...events.Fact) *Server {
	t.Helper()
	ctx := context.Background()
	mem := store.NewMemory()
	factLog, _ := mem.Log(ctx, store.FactsLog)
	ledgerLog, _ := mem.Log(ctx, store.LedgerLog)
	if len(facts) > 0 {
		in, _ := ingest.Open(ctx, factLog)
		if _, err := in.Submit(ctx, facts); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := New(ctx, cfg, factLog, ledgerLog)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// A redirect waiting after a start finds its link as soon as the catalog
// has it (put in place from its snapshot), without waiting for the read
// models to follow the fact log up. The wait is given an hour: finding the
// link at all, with the read models never following up, can only come
// from the catalog, whatever the speed of the machine.
func TestWaitForLinkEndsWhenTheCatalogHasIt(t *testing.T) {
	link, err := events.Decode([]byte(`{"specversion":"1.0","id":"l","source":"t","type":"link.created","time":"2024-01-01T00:00:00Z","data":{"link_code":"maria-scm","partner_id":"maria","landing_url":"https://shop.example/scm"}}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := memoryServer(t, Config{}) // not running: the read models never follow up
	found := make(chan bool, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // a wait that never ends is not left behind
	go func() {
		_, ok := srv.live.waitForLink(ctx, "maria-scm", time.Hour)
		found <- ok
	}()
	// Give the wait time to begin (on a loaded machine it may begin
	// later: the link is then there at once, which passes too).
	time.Sleep(20 * time.Millisecond)
	select {
	case ok := <-found:
		t.Fatalf("the wait ended (found %v) before the catalog had the link", ok)
	default:
	}
	srv.live.catalog.ApplyFacts(projections.FactCommit{Facts: []events.Fact{link}})
	if ok := <-found; !ok || srv.live.followedUp.Load() {
		t.Fatalf("found %v (followed up: %v)", ok, srv.live.followedUp.Load())
	}
	if _, ok := srv.live.waitForLink(context.Background(), "nobody", 50*time.Millisecond); ok {
		t.Fatal("found a link nobody created")
	}
}

// The redirect writes its Set-Cookie by hand: it must be what http.Cookie
// writes for the same cookie.
func TestVisitorCookieHeaderIsHTTPCookies(t *testing.T) {
	for _, secure := range []bool{false, true} {
		want := (&http.Cookie{Name: visitorCookie, Value: "0123456789abcdef0123456789abcdef", Path: "/", MaxAge: visitorCookieDays * 24 * 3600,
			HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure}).String()
		if got := visitorCookieHeader("0123456789abcdef0123456789abcdef", secure); got != want {
			t.Errorf("secure %v: %q, want %q", secure, got, want)
		}
	}
}
