package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/projections"
)

// linkServer is a running in-memory service whose catalog knows the link
// maria-scm (landing on https://shop.example/scm), configured by cfg.
func linkServer(t *testing.T, cfg Config) *Server {
	t.Helper()
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
	srv := memoryServer(t, cfg, catalog...)
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	go srv.Run(ctx)
	for deadline := time.Now().Add(10 * time.Second); !srv.live.followedUp.Load(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the catalog never followed the fact log up")
		}
	}
	return srv
}

// clicksRecorded counts the click.recorded facts in srv's fact log.
func clicksRecorded(t *testing.T, srv *Server) int {
	t.Helper()
	n := 0
	err := projections.ReadFacts(context.Background(), srv.facts, 1, 0, func(fc projections.FactCommit) error {
		for _, f := range fc.Facts {
			if f.Type == events.TypeClickRecorded {
				n++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHeadAndPreviewBotsRecordNoClick: a HEAD on /r/{code} and a chat
// app's link preview get the redirect, and the fact log holds no click for
// them; a browser's GET records one. The metric counts each by reason.
func TestHeadAndPreviewBotsRecordNoClick(t *testing.T) {
	srv := linkServer(t, Config{})
	const browser = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
	for _, tt := range []struct {
		method, agent string
		clicks        int // in the fact log after the request
	}{
		{http.MethodHead, browser, 0},
		{http.MethodGet, "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", 0},
		{http.MethodGet, "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", 0},
		{http.MethodGet, "WhatsApp/2.23.20.0", 0},
		{http.MethodGet, "Mozilla/5.0 (compatible; DISCORDBOT/2.0; +https://discordapp.com)", 0},
		{http.MethodGet, browser, 1},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(tt.method, "/r/maria-scm", nil)
		req.Header.Set("User-Agent", tt.agent)
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusFound || rec.Header().Get("Location") != "https://shop.example/scm" {
			t.Errorf("%s by %q: %d to %q, want 302 to the landing URL", tt.method, tt.agent, rec.Code, rec.Header().Get("Location"))
		}
		if got := clicksRecorded(t, srv); got != tt.clicks {
			t.Errorf("%s by %q: %d clicks in the fact log, want %d", tt.method, tt.agent, got, tt.clicks)
		}
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{`refledger_redirects_unrecorded_total{reason="bot"} 4`, `refledger_redirects_unrecorded_total{reason="head"} 1`, "refledger_clicks_total 1"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, rec.Body.String())
		}
	}
}

// Browsers, in-app browsers included, are not preview agents.
func TestPreviewAgents(t *testing.T) {
	for agent, want := range map[string]bool{
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/440.0]":      false,
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36 Telegram-Android/10.14.5": false,
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 330.0.0":            false,
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0":              false,
		"":                              false,
		"curl/8.5.0":                    false,
		"TelegramBot (like TwitterBot)": true,
		"Twitterbot/1.0":                true,
		"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)":                                                                                     true,
		"Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5":                                                                                                           true,
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)":                                                                                                  true,
		"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)":                                                                                                   true,
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)": true,
	} {
		if got := isPreviewAgent(agent); got != want {
			t.Errorf("isPreviewAgent(%q) = %v, want %v", agent, got, want)
		}
	}
}
