package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/refledger/refledger/events/jetstream"
	"github.com/refledger/refledger/events/store"
)

// TestMain lets the test binary act as refledger itself, so end-to-end
// tests can run the service as a real process and send it real signals.
func TestMain(m *testing.M) {
	if os.Getenv("REFLEDGER_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// service is a refledger serve process on loopback.
type service struct {
	t    *testing.T
	cmd  *exec.Cmd
	data string
	info ownerInfo
	log  *strings.Builder
	mu   sync.Mutex
	// logDone is closed once stderr is read to its end: Wait may only
	// be called after that, or the last lines are lost.
	logDone chan struct{}
}

func startService(t *testing.T, data string, extraEnv ...string) *service {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "serve", "--data", data, "--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0")
	cmd.Env = append(append(os.Environ(), "REFLEDGER_AS_MAIN=1"), extraEnv...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &service{t: t, cmd: cmd, data: data, log: &strings.Builder{}, logDone: make(chan struct{})}
	go func() {
		defer close(s.logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { s.stop() })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if info, ok := runningService(data); ok && info.PID == cmd.Process.Pid {
			s.info = info
			if resp, err := http.Get(info.HTTPURL + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return s
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("service did not become ready:\n%s", s.logs())
	return nil
}

// openLogs opens the service's logs through its NATS server, as a command
// beside it does (with the service's own secret from the data folder).
func (s *service) openLogs() (*jetstream.Store, error) {
	return jetstream.Connect(s.info.NATSURL, jetstream.Options{NATS: []nats.Option{nats.Token(s.info.NATSToken)}})
}

func (s *service) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// stop sends SIGTERM and waits for a clean exit.
func (s *service) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { <-s.logDone; done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			s.t.Errorf("service exited with %v:\n%s", err, s.logs())
		}
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		s.t.Errorf("service did not stop within 30s:\n%s", s.logs())
	}
}

func (s *service) do(method, path, token, body string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.info.HTTPURL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// decidedThrough is the fact-log position the service's ledger has
// decided through, as its ledger reads say (Refledger-Ledger-Facts-Through).
func (s *service) decidedThrough() uint64 {
	s.t.Helper()
	resp, err := noRedirect.Get(s.info.HTTPURL + "/v1/balances")
	if err != nil {
		s.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	n, _ := strconv.ParseUint(resp.Header.Get("Refledger-Ledger-Facts-Through"), 10, 64)
	return n
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}

// eventually polls until cond holds or 10 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestServiceEndToEnd(t *testing.T) {
	data := seededData(t)
	s := startService(t, data)

	// A click: 302 to the registered landing URL, never one from the request.
	resp, err := noRedirect.Get(s.info.HTTPURL + "/r/maria-scm?url=https://evil.example/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://shop.example/scm" {
		t.Fatalf("redirect = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var vid string
	for _, c := range resp.Cookies() {
		if c.Name == "rl_vid" {
			vid = c.Value
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.MaxAge < 300*24*3600 || len(c.Value) != 32 {
				t.Errorf("rl_vid cookie = %+v", c)
			}
		}
	}
	if vid == "" {
		t.Fatal("no rl_vid cookie")
	}
	if code, _ := s.do("GET", "/r/unknown-code", "", ""); code != 404 {
		t.Errorf("unknown code answered %d, want 404", code)
	}

	// An order over NATS request-reply with that visitor id.
	nc, err := nats.Connect(s.info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// One time for every order: a duplicate must repeat the payload exactly.
	orderTime := time.Now().UTC().Format(time.RFC3339Nano) // after the click, to the nanosecond
	order := func(id, amount string) string {
		return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"checkout","type":"order.placed","time":%q,"data":{"order_id":%q,"visitor_id":%q,"currency":"USD","lines":[{"line_id":"l1","product_id":"scm","quantity":1,"amount":%q}]}}`,
			id, orderTime, id, vid, amount)
	}
	request := func(body string) map[string]any {
		t.Helper()
		m, err := nc.Request("refledger.ingest", []byte(body), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var reply map[string]any
		json.Unmarshal(m.Data, &reply)
		return reply
	}
	if r := request(order("o-nats", "50.00")); r["status"] != "accepted" || r["position"] == nil {
		t.Fatalf("order reply = %v", r)
	}
	var ex struct {
		Decision  string  `json:"decision"`
		PartnerID *string `json:"partner_id"`
		Source    string  `json:"source"`
	}
	eventually(t, "the order's explanation", func() bool {
		code, body := s.do("GET", "/v1/orders/o-nats/explain", "", "")
		json.Unmarshal([]byte(body), &ex)
		return code == 200
	})
	if ex.Decision != "credited" || *ex.PartnerID != "maria" || ex.Source != "cookie" {
		t.Fatalf("explain = %+v", ex)
	}
	balances := func() string { _, b := s.do("GET", "/v1/balances?as_of=2099-01-01", "", ""); return b }
	if _, b := s.do("GET", "/v1/balances", "", ""); !strings.Contains(b, `"pending": "10.00"`) {
		t.Fatalf("balances do not show maria's 10.00 pending: %s", b)
	}

	// A click published after an order it came before (a tracker that
	// publishes late) has the service decide the order again.
	lateOrder := strings.NewReplacer(`"id":"o-nats"`, `"id":"o-late"`, `"order_id":"o-nats"`, `"order_id":"o-late"`, vid, "v-late").Replace(order("o-nats", "50.00"))
	if r := request(lateOrder); r["status"] != "accepted" {
		t.Fatalf("order reply = %v", r)
	}
	clickTime := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	lateClick := fmt.Sprintf(`{"specversion":"1.0","id":"late-click","source":"tracker","type":"click.recorded","time":%q,"data":{"click_id":"k-late","link_code":"roger-scm","visitor_id":"v-late"}}`, clickTime)
	if r := request(lateClick); r["status"] != "accepted" {
		t.Fatalf("late click reply = %v", r)
	}
	eventually(t, "the order decided again for the late click", func() bool {
		_, b := s.do("GET", "/v1/orders/o-late/explain", "", "")
		return strings.Contains(b, `"decided_again_by": "tracker/late-click"`) && strings.Contains(b, `"partner_id": "roger"`)
	})
	if _, b := s.do("GET", "/v1/commissions?kind=adjusted", "", ""); !strings.Contains(b, `"entry_id": "o-late/l1/t1/roger/adjusted/tracker/late-click"`) || !strings.Contains(b, `"amount": "10.00"`) || strings.Contains(b, `"kind": "accrued"`) {
		t.Errorf("adjustments of the order decided again: %s", b)
	}
	if code, b := s.do("GET", "/v1/commissions?kind=moved", "", ""); code != 400 || !strings.Contains(b, `"field": "kind"`) {
		t.Errorf("a kind that is none: %d %s", code, b)
	}

	// A duplicate changes nothing; a conflicting duplicate is rejected.
	if r := request(order("o-nats", "50.00")); r["status"] != "duplicate" {
		t.Errorf("duplicate reply = %v", r)
	}
	if r := request(order("o-nats", "60.00")); r["status"] != "rejected" {
		t.Errorf("conflicting duplicate reply = %v", r)
	}
	// Balances once the ledger has decided past both: a fact sent after
	// them, which changes no balance, has been folded.
	before := balances()
	marker := request(`{"specversion":"1.0","id":"after-duplicates","source":"forms","type":"contact.identified","time":"2017-09-01T00:00:00Z","data":{"visitor_id":"v-marker","contact_id":"c-marker"}}`)
	pos, _ := marker["position"].(float64)
	if marker["status"] != "accepted" || pos == 0 {
		t.Fatalf("marker reply = %v", marker)
	}
	eventually(t, "the ledger to decide through the marker", func() bool { return s.decidedThrough() >= uint64(pos) })
	if after := balances(); after != before {
		t.Errorf("a duplicate changed balances:\n%s\n%s", before, after)
	}

	// Malformed events are rejected with the field named, on NATS and HTTP.
	bad := strings.Replace(order("o-bad", "50.00"), `"amount":"50.00"`, `"amount":50`, 1)
	r := request(bad)
	if r["status"] != "rejected" || !strings.Contains(fmt.Sprint(r["error"]), "data.lines[0].amount") {
		t.Errorf("malformed NATS reply = %v", r)
	}
	code, body := s.do("POST", "/v1/events", "", bad)
	if code != 400 || !strings.Contains(body, `"field": "data.lines[0].amount"`) {
		t.Errorf("malformed HTTP = %d %s", code, body)
	}
	// A plain publish that is rejected is kept, not dropped.
	nc.Publish("refledger.ingest", []byte(`{"specversion":"1.0","id":"x"`))
	nc.Flush()
	eventually(t, "the kept rejection", func() bool {
		_, b := s.do("GET", "/v1/rejections", "", "")
		return strings.Contains(b, "malformed JSON")
	})
	// A JSON-lines batch over HTTP keeps every valid line.
	code, body = s.do("POST", "/v1/events", "", order("o-b1", "1.00")+"\n{oops\n"+order("o-b2", "2.00"))
	if code != 200 || !strings.Contains(body, `"accepted": 2`) || !strings.Contains(body, `"rejected": 1`) {
		t.Errorf("batch = %d %s", code, body)
	}
	// The CLI works against the running service.
	if out := mustCLI(t, "report", "commissions", "--data", data, "--order", "o-nats"); !strings.Contains(out, "maria") {
		t.Errorf("CLI against the running service: %s", out)
	}
	// An import beside the service appends; the service decides what it
	// appended (the command does not race its writer).
	file := filepath.Join(t.TempDir(), "beside.jsonl")
	os.WriteFile(file, []byte(order("o-import", "10.00")+"\n"), 0o644)
	if out := mustCLI(t, "import", file, "--data", data); !strings.Contains(out, "accepted   1") {
		t.Errorf("import beside the service: %s", out)
	}
	eventually(t, "the service deciding the imported order", func() bool {
		_, b := s.do("GET", "/v1/commissions?order=o-import", "", "")
		return strings.Contains(b, `"partner_id": "maria"`)
	})
}

func TestServiceAuth(t *testing.T) {
	const pub, fin, op = "publisher-token-0123456789", "finance-token-0123456789", "operator-token-0123456789"
	s := startService(t, t.TempDir(), "REFLEDGER_TOKENS=publisher:"+pub+",finance:"+fin+",operator:"+op)
	tests := []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/balances", "", 401},
		{"GET", "/v1/balances", "wrong-token-0123456789", 401},
		{"GET", "/v1/balances", pub, 403},
		{"GET", "/v1/balances", fin, 200},
		{"GET", "/v1/balances", op, 200},
		{"POST", "/v1/partners", fin, 403},
		{"POST", "/v1/events", fin, 403},
		{"GET", "/healthz", "", 200},
	}
	for _, tt := range tests {
		code, body := s.do(tt.method, tt.path, tt.token, `{}`)
		if code != tt.want {
			t.Errorf("%s %s with %q = %d %s, want %d", tt.method, tt.path, tt.token, code, body, tt.want)
		}
		if code == 401 || code == 403 {
			if !strings.Contains(body, "message") {
				t.Errorf("%d without a message: %s", code, body)
			}
		}
	}
	if code, body := s.do("POST", "/v1/partners", op, `{"partner_id":"p1","name":"P1"}`); code != 201 {
		t.Errorf("operator creating a partner = %d %s", code, body)
	}
}

// TestSIGTERMLosesNoAcknowledgedClick sends SIGTERM during a burst of
// clicks; after a restart, every click that got a 302 is in the log.
func TestSIGTERMLosesNoAcknowledgedClick(t *testing.T) {
	data := seededData(t)
	s := startService(t, data)
	var got302 atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	client := &http.Client{CheckRedirect: noRedirect.CheckRedirect, Timeout: 10 * time.Second}
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(s.info.HTTPURL + "/r/maria-scm")
				if err != nil {
					return // the service is going away
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 302 {
					got302.Add(1)
				}
			}
		}()
	}
	// SIGTERM mid-burst: once clicks are being redirected, however fast.
	eventually(t, "clicks redirected", func() bool { return got302.Load() >= 20 })
	s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.logDone
	s.cmd.Wait()
	close(stop)
	wg.Wait()
	if got302.Load() == 0 {
		t.Fatal("no click was redirected before the SIGTERM")
	}
	js, err := jetstream.OpenEmbedded(jetstream.EmbeddedConfig{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer js.Close()
	facts, _ := js.Log(context.Background(), store.FactsLog)
	clicks := 0
	facts.Read(context.Background(), 1, func(st store.Stored) error {
		for _, e := range st.Commit.Events {
			if e.Type == "click.recorded" {
				clicks++
			}
		}
		return nil
	})
	// The seed holds 0 redirect clicks of its own but 2 imported ones.
	if stored := int64(clicks - 2); stored < got302.Load() {
		t.Fatalf("%d clicks got a 302 but only %d are in the log", got302.Load(), stored)
	}
	t.Logf("%d clicks redirected, %d stored", got302.Load(), clicks-2)
}

// TestServiceReplayAPI runs a what-if and applies it over HTTP; the API's
// own reads show the restated ledger without waiting for a new fact.
func TestServiceReplayAPI(t *testing.T) {
	data := seededData(t)
	s := startService(t, data)
	code, body := s.do("POST", "/v1/replays", "", `{"policy":{"tracking":"cookies-only","credit":"last","cookie_days":30,"referral_days":0,"program_binding":"partner-programs","self_referral":"reject","holding_days":30,"payout_basis":"upfront"}}`)
	if code != 200 {
		t.Fatalf("what-if = %d %s", code, body)
	}
	var res struct {
		ReplayID string `json:"replay_id"`
		Changes  []struct {
			OrderID string `json:"order_id"`
		} `json:"changes"`
	}
	json.Unmarshal([]byte(body), &res)
	if len(res.Changes) != 1 || res.Changes[0].OrderID != "o-2017" {
		t.Fatalf("what-if changes = %+v", res.Changes)
	}
	if code, body := s.do("POST", "/v1/replays/"+res.ReplayID+"/apply", "", ""); code != 200 {
		t.Fatalf("apply = %d %s", code, body)
	}
	eventually(t, "o-2017 restated in the API", func() bool {
		_, b := s.do("GET", "/v1/orders/o-2017/explain", "", "")
		return strings.Contains(b, `"decision": "none"`)
	})
	if code, body := s.do("POST", "/v1/replays/"+res.ReplayID+"/apply", "", ""); code != 200 || !strings.Contains(body, `"already_applied": true`) {
		t.Errorf("second apply = %d %s", code, body)
	}
}

// TestServiceFinanceAPI covers the reads and writes finance uses: payouts
// (and their refusal), statements, CSV, referrals, refusals, OpenAPI, and
// the bounds on requests.
func TestServiceFinanceAPI(t *testing.T) {
	data := seededData(t)
	s := startService(t, data)
	// A payout within what is payable is paid; one over it is kept and
	// refused; the answer says which once the ledger has decided.
	if code, body := s.do("POST", "/v1/payouts", "", `{"payout_id":"po-1","partner_id":"roger","currency":"USD","amount":"100.00"}`); code != 201 || !strings.Contains(body, `"outcome": "paid"`) {
		t.Fatalf("payout = %d %s", code, body)
	}
	if code, body := s.do("POST", "/v1/payouts", "", `{"payout_id":"po-2","partner_id":"roger","currency":"USD","amount":"100.00"}`); code != 201 ||
		!strings.Contains(body, `"outcome": "refused"`) || !strings.Contains(body, "exceeds the 9.40 payable to roger") {
		t.Fatalf("second payout = %d %s (accepted as a fact, refused by the ledger)", code, body)
	}
	eventually(t, "the refused payout", func() bool {
		_, b := s.do("GET", "/v1/refusals", "", "")
		return strings.Contains(b, "exceeds the 9.40 payable to roger")
	})
	_, bal := s.do("GET", "/v1/balances?as_of=2099-01-01", "", "")
	if !strings.Contains(bal, `"paid": "100.00"`) || !strings.Contains(bal, `"payable": "9.40"`) {
		t.Errorf("balances after a payout: %s", bal)
	}
	code, body := s.do("GET", "/v1/partners/roger/statement?from=2017-01-01&to=2099-01-01", "", "")
	for _, want := range []string{`"opening": "10.00"`, `"accrued": "99.40"`, `"paid": "100.00"`, `"closing": "9.40"`} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("statement lacks %s: %d %s", want, code, body)
		}
	}
	if code, body := s.do("GET", "/v1/partners/rogr/statement", "", ""); code != 404 || !strings.Contains(body, `no partner \"rogr\"`) {
		t.Errorf("the statement of a partner nobody registered: %d %s, want 404 naming it", code, body)
	}
	if code, body := s.do("GET", "/v1/commissions?partner=maria&format=csv&as_of=2099-01-01", "", ""); code != 200 || !strings.HasPrefix(body, "entry_id,kind,order_id") || strings.Count(body, "\n") != 3 {
		t.Errorf("commissions CSV = %d %q", code, body)
	}
	if _, body := s.do("GET", "/v1/contacts/katie/referrals", "", ""); !strings.Contains(body, `"click_id": "clk-1"`) || !strings.Contains(body, `"partner_id": "roger"`) {
		t.Errorf("katie's referrals: %s", body)
	}
	// A period pages through a partner's history; a bad bound names itself.
	if _, body := s.do("GET", "/v1/partners/maria/clicks?from=2017-06-01T08:00:00Z&to=2017-06-01T08:00:01Z", "", ""); !strings.Contains(body, `"click_id": "clk-2"`) {
		t.Errorf("maria's clicks of the second of clk-2: %s", body)
	}
	if _, body := s.do("GET", "/v1/partners/maria/clicks?to=2017-06-01T08:00:00Z", "", ""); strings.Contains(body, "clk-2") {
		t.Errorf("maria's clicks before clk-2: %s", body)
	}
	if code, body := s.do("GET", "/v1/partners/maria/clicks?from=yesterday", "", ""); code != 400 || !strings.Contains(body, `"field": "from"`) {
		t.Errorf("a bad from: %d %s", code, body)
	}
	if _, body := s.do("GET", "/v1/partners/maria/clicks?format=csv", "", ""); !strings.Contains(body, "clk-2,2017-06-01T08:00:00Z,maria-scm,scm") {
		t.Errorf("maria's clicks CSV: %q", body)
	}
	if code, body := s.do("GET", "/v1/openapi.json", "", ""); code != 200 || !strings.Contains(body, `"/v1/replays/{id}/apply"`) {
		t.Errorf("openapi = %d", code)
	}
	if code, body := s.do("GET", "/v1/balances?as_of=yesterday", "", ""); code != 400 || !strings.Contains(body, `"field": "as_of"`) {
		t.Errorf("bad as_of = %d %s", code, body)
	}
	many := strings.Repeat(`{"specversion":"1.0"}`+"\n", 1001)
	if code, _ := s.do("POST", "/v1/events", "", many); code != 413 {
		t.Errorf("1001 events in one call = %d, want 413", code)
	}
	if code, _ := s.do("POST", "/v1/events", "", strings.Repeat("x", 5<<20)); code != 413 {
		t.Errorf("a 5 MiB body = %d, want 413", code)
	}
}

// TestRestartResumesFromTheSnapshot stops a service cleanly, starts it
// again, and checks that the ledger writer resumed from its snapshot with
// the same ledger, went on deciding, and that a damaged snapshot only
// costs a rebuild.
func TestRestartResumesFromTheSnapshot(t *testing.T) {
	data := seededData(t)
	order := func(id string) string {
		return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"checkout","type":"order.placed","time":"2024-05-01T10:00:00Z","data":{"order_id":%q,"contact_id":"katie","currency":"USD","lines":[{"line_id":"l1","product_id":"scm","quantity":1,"amount":"80.00"}]}}`, id, id)
	}
	ledgerState := func(s *service) string {
		_, commissions := s.do("GET", "/v1/commissions", "", "")
		_, balances := s.do("GET", "/v1/balances?as_of=2099-01-01", "", "")
		_, explain := s.do("GET", "/v1/orders/o-before/explain", "", "")
		return commissions + balances + explain
	}
	explained := func(s *service, id string) func() bool {
		return func() bool { code, _ := s.do("GET", "/v1/orders/"+id+"/explain", "", ""); return code == 200 }
	}

	s := startService(t, data)
	if code, body := s.do("POST", "/v1/events", "", order("o-before")); code != 201 {
		t.Fatalf("post order: %d %s", code, body)
	}
	eventually(t, "o-before decided", explained(s, "o-before"))
	before := ledgerState(s)
	s.stop()
	for _, of := range []string{"ledger writer", "ingest index"} {
		if !strings.Contains(s.logs(), "snapshot written\t{\"of\": \""+of+"\"") {
			t.Fatalf("no %s snapshot written on the way out:\n%s", of, s.logs())
		}
	}

	s = startService(t, data)
	eventually(t, "the writer and the index to say they resumed from their snapshots", func() bool {
		return strings.Contains(s.logs(), "resumed from its snapshot") && strings.Contains(s.logs(), "ingest index loaded from its snapshot")
	})
	if after := ledgerState(s); after != before {
		t.Fatalf("the ledger after a resume differs:\n%s\nbefore:\n%s", after, before)
	}
	if code, body := s.do("POST", "/v1/events", "", order("o-after")); code != 201 {
		t.Fatalf("post order: %d %s", code, body)
	}
	eventually(t, "o-after decided by the resumed writer", explained(s, "o-after"))
	withAfter := ledgerState(s)
	// A what-if reads the writer's snapshot and the ledger after it.
	whatIf := func(s *service) string {
		code, body := s.do("POST", "/v1/replays", "", `{"current":true}`)
		if code != 200 || !strings.Contains(body, `"noop": true`) {
			t.Fatalf("what-if under the current timeline: %d %s", code, body)
		}
		return body
	}
	whatIf(s)
	if strings.Contains(s.logs(), "what-if read the whole ledger log") {
		t.Fatalf("the what-if did not use the snapshot:\n%s", s.logs())
	}
	s.stop()

	path := filepath.Join(data, "snapshots", "ledger-writer.snap")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	os.WriteFile(path, b, 0o600)
	s = startService(t, data)
	eventually(t, "the damaged snapshot to be reported", func() bool {
		return strings.Contains(s.logs(), "rebuilt from the logs") && strings.Contains(s.logs(), "checksum")
	})
	if got := ledgerState(s); got != withAfter {
		t.Fatalf("the ledger rebuilt past a damaged snapshot differs:\n%s\nwant:\n%s", got, withAfter)
	}
	// The writer rebuilt but has not saved a new snapshot yet: a what-if
	// reads the whole ledger log, and says why.
	whatIf(s)
	eventually(t, "the what-if to say it read the whole ledger log", func() bool {
		return strings.Contains(s.logs(), "what-if read the whole ledger log")
	})
}

// TestServiceAppliesAReplayInParts applies through the API a replay too
// large for one ledger commit: the service's ledger takes all of it in,
// and a what-if under the timeline then in force changes nothing.
func TestServiceAppliesAReplayInParts(t *testing.T) {
	data, _ := largeReplayData(t)
	s := startService(t, data)
	code, body := s.do("POST", "/v1/replays", "", `{"policy":`+oneDayCookies+`}`)
	var res struct {
		ReplayID string            `json:"replay_id"`
		Changes  []json.RawMessage `json:"changes"`
	}
	if json.Unmarshal([]byte(body), &res); code != 200 || len(res.Changes) != largeReplayOrders {
		t.Fatalf("what-if = %d, %d changes", code, len(res.Changes))
	}
	if code, body := s.do("POST", "/v1/replays/"+res.ReplayID+"/apply", "", ""); code != 200 || !strings.Contains(body, fmt.Sprintf(`"adjustments": %d`, largeReplayOrders)) {
		t.Fatalf("apply = %d %s", code, body)
	}
	eventually(t, "the service's balances to take the whole apply in", func() bool {
		_, b := s.do("GET", "/v1/balances?as_of=2099-01-01", "", "")
		return strings.Contains(b, `"payable": "0.00"`) && strings.Contains(b, `"reversed": "2100.00"`)
	})
	if code, body := s.do("POST", "/v1/replays", "", `{"current":true}`); code != 200 || !strings.Contains(body, `"changes": []`) {
		t.Errorf("what-if under the timeline in force = %d %.300s", code, body)
	}
}

// TestServiceAppliesAReplayUnderLiveTraffic applies what-ifs while orders
// keep coming: a what-if the live ledger has moved past is run again and
// applied (or refused with 409 when the operator asks for no recompute),
// and with orders arriving throughout, the apply still lands and leaves a
// ledger that a what-if under the timeline in force finds nothing to change.
func TestServiceAppliesAReplayUnderLiveTraffic(t *testing.T) {
	data := seededData(t)
	s := startService(t, data)
	// Katie's orders with no cookie: maria's click (on a browser identified
	// as katie) earns them under the seed's history policy, nobody under
	// cookies-only.
	katieOrder := func(id string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"checkout","type":"order.placed","time":"2018-02-01T00:00:00Z","data":{"order_id":"` + id + `","contact_id":"katie","currency":"USD","lines":[{"line_id":"l1","product_id":"scm","quantity":1,"amount":"100.00"}]}}`
	}
	runWhatIf := func(policy string) (id string, ordersChanged int) {
		t.Helper()
		code, body := s.do("POST", "/v1/replays", "", `{"policy":`+policy+`}`)
		var res struct {
			ReplayID string `json:"replay_id"`
			Summary  struct {
				OrdersChanged int `json:"orders_changed"`
			} `json:"summary"`
		}
		if json.Unmarshal([]byte(body), &res); code != 200 {
			t.Fatalf("what-if = %d %s", code, body)
		}
		return res.ReplayID, res.Summary.OrdersChanged
	}
	decided := func(order string) {
		t.Helper()
		eventually(t, order+" decided", func() bool {
			_, b := s.do("GET", "/v1/orders/"+order+"/explain", "", "")
			return strings.Contains(b, `"order_id": "`+order+`"`)
		})
	}
	cookiesOnly := strings.Replace(oneDayCookies, `"cookie_days":1`, `"cookie_days":30`, 1)
	history := strings.Replace(cookiesOnly, `"cookies-only"`, `"referral-history-and-cookies"`, 1)

	// The ledger moves between a what-if and its apply.
	stale, changed := runWhatIf(cookiesOnly)
	if changed != 1 {
		t.Fatalf("the what-if changes %d orders, want 1 (o-2017)", changed)
	}
	if code, body := s.do("POST", "/v1/events", "", katieOrder("o-live-1")); code != 201 {
		t.Fatalf("order = %d %s", code, body)
	}
	decided("o-live-1")
	if code, body := s.do("POST", "/v1/replays/"+stale+"/apply?recompute=false", "", ""); code != 409 || !strings.Contains(body, "the ledger moved") {
		t.Fatalf("apply of a stale what-if without recompute = %d %s, want 409", code, body)
	}
	code, body := s.do("POST", "/v1/replays/"+stale+"/apply", "", "")
	var applied struct {
		Applied struct {
			Adjustments int `json:"adjustments"`
		} `json:"applied"`
		Recomputed *struct {
			ReplayID string `json:"replay_id"`
			Summary  struct {
				OrdersChanged int `json:"orders_changed"`
			} `json:"summary"`
		} `json:"recomputed"`
	}
	if json.Unmarshal([]byte(body), &applied); code != 200 || applied.Recomputed == nil {
		t.Fatalf("apply of a stale what-if = %d %s, want it recomputed", code, body)
	}
	if got := applied.Recomputed.Summary.OrdersChanged; got != 2 || applied.Applied.Adjustments != 2 {
		t.Fatalf("recomputed apply changed %d orders in %d adjustments, want o-2017 and o-live-1", got, applied.Applied.Adjustments)
	}
	if code, body := s.do("GET", "/v1/replays/"+applied.Recomputed.ReplayID, "", ""); code != 200 || !strings.Contains(body, `"order_id": "o-live-1"`) {
		t.Errorf("the recomputed what-if = %d %.300s", code, body)
	}
	if code, body := s.do("GET", "/v1/replays", "", ""); code != 200 || !strings.Contains(body, `"replay_id": "`+stale+`"`) || !strings.Contains(body, `"replay_id": "`+applied.Recomputed.ReplayID+`"`) || strings.Contains(body, `"changes"`) {
		t.Errorf("the held what-ifs = %d %.600s, want both, without their changes", code, body)
	}
	eventually(t, "o-live-1 restated", func() bool {
		_, b := s.do("GET", "/v1/orders/o-live-1/explain", "", "")
		return strings.Contains(b, `"decision": "none"`)
	})

	// Orders keep coming through a what-if and its apply: the test waits
	// for orders sent before the what-if, between it and the apply, and
	// after the apply, however fast the machine sends them.
	stop, sent := make(chan struct{}), make(chan int, 1)
	var accepted atomic.Int64
	go func() {
		n := 0
		defer func() { sent <- n }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond): // spaced, not counted on
			}
			resp, err := http.Post(s.info.HTTPURL+"/v1/events", "application/json", strings.NewReader(katieOrder(fmt.Sprintf("o-burst-%d", n))))
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			n++
			accepted.Add(1)
		}
	}()
	moreOrders := func(what string) {
		t.Helper()
		from := accepted.Load()
		eventually(t, "3 orders sent "+what, func() bool { return accepted.Load() >= from+3 })
	}
	moreOrders("before the what-if")
	back, _ := runWhatIf(history)
	moreOrders("between the what-if and its apply")
	code, body = s.do("POST", "/v1/replays/"+back+"/apply", "", "")
	moreOrders("after the apply")
	close(stop)
	n := <-sent
	if code != 200 {
		t.Fatalf("apply under traffic = %d %s", code, body)
	}
	decided(fmt.Sprintf("o-burst-%d", n-1))
	// Every order, before, during and after the apply, is maria's again.
	if _, changed := runWhatIf(history); changed != 0 {
		t.Errorf("after the apply under traffic, the policy in force still changes %d orders", changed)
	}
	_, b := s.do("GET", fmt.Sprintf("/v1/orders/o-burst-%d/explain", n-1), "", "")
	if !strings.Contains(b, `"partner_id": "maria"`) {
		t.Errorf("the last order sent is not maria's: %.400s", b)
	}
	t.Logf("%d orders sent during the what-if and the apply; %s", n, body)

	// Another policy applied since a what-if is not recomputed over: the
	// operator looks at it again.
	first, _ := runWhatIf(cookiesOnly)
	second, _ := runWhatIf(oneDayCookies)
	// (this one in the background, as behind a proxy that will not wait)
	code, body = s.do("POST", "/v1/replays/"+second+"/apply?async=true", "", "")
	var job struct {
		JobID   string `json:"job_id"`
		Status  string `json:"status"`
		Applied *struct {
			Applied struct {
				Adjustments int `json:"adjustments"`
			} `json:"applied"`
		} `json:"applied"`
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(body), &job); code != 202 || job.JobID == "" {
		t.Fatalf("async apply = %d %s", code, body)
	}
	eventually(t, "the apply job to end", func() bool {
		_, b := s.do("GET", "/v1/replays/jobs/"+job.JobID, "", "")
		json.Unmarshal([]byte(b), &job)
		return job.Status != "running"
	})
	if job.Status != "done" || job.Applied == nil || job.Applied.Applied.Adjustments == 0 {
		t.Fatalf("apply job: %+v", job)
	}
	if code, body := s.do("POST", "/v1/replays/"+first+"/apply", "", ""); code != 409 || !strings.Contains(body, "policy timeline in force changed") {
		t.Errorf("apply of a what-if made under another timeline = %d %s, want 409", code, body)
	}
	// The metrics count the applies by outcome, and the writer's pauses.
	_, m := s.do("GET", "/metrics", "", "")
	count := func(outcome string) int {
		n := 0
		if got := regexp.MustCompile(`refledger_replay_applies_total\{outcome="` + outcome + `"\} (\d+)`).FindStringSubmatch(m); got != nil {
			n, _ = strconv.Atoi(got[1])
		}
		return n
	}
	if count("conflict") != 2 || count("applied")+count("recomputed") != 3 || count("recomputed") < 1 {
		t.Errorf("apply metrics: conflict 2, applied and recomputed 3 in all, at least 1 recomputed:\n%s", m)
	}
	if strings.Contains(m, "refledger_ledger_paused_seconds_total 0\n") || !strings.Contains(m, "refledger_ledger_paused_seconds_total ") {
		t.Errorf("the writer's pauses are not counted:\n%s", m)
	}
	// Each apply handed the live writer its own fold: no history was
	// folded again.
	if n := strings.Count(s.logs(), "ledger writer went on with the replay's engine"); n != 3 || strings.Contains(s.logs(), "rebuilds after the replay") {
		t.Errorf("the live writer took the replay's engine %d times, want 3:\n%s", n, s.logs())
	}
	// The CLI beside the service replays what the service's ledger decided.
	if out := mustCLI(t, "replay", "--current", "--data", data, "--format", "json"); !strings.Contains(out, `"changes": []`) {
		t.Errorf("replay --current beside the service: %.300s", out)
	}
}

// TestCLIAppliesThroughTheService: replay --apply beside a running service
// goes through the service's API (which pauses its ledger writer), prints
// the replay it applied as it would alone, and leaves nothing to restate.
func TestCLIAppliesThroughTheService(t *testing.T) {
	data := seededData(t)
	s := startService(t, data)
	out := mustCLI(t, "replay", "--policy", filepath.Join(seedDir, "policy-cookies-only.json"), "--apply", "--data", data, "--format", "json")
	var doc struct {
		ReplayID string `json:"replay_id"`
		Changes  []struct {
			OrderID string `json:"order_id"`
		} `json:"changes"`
		Applied struct {
			Adjustments int `json:"adjustments"`
		} `json:"applied"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Changes) != 1 || doc.Changes[0].OrderID != "o-2017" || doc.Applied.Adjustments != 1 {
		t.Fatalf("replay --apply beside the service: %v\n%s", err, out)
	}
	if !strings.Contains(s.logs(), "ledger writer went on with the replay's engine") {
		t.Errorf("the apply did not go through the service:\n%s", s.logs())
	}
	if code, body := s.do("POST", "/v1/replays", "", `{"current":true}`); code != 200 || !strings.Contains(body, `"changes": []`) {
		t.Errorf("what-if under the timeline in force after the CLI's apply = %d %.300s", code, body)
	}
	// Again: already applied.
	if out := mustCLI(t, "replay", "--policy", filepath.Join(seedDir, "policy-cookies-only.json"), "--apply", "--data", data, "--format", "json"); !strings.Contains(out, `"already_applied": true`) {
		t.Errorf("a second replay --apply beside the service:\n%s", out)
	}

	// A service with tokens wants an operator's, from REFLEDGER_TOKEN.
	// Without it, the command says so and applies beside the service, as
	// it did before it went through the API.
	data = seededData(t)
	const op = "operator-token-0123456789"
	withTokens := startService(t, data, "REFLEDGER_TOKENS=operator:"+op)
	policy := filepath.Join(seedDir, "policy-link-program.json")
	code, out, errOut := cli(t, "replay", "--policy", policy, "--apply", "--data", data, "--format", "json")
	if code != 0 || !strings.Contains(errOut, "set REFLEDGER_TOKEN to an operator token") || !strings.Contains(out, `"adjustments": 1`) {
		t.Errorf("replay --apply beside a service with tokens, without one: exit %d: %s\n%s", code, errOut, out)
	}
	if strings.Contains(withTokens.logs(), "went on with the replay's engine") {
		t.Errorf("without a token the apply went through the service")
	}
	data = seededData(t)
	withTokens = startService(t, data, "REFLEDGER_TOKENS=operator:"+op)
	t.Setenv("REFLEDGER_TOKEN", op)
	if out := mustCLI(t, "replay", "--policy", policy, "--apply", "--data", data, "--format", "json"); !strings.Contains(out, `"adjustments": 1`) {
		t.Errorf("replay --apply with an operator token:\n%s", out)
	}
	eventually(t, "the apply through the service with a token", func() bool {
		return strings.Contains(withTokens.logs(), "went on with the replay's engine")
	})
}
