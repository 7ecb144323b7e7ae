package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/projections"
)

// lastClick is the last click.recorded fact in srv's fact log.
func lastClick(t *testing.T, srv *Server) *events.ClickRecorded {
	t.Helper()
	var last *events.ClickRecorded
	err := projections.ReadFacts(context.Background(), srv.facts, 1, 0, func(fc projections.FactCommit) error {
		for _, f := range fc.Facts {
			if c, ok := f.Data.(*events.ClickRecorded); ok {
				last = c
			}
		}
		return nil
	})
	if err != nil || last == nil {
		t.Fatalf("no click in the fact log (%v)", err)
	}
	return last
}

// TestForwardedHeadersOnlyFromTrustedProxies: Forwarded (RFC 7239) and
// X-Forwarded-Proto/-For make the cookie Secure and name the client's
// address when a trusted proxy sends them, and are ignored from anyone
// else.
func TestForwardedHeadersOnlyFromTrustedProxies(t *testing.T) {
	srv := linkServer(t, Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ff::/48")}})
	for _, tt := range []struct {
		name, peer string
		headers    map[string]string
		secure     bool
		ip         string
	}{
		{"no headers", "203.0.113.5:40000", nil, false, "203.0.113.5"},
		{"Forwarded from an untrusted peer", "203.0.113.5:40000", map[string]string{"Forwarded": "for=198.51.100.7;proto=https"}, false, "203.0.113.5"},
		{"X-Forwarded-* from an untrusted peer", "203.0.113.5:40000", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}, false, "203.0.113.5"},
		{"Forwarded from a trusted proxy", "10.0.0.2:40000", map[string]string{"Forwarded": "for=198.51.100.7;proto=https"}, true, "198.51.100.7"},
		{"Forwarded, case and quotes", "10.0.0.2:40000", map[string]string{"Forwarded": `For="[2001:db8::1]:4711";Proto=HTTPS`}, true, "2001:db8::1"},
		{"Forwarded through two trusted proxies", "10.0.0.2:40000", map[string]string{"Forwarded": "for=198.51.100.7;proto=https, for=10.0.0.9;proto=http"}, true, "198.51.100.7"},
		{"Forwarded, a client's own element is not believed", "10.0.0.2:40000", map[string]string{"Forwarded": "for=192.0.2.66;proto=https, for=198.51.100.7;proto=http"}, false, "198.51.100.7"},
		{"Forwarded, http", "10.0.0.2:40000", map[string]string{"Forwarded": "for=198.51.100.7;proto=http"}, false, "198.51.100.7"},
		{"X-Forwarded-* from a trusted proxy", "[2001:db8:ff::3]:40000", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.0.2.66, 198.51.100.8"}, true, "198.51.100.8"},
		{"X-Forwarded-For through two trusted proxies", "10.0.0.2:40000", map[string]string{"X-Forwarded-For": "198.51.100.8, 10.0.0.3"}, false, "198.51.100.8"},
		{"Forwarded wins over X-Forwarded-*", "10.0.0.2:40000", map[string]string{"Forwarded": "for=198.51.100.7", "X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.8"}, false, "198.51.100.7"},
		{"a trusted proxy with no headers", "10.0.0.2:40000", nil, false, "10.0.0.2"},
		{"unparsable Forwarded from a trusted proxy", "10.0.0.2:40000", map[string]string{"Forwarded": "for=unknown;proto=https"}, true, "10.0.0.2"},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/r/maria-scm", nil)
		req.RemoteAddr = tt.peer
		for k, v := range tt.headers {
			req.Header.Set(k, v)
		}
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusFound {
			t.Fatalf("%s: %d", tt.name, rec.Code)
		}
		if secure := strings.Contains(rec.Header().Get("Set-Cookie"), "; Secure"); secure != tt.secure {
			t.Errorf("%s: cookie %q, want secure %v", tt.name, rec.Header().Get("Set-Cookie"), tt.secure)
		}
		if ip := lastClick(t, srv).IP; ip != tt.ip {
			t.Errorf("%s: click from %q, want %q", tt.name, ip, tt.ip)
		}
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.0.0.0/8, 192.168.1.7 ,2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	if want := "[10.0.0.0/8 192.168.1.7/32 2001:db8::/32]"; fmt.Sprint(got) != want {
		t.Errorf("parsed %v, want %s", got, want)
	}
	if got, err := ParseTrustedProxies(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v, %v", got, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example", "10.0.0.1/8"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
