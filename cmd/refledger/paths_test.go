package main

// Paths of the command that no other test ran (issue 28): serve on an
// external NATS JetStream (--nats-url, what docker-compose runs), serve on
// EventStoreDB (--eventstore-url), the health check compose runs
// (refledger health), and replay --explain.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/refledger/refledger/events/esdb/esdbtest"
	"github.com/refledger/refledger/events/jetstream"
)

// TestServeOnExternalNATS runs serve --nats-url against a nats-server with
// JetStream that the test starts, as docker-compose runs it: the seed
// imported into that server, a click and an order (the order published on
// the external server's refledger.ingest), the commission in the
// balances, health answering 0 while it serves and not after.
func TestServeOnExternalNATS(t *testing.T) {
	ns, err := jetstream.StartServer(jetstream.EmbeddedConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	serveOnExternalStore(t, []string{"--nats-url", ns.ClientURL()}, func(t *testing.T, order string) {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		m, err := nc.Request("refledger.ingest", []byte(order), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(m.Data), `"accepted"`) {
			t.Fatalf("order on the external NATS server: %s", m.Data)
		}
	})
}

// TestServeOnEventStoreDB runs serve --eventstore-url (openEventStore)
// against the in-process EventStoreDB protocol server, orders sent over
// HTTP.
func TestServeOnEventStoreDB(t *testing.T) {
	es, err := esdbtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer es.Stop()
	serveOnExternalStore(t, []string{"--eventstore-url", es.URL()}, nil)
}

var servingHTTP = regexp.MustCompile(`refledger serving\t.*"http": "([^"]+)"`)

// serveOnExternalStore imports the seed into the store storeArgs name,
// serves it, clicks maria's link, places an order with the click's
// visitor (through publish, or over HTTP when it is nil), and checks that
// the service and then the CLI, after the service stopped, see maria's
// commission.
func serveOnExternalStore(t *testing.T, storeArgs []string, publish func(t *testing.T, order string)) {
	data := t.TempDir()
	with := func(args ...string) []string { return append(append(args, storeArgs...), "--data", data) }
	mustCLI(t, with("import", filepath.Join(seedDir, "events.jsonl"))...)

	p := startProc(t, with("serve", "--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0")...)
	select {
	case <-p.serving:
	case err := <-p.exited:
		t.Fatalf("serve %v ended (%v) before serving:\n%s", storeArgs, err, p.logs())
	}
	m := servingHTTP.FindStringSubmatch(p.logs())
	if m == nil {
		t.Fatalf("serve did not log its HTTP address:\n%s", p.logs())
	}
	s := &service{t: t, info: ownerInfo{HTTPURL: m[1]}}
	health := func() (int, string) {
		code, out, errOut := cli(t, "health", "--url", s.info.HTTPURL+"/readyz")
		return code, out + errOut
	}
	eventually(t, "the service ready (refledger health answering 0)", func() bool { code, _ := health(); return code == 0 })
	if code, out := health(); code != 0 || strings.TrimSpace(out) != "ready" {
		t.Fatalf("health of a ready service: exit %d: %s", code, out)
	}

	resp, err := noRedirect.Get(s.info.HTTPURL + "/r/maria-scm")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	vid := visitorCookieOf(resp)
	if resp.StatusCode != http.StatusFound || vid == "" {
		t.Fatalf("click = %d, rl_vid %q", resp.StatusCode, vid)
	}
	order := fmt.Sprintf(`{"specversion":"1.0","id":"o-ext","source":"checkout","type":"order.placed","time":%q,"data":{"order_id":"o-ext","visitor_id":%q,"currency":"USD","lines":[{"line_id":"l1","product_id":"scm","quantity":1,"amount":"50.00"}]}}`,
		time.Now().UTC().Format(time.RFC3339Nano), vid)
	if publish != nil {
		publish(t, order)
	} else if code, body := s.do("POST", "/v1/events", "", order); code != http.StatusCreated {
		t.Fatalf("order = %d %s", code, body)
	}
	eventually(t, "o-ext credited to maria", func() bool {
		_, b := s.do("GET", "/v1/commissions?order=o-ext", "", "")
		return strings.Contains(b, `"partner_id": "maria"`) && strings.Contains(b, `"amount": "10.00"`)
	})
	if _, b := s.do("GET", "/v1/balances?as_of=2099-01-01", "", ""); !strings.Contains(b, `"partner_id": "maria"`) {
		t.Errorf("balances: %s", b)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("serve %v exited %d:\n%s", storeArgs, code, p.logs())
	}
	if code, out := health(); code != 1 || !strings.Contains(out, "health:") {
		t.Errorf("health of a stopped service: exit %d: %s, want 1 and the reason", code, out)
	}
	var rep struct {
		Commissions []struct {
			PartnerID string `json:"partner_id"`
			Amount    string `json:"amount"`
		} `json:"commissions"`
	}
	cliJSON(t, &rep, with("report", "commissions", "--order", "o-ext")...)
	if len(rep.Commissions) != 1 || rep.Commissions[0].PartnerID != "maria" || rep.Commissions[0].Amount != "10.00" {
		t.Errorf("o-ext in the store after the service stopped: %+v", rep.Commissions)
	}
}

// visitorCookieOf is the rl_vid a redirect set, or "".
func visitorCookieOf(resp *http.Response) string {
	for _, c := range resp.Cookies() {
		if c.Name == "rl_vid" {
			return c.Value
		}
	}
	return ""
}

// refledger health answers 0 only for a 200 from the readiness endpoint:
// a 503 (catching up, or a problem), an unreachable service and a bad URL
// are each an exit of their own, and say why.
func TestHealthExitStatus(t *testing.T) {
	status := http.StatusOK
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer ts.Close()
	srv := ts.URL
	tests := []struct {
		name   string
		status int
		url    string
		code   int
		says   string
	}{
		{"ready", http.StatusOK, srv + "/readyz", 0, "ready"},
		{"catching up", http.StatusServiceUnavailable, srv + "/readyz", 1, "503 Service Unavailable"},
		{"another path", http.StatusOK, srv + "/nothing", 1, "404 Not Found"},
		{"nobody listening", http.StatusOK, "http://127.0.0.1:1/readyz", 1, "health:"},
		{"a bad URL", http.StatusOK, "://", 2, "--url"},
	}
	for _, tt := range tests {
		status = tt.status
		code, out, errOut := cli(t, "health", "--url", tt.url)
		if code != tt.code || !strings.Contains(out+errOut, tt.says) {
			t.Errorf("%s: exit %d: %s%s, want exit %d saying %q", tt.name, code, out, errOut, tt.code, tt.says)
		}
	}
}

// replay --explain ORDER shows the order's explanation in the ledger and
// under the candidate policy, without applying it: under cookies-only the
// seed's o-2017 goes from roger's referral history to nobody.
func TestReplayExplain(t *testing.T) {
	data := seededData(t)
	policy := filepath.Join(seedDir, "policy-cookies-only.json")
	var doc struct {
		OrderID  string `json:"order_id"`
		ReplayID string `json:"replay_id"`
		Before   struct {
			Decision  string  `json:"decision"`
			PartnerID *string `json:"partner_id"`
			Source    string  `json:"source"`
		} `json:"before"`
		After struct {
			Decision   string `json:"decision"`
			Candidates []struct {
				PartnerID string `json:"partner_id"`
				Reason    string `json:"reason"`
			} `json:"candidates"`
		} `json:"after"`
	}
	cliJSON(t, &doc, "replay", "--policy", policy, "--explain", "o-2017", "--data", data)
	if doc.OrderID != "o-2017" || doc.ReplayID == "" || doc.Before.Decision != "credited" || doc.Before.PartnerID == nil || *doc.Before.PartnerID != "roger" || doc.Before.Source != "referral-history" {
		t.Errorf("o-2017 in the ledger: %+v", doc)
	}
	if doc.After.Decision != "none" || len(doc.After.Candidates) == 0 || !strings.Contains(doc.After.Candidates[0].Reason, "cookies-only") {
		t.Errorf("o-2017 under cookies-only: %+v", doc.After)
	}
	text := mustCLI(t, "replay", "--policy", policy, "--explain", "o-2017", "--data", data)
	if !strings.Contains(text, "=== in the ledger ===") || !strings.Contains(text, "=== under replay "+doc.ReplayID+" ===") {
		t.Errorf("replay --explain as text:\n%s", text)
	}
	// Nothing was applied: the ledger still credits roger.
	if out := mustCLI(t, "report", "commissions", "--order", "o-2017", "--data", data); !strings.Contains(out, "roger") {
		t.Errorf("o-2017 after replay --explain: %s", out)
	}
	if code, _, errOut := cli(t, "replay", "--policy", policy, "--explain", "o-none", "--data", data); code != 1 || !strings.Contains(errOut, "o-none") || !strings.Contains(errOut, "unknown order") {
		t.Errorf("replay --explain of an unknown order: exit %d: %s", code, errOut)
	}
}
