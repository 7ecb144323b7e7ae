package server

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/ingest"
)

// catchUpWait bounds how long a redirect to a code the catalog does not
// know yet waits for the catalog to catch up after a start.
const catchUpWait = 3 * time.Second

// redirect records a click and answers 302 to the link's landing URL, never
// to anything taken from the request. The click is durable before the 302.
// A HEAD, or a link-preview fetcher or crawler (previewAgents), gets the
// same 302 with no click recorded and no cookie set: nobody visited.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	link, ok := s.live.catalog.Link(code)
	if !ok && !s.live.followedUp.Load() {
		// The catalog is still loading or reading the fact log after a
		// start, and the link may be in it: wait a little before saying it
		// does not exist.
		if link, ok = s.live.waitForLink(r.Context(), code, catchUpWait); !ok && !s.live.followedUp.Load() {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "link_code", "link %q is not known yet: the service is still reading the fact log; try again", code)
			return
		}
	}
	if !ok {
		writeError(w, http.StatusNotFound, "link_code", "no link has the code %q", code)
		return
	}
	if reason := unrecordedReason(r); reason != "" {
		s.metrics.countUnrecorded(reason)
		h := w.Header()
		h["Cache-Control"] = noStore
		h["Location"] = []string{link.LandingURL}
		w.WriteHeader(http.StatusFound)
		return
	}
	visitor, from := visitorID(r), s.origin(r)
	click := events.Fact{
		ID: "clk-" + randomHex(12), Source: "refledger/redirect", Type: events.TypeClickRecorded,
		Time: s.cfg.now().Truncate(1e6),
		Data: &events.ClickRecorded{
			LinkCode: code, VisitorID: visitor,
			IP: s.recordedIP(from.ip), UserAgent: clip(r.UserAgent()), Referrer: clip(r.Referer()),
		},
	}
	click.Data.(*events.ClickRecorded).ClickID = click.ID
	outcomes, err := s.batch.submit(r.Context(), []events.Fact{click})
	if err != nil || outcomes[0].Status != ingest.Accepted {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "", "the click could not be recorded durably; try again")
		return
	}
	s.metrics.clicks.Inc()
	// The answer's headers are set directly, in their canonical form: a
	// redirect is the service's hottest path, and http.SetCookie and
	// http.Redirect (which also writes a small HTML body) cost a few
	// percent of it. The landing URL is absolute (link.created checks it).
	h := w.Header()
	h["Set-Cookie"] = []string{visitorCookieHeader(visitor, from.https)}
	h["Cache-Control"] = noStore
	h["Location"] = []string{link.LandingURL}
	w.WriteHeader(http.StatusFound)
}

var noStore = []string{"no-store"}

// visitorCookieHeader is the Set-Cookie value that keeps the visitor id
// for visitorCookieDays: HttpOnly, SameSite=Lax, and Secure over https,
// as http.Cookie would write it.
func visitorCookieHeader(visitor string, secure bool) string {
	const attrs = "; Path=/; Max-Age=" + visitorCookieMaxAge + "; HttpOnly"
	if secure {
		return visitorCookie + "=" + visitor + attrs + "; Secure; SameSite=Lax"
	}
	return visitorCookie + "=" + visitor + attrs + "; SameSite=Lax"
}

// visitorID keeps a well-formed rl_vid cookie, or makes a new random
// 128-bit one.
func visitorID(r *http.Request) string {
	if c, err := r.Cookie(visitorCookie); err == nil && len(c.Value) == 32 && isHex(c.Value) {
		return c.Value
	}
	return randomHex(16)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// clip bounds a header value recorded with a click.
func clip(s string) string { return clipTo(s, 512) }

func clipTo(s string, max int) string {
	if len(s) > max {
		return s[:max]
	}
	return s
}

// recordedIP is the client's address as a click records it: anonymised
// when configured, "" when unknown.
func (s *Server) recordedIP(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	if s.cfg.AnonymizeIP {
		bits := 48
		if ip.Is4() {
			bits = 24
		}
		ip = netip.PrefixFrom(ip, bits).Masked().Addr()
	}
	return ip.String()
}
