package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/projections"
)

const browserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"

// clicksIn returns the click.recorded facts in srv's fact log, in order.
func clicksIn(t *testing.T, srv *Server) []*events.ClickRecorded {
	t.Helper()
	var out []*events.ClickRecorded
	err := projections.ReadFacts(context.Background(), srv.facts, 1, 0, func(fc projections.FactCommit) error {
		for _, f := range fc.Facts {
			if c, ok := f.Data.(*events.ClickRecorded); ok {
				out = append(out, c)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// click sends a browser's GET /r/maria-scm from remote, with an rl_vid
// cookie when cookie is not "", and returns the rl_vid the answer sets.
func click(t *testing.T, srv *Server, remote, cookie string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/r/maria-scm", nil)
	req.Header.Set("User-Agent", browserAgent)
	req.RemoteAddr = remote
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: visitorCookie, Value: cookie})
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusFound {
		t.Fatalf("click = %d %s", rec.Code, rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == visitorCookie {
			return c.Value
		}
	}
	t.Fatal("the redirect set no rl_vid cookie")
	return ""
}

// A returning browser keeps its visitor id (CONTRACT §4: "kept if
// present"): clicks made with the cookie the first click set are one
// visitor's, which is what cookie attribution matches an order's rl_vid
// against. A browser without a cookie, or with a value that is not an id
// the service makes (32 lowercase hex digits), gets a fresh random id.
// It fails if visitorID minted an id per click, or if isHex or the length
// check let another value through.
func TestReturningVisitorKeepsItsID(t *testing.T) {
	srv := linkServer(t, Config{})
	first := click(t, srv, "192.0.2.1:1000", "")
	if len(first) != 32 || !isHex(first) {
		t.Fatalf("a new visitor id %q, want 32 lowercase hex digits", first)
	}
	if again := click(t, srv, "192.0.2.1:1000", first); again != first {
		t.Errorf("a returning browser got rl_vid %q, want its own %q kept", again, first)
	}
	if other := click(t, srv, "192.0.2.2:1000", ""); other == first {
		t.Errorf("two browsers without a cookie got the same id %q", other)
	}
	invalid := []string{
		"0123456789ABCDEF0123456789ABCDEF",  // upper case
		"0123456789abcdef0123456789abcde",   // 31 digits
		"0123456789abcdef0123456789abcdef0", // 33 digits
		"0123456789abcdef0123456789abcdeg",  // not hex
		"evil",
	}
	for _, bad := range invalid {
		if got := click(t, srv, "192.0.2.3:1000", bad); got == bad || len(got) != 32 || !isHex(got) || got == first {
			t.Errorf("rl_vid %q presented: got %q, want a fresh id", bad, got)
		}
	}
	clicks := clicksIn(t, srv)
	if len(clicks) != 3+len(invalid) {
		t.Fatalf("%d clicks recorded, want %d", len(clicks), 3+len(invalid))
	}
	if clicks[0].VisitorID != first || clicks[1].VisitorID != first || clicks[2].VisitorID == first {
		t.Errorf("clicks recorded for visitors %q, %q, %q; want %q twice, then another", clicks[0].VisitorID, clicks[1].VisitorID, clicks[2].VisitorID, first)
	}
	for i, c := range clicks[3:] {
		if c.VisitorID == invalid[i] {
			t.Errorf("a click recorded the invalid rl_vid %q as its visitor", c.VisitorID)
		}
	}
}

// With AnonymizeIP (serve --anonymize-ip) a click records its address
// without the host part: the last octet of IPv4, the last 80 bits of
// IPv6. Without it, the whole address.
func TestClickIPAnonymized(t *testing.T) {
	remotes := []string{"203.0.113.77:5555", "[2001:db8:1234:5678:9abc::1]:443"}
	for _, tt := range []struct {
		anonymize bool
		want      []string
	}{
		{false, []string{"203.0.113.77", "2001:db8:1234:5678:9abc::1"}},
		{true, []string{"203.0.113.0", "2001:db8:1234::"}},
	} {
		srv := linkServer(t, Config{AnonymizeIP: tt.anonymize})
		for _, remote := range remotes {
			click(t, srv, remote, "")
		}
		clicks := clicksIn(t, srv)
		if len(clicks) != len(remotes) {
			t.Fatalf("anonymize %v: %d clicks recorded", tt.anonymize, len(clicks))
		}
		for i, c := range clicks {
			if c.IP != tt.want[i] {
				t.Errorf("anonymize %v: a click from %s recorded IP %q, want %q", tt.anonymize, remotes[i], c.IP, tt.want[i])
			}
		}
	}
}
