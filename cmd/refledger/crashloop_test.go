package main

// The crash loop: refledger serve is killed in the middle of a burst of
// clicks and orders, by SIGKILL and SIGTERM in turn, and restarted on the
// same data folder. After every restart, and once more at the end, it
// checks:
//
//   - every click answered 302 is in the fact log exactly once (each
//     request carries a User-Agent of its own, which the click keeps);
//   - every order acknowledged over NATS (accepted, or duplicate when it
//     was sent again) is in the fact log exactly once;
//   - nothing is in the fact log twice, acknowledged or not. An order that
//     got no answer is sent again, as a publisher would, in the next burst
//     (and at the end until it is acknowledged); so are the last few each
//     sender had acknowledged before the kill, as a publisher that lost
//     its own record of them would: the key holds forever, and across a
//     crash, so neither is ever stored twice;
//   - every crash-loop order in the fact log that earns has exactly one
//     accrued entry, of the commission it earns, and one that earns
//     nothing has none;
//   - refledger check finds no fault;
//   - SIGTERM ends with exit 0; SIGKILL just kills.
//
// REFLEDGER_CRASH_ROUNDS sets the rounds (default crashRoundsDefault, for
// CI); REFLEDGER_CRASH_SEED the seed of the kill times (default: the
// clock, logged so that a failure can be run again).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/server"
)

const (
	crashRoundsDefault = 3
	crashRoundsMax     = 100
	// Workers of a burst, and what each sends at most in one, should a
	// kill not come: the kill ends a burst well before.
	crashClickers           = 12
	crashOrderers           = 6
	crashClicksPerWorkerMax = 3000
	crashOrdersPerWorkerMax = 2000
	// The kill comes this long into a burst, drawn from the seed.
	crashKillAfterMsMin = 100
	crashKillAfterMsMax = 400
	// crashReapWait bounds how long a killed service takes to be gone
	// (a SIGTERM drains for up to shutdownGrace).
	crashReapWait       = 2 * shutdownGrace
	crashRequestTimeout = 5 * time.Second
	crashRetryPause     = 5 * time.Millisecond
	// crashResendsMax bounds the attempts to have an order acknowledged
	// at the end, against a service that runs.
	crashResendsMax = 20
	// crashResentAckedMax: each order sender's last acknowledged orders
	// that are sent again after the kill.
	crashResentAckedMax = 4
	crashAgentPrefix    = "refledger-crashloop/"
	crashOrderPrefix    = "crash-"
	// The seed's click clk-2 on maria-scm (2017-06-01, visitor v-phone)
	// is within its 30 days at crashOrderTime: an order of v-phone earns
	// maria 20% of its scm line of 10.00. Nobody's clicks are v-nobody's.
	crashOrderTime       = "2017-06-25T10:00:00Z"
	crashEarningVisitor  = "v-phone"
	crashIdleVisitor     = "v-nobody"
	crashCommission      = "2.00"
	crashCommissionTaker = "maria"
)

func TestCrashLoopLosesAndDoublesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash loop runs refledger serve as a process, round after round")
	}
	rounds := crashRounds(t)
	seed := crashSeed(t)
	t.Logf("crash loop: %d rounds, seed %d (REFLEDGER_CRASH_SEED=%d reruns it)", rounds, seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	data := seededData(t)
	began := time.Now()

	acks := crashAcks{clicks: map[string]bool{}, orders: map[string]bool{}}
	var tally crashTally
	var carried []crashOrder
	s := startService(t, data)
	for round := 1; round <= rounds; round++ {
		sig := syscall.SIGKILL
		if round%2 == 0 {
			sig = syscall.SIGTERM
		}
		killAfter := time.Duration(crashKillAfterMsMin+rng.IntN(crashKillAfterMsMax-crashKillAfterMsMin+1)) * time.Millisecond
		b := runCrashBurst(t, s, round, sig, killAfter, carried)
		tally.add(b, len(carried))
		acks.add(b)
		carried = append(b.unacked, b.lastAcked...)
		t.Logf("round %d: %v after %v: %d clicks answered 302, %d orders acknowledged, %d left unanswered",
			round, sig, killAfter, len(b.clicks), len(b.orders), len(b.unacked))

		s = startService(t, data)
		verifyCrashLoop(t, s, acks, fmt.Sprintf("after round %d", round))
		if t.Failed() {
			t.Fatalf("round %d (%v after %v) lost or doubled something; seed %d", round, sig, killAfter, seed)
		}
	}
	// A publisher sends what got no answer again until it gets one.
	final := resendUntilAcknowledged(t, s, carried)
	tally.add(final, len(carried))
	acks.add(final)
	found := verifyCrashLoop(t, s, acks, "at the end")
	if t.Failed() {
		t.Fatalf("lost or doubled something at the end; seed %d", seed)
	}
	t.Logf("%d rounds (%d SIGKILL, %d SIGTERM) in %v: %d clicks answered 302 and %d orders acknowledged, every one found exactly once (%d orders sent again after a crash, %d of them answered duplicate); %d orders in the log, %d of them earning, each accrued exactly once",
		rounds, (rounds+1)/2, rounds/2, time.Since(began).Round(time.Millisecond), len(acks.clicks), len(acks.orders),
		tally.resent, tally.duplicates, found.orders, found.earning)
}

func crashRounds(t *testing.T) int {
	v := os.Getenv("REFLEDGER_CRASH_ROUNDS")
	if v == "" {
		return crashRoundsDefault
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > crashRoundsMax {
		t.Fatalf("REFLEDGER_CRASH_ROUNDS=%q: want a number of rounds from 1 to %d", v, crashRoundsMax)
	}
	return n
}

func crashSeed(t *testing.T) uint64 {
	v := os.Getenv("REFLEDGER_CRASH_SEED")
	if v == "" {
		return uint64(time.Now().UnixNano())
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("REFLEDGER_CRASH_SEED=%q: want an unsigned integer", v)
	}
	return n
}

// crashOrder is an order as a publisher keeps it until it is answered:
// sent again, it is the same bytes.
type crashOrder struct{ id, body string }

func newCrashOrder(round, worker, n int) crashOrder {
	id := fmt.Sprintf("%sr%d-w%d-%d", crashOrderPrefix, round, worker, n)
	visitor := crashEarningVisitor
	if n%4 == 3 {
		visitor = crashIdleVisitor
	}
	body := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"checkout","type":"order.placed","time":%q,"datacontenttype":"application/json",`+
		`"data":{"order_id":%q,"visitor_id":%q,"currency":"USD","lines":[{"line_id":"l1","product_id":"scm","quantity":1,"amount":"10.00"}]}}`,
		id, crashOrderTime, id, visitor)
	return crashOrder{id: id, body: body}
}

// crashBurst is what one burst (or the final resend) got answered.
type crashBurst struct {
	clicks     []string     // User-Agents of the clicks answered 302
	orders     []crashOrder // orders acknowledged
	duplicates int          // of those, how many were answered duplicate
	unacked    []crashOrder // orders sent and not answered
	lastAcked  []crashOrder // each sender's last acknowledged orders
	refused    []string     // orders rejected: the test's own mistake
}

// crashTally counts the orders sent again after a crash, and how many of
// them were answered duplicate.
type crashTally struct{ resent, duplicates int }

func (t *crashTally) add(b crashBurst, resent int) {
	t.duplicates += b.duplicates
	t.resent += resent
}

// crashAcks is everything the service acknowledged so far.
type crashAcks struct {
	clicks map[string]bool // by User-Agent
	orders map[string]bool // by order id
}

func (a crashAcks) add(b crashBurst) {
	for _, ua := range b.clicks {
		a.clicks[ua] = true
	}
	for _, o := range b.orders {
		a.orders[o.id] = true
	}
}

// runCrashBurst sends clicks and orders from several goroutines, kills the
// service with sig after killAfter, and returns once it is reaped and
// every sender has stopped. The orders carried from the last round are
// sent first.
func runCrashBurst(t *testing.T, s *service, round int, sig syscall.Signal, killAfter time.Duration, carried []crashOrder) crashBurst {
	t.Helper()
	transport := &http.Transport{MaxIdleConnsPerHost: crashClickers}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, CheckRedirect: noRedirect.CheckRedirect, Timeout: crashRequestTimeout}
	// The server goes away mid-request: that is the point, so the
	// client's reports of broken writes are not printed.
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
	nc, err := nats.Connect(s.info.NATSURL, nats.NoReconnect(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	retry := make(chan crashOrder, len(carried))
	for _, o := range carried {
		retry <- o
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	clicks := make([][]string, crashClickers)
	orders := make([]crashBurst, crashOrderers)
	for w := range crashClickers {
		wg.Add(1)
		go func() { defer wg.Done(); clicks[w] = sendClicks(client, s.info.HTTPURL, round, w, stop) }()
	}
	for w := range crashOrderers {
		wg.Add(1)
		go func() { defer wg.Done(); orders[w] = sendOrders(nc, round, w, retry, stop) }()
	}
	time.Sleep(killAfter)
	killErr := killService(s, sig)
	close(stop)
	wg.Wait()
	if killErr != nil {
		t.Fatal(killErr)
	}

	var b crashBurst
	for _, c := range clicks {
		b.clicks = append(b.clicks, c...)
	}
	for _, o := range orders {
		b.orders = append(b.orders, o.orders...)
		b.duplicates += o.duplicates
		b.unacked = append(b.unacked, o.unacked...)
		b.lastAcked = append(b.lastAcked, o.orders[max(0, len(o.orders)-crashResentAckedMax):]...)
		b.refused = append(b.refused, o.refused...)
	}
	for len(retry) > 0 {
		b.unacked = append(b.unacked, <-retry)
	}
	if len(b.refused) > 0 {
		t.Fatalf("orders rejected (the test sends only valid ones): %v", firstFew(b.refused))
	}
	if len(b.clicks) == 0 || len(b.orders) == 0 {
		t.Fatalf("round %d: %d clicks and %d orders acknowledged before the kill: the burst tested nothing", round, len(b.clicks), len(b.orders))
	}
	return b
}

// sendClicks clicks maria-scm until stop, each request with a User-Agent
// of its own, and returns those answered 302. A browser does not send a
// click again: one that fails is just not acknowledged.
func sendClicks(client *http.Client, url string, round, worker int, stop <-chan struct{}) []string {
	var acked []string
	for n := range crashClicksPerWorkerMax {
		select {
		case <-stop:
			return acked
		default:
		}
		ua := fmt.Sprintf("%sr%d/w%d/%d", crashAgentPrefix, round, worker, n)
		req, _ := http.NewRequest(http.MethodGet, url+"/r/maria-scm", nil)
		req.Header.Set("User-Agent", ua)
		resp, err := client.Do(req)
		if err != nil {
			time.Sleep(crashRetryPause) // the service is going away
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusFound {
			acked = append(acked, ua)
		}
	}
	return acked
}

// sendOrders sends orders over NATS request-reply until stop, the carried
// ones first. An order not answered is sent again (the same bytes) until
// it is, or the burst ends: then it is left in unacked.
func sendOrders(nc *nats.Conn, round, worker int, retry <-chan crashOrder, stop <-chan struct{}) crashBurst {
	var b crashBurst
	var cur *crashOrder
	next := 0
	for range crashOrdersPerWorkerMax {
		select {
		case <-stop:
		default:
			if cur == nil {
				cur = nextCrashOrder(retry, round, worker, &next)
			}
			status := requestOrder(nc, cur.body)
			if status != "" {
				b.record(*cur, status)
				cur = nil
				continue
			}
			if !nc.IsClosed() {
				time.Sleep(crashRetryPause)
				continue
			}
			// The service died: nothing more gets through this connection.
		}
		break
	}
	if cur != nil {
		b.unacked = append(b.unacked, *cur)
	}
	return b
}

func nextCrashOrder(retry <-chan crashOrder, round, worker int, next *int) *crashOrder {
	select {
	case o := <-retry:
		return &o
	default:
	}
	o := newCrashOrder(round, worker, *next)
	*next++
	return &o
}

// requestOrder sends one order and returns the reply's status, or ""
// when there is no final answer (no reply, or status error).
func requestOrder(nc *nats.Conn, body string) string {
	m, err := nc.Request(server.IngestSubject, []byte(body), crashRequestTimeout)
	if err != nil {
		return ""
	}
	var r server.Result
	if json.Unmarshal(m.Data, &r) != nil || r.Status == "error" {
		return ""
	}
	return r.Status
}

func (b *crashBurst) record(o crashOrder, status string) {
	switch status {
	case "accepted":
		b.orders = append(b.orders, o)
	case "duplicate":
		b.orders = append(b.orders, o)
		b.duplicates++
	default:
		b.refused = append(b.refused, o.id+": "+status)
	}
}

// killService sends sig and waits for the process to be reaped (after a
// SIGKILL the kernel frees the data folder's lock only then). A SIGTERM
// must end in exit 0.
func killService(s *service, sig syscall.Signal) error {
	if err := s.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("send %v: %w", sig, err)
	}
	done := make(chan error, 1)
	go func() { <-s.logDone; done <- s.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(crashReapWait):
		s.cmd.Process.Kill()
		return fmt.Errorf("the service was not gone %v after %v:\n%s", crashReapWait, sig, s.logs())
	}
	ws, _ := s.cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case sig == syscall.SIGTERM && err != nil:
		return fmt.Errorf("after SIGTERM the service exited with %v, want 0:\n%s", err, s.logs())
	case sig == syscall.SIGKILL && !(ws.Signaled() && ws.Signal() == syscall.SIGKILL):
		return fmt.Errorf("after SIGKILL the service ended with %v, want killed:\n%s", err, s.logs())
	}
	return nil
}

// resendUntilAcknowledged sends each order to a running service until it
// is answered accepted or duplicate.
func resendUntilAcknowledged(t *testing.T, s *service, orders []crashOrder) crashBurst {
	t.Helper()
	nc, err := nats.Connect(s.info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var b crashBurst
	for _, o := range orders {
		status := ""
		for attempt := 0; status == "" && attempt < crashResendsMax; attempt++ {
			if status = requestOrder(nc, o.body); status == "" {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if status == "" {
			t.Fatalf("order %s got no answer in %d attempts:\n%s", o.id, crashResendsMax, s.logs())
		}
		b.record(o, status)
	}
	if len(b.refused) > 0 {
		t.Fatalf("orders sent again were rejected: %v", firstFew(b.refused))
	}
	return b
}

// crashFacts counts what the fact log holds of the crash loop.
type crashFacts struct {
	head     store.Position
	clicks   map[string]int  // by User-Agent
	clickIDs map[string]int  // every click.recorded, by click id
	orders   map[string]int  // by order id
	earns    map[string]bool // by order id: the order should earn
	// figures for the log
	earning int
}

// readCrashFacts reads the whole fact log through the service's NATS
// server, as another process would.
func readCrashFacts(t *testing.T, s *service) crashFacts {
	t.Helper()
	ctx := context.Background()
	js, err := s.openLogs()
	if err != nil {
		t.Fatal(err)
	}
	defer js.Close()
	facts, err := js.Log(ctx, store.FactsLog)
	if err != nil {
		t.Fatal(err)
	}
	f := crashFacts{clicks: map[string]int{}, clickIDs: map[string]int{}, orders: map[string]int{}, earns: map[string]bool{}}
	if f.head, err = facts.Head(ctx); err != nil {
		t.Fatal(err)
	}
	err = facts.Read(ctx, 1, func(st store.Stored) error {
		for _, e := range st.Commit.Events {
			if e.Type != events.TypeClickRecorded && e.Type != events.TypeOrderPlaced {
				continue
			}
			fact, err := events.DecodeStored(e.Type, e.Data)
			if err != nil {
				return fmt.Errorf("fact %s at %d: %w", e.ID, st.Position, err)
			}
			f.count(fact)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *crashFacts) count(fact events.Fact) {
	switch d := fact.Data.(type) {
	case *events.ClickRecorded:
		f.clickIDs[d.ClickID]++
		if strings.HasPrefix(d.UserAgent, crashAgentPrefix) {
			f.clicks[d.UserAgent]++
		}
	case *events.OrderPlaced:
		if strings.HasPrefix(d.OrderID, crashOrderPrefix) {
			f.orders[d.OrderID]++
			f.earns[d.OrderID] = d.VisitorID == crashEarningVisitor
		}
	}
}

type crashFound struct{ orders, earning int }

// verifyCrashLoop checks every invariant of the crash loop against the
// running service s, and returns what it found.
func verifyCrashLoop(t *testing.T, s *service, acks crashAcks, when string) crashFound {
	t.Helper()
	f := readCrashFacts(t, s)
	exactlyOnce(t, when, "clicks answered 302 (by User-Agent)", acks.clicks, f.clicks)
	atMostOnce(t, when, "click ids", f.clickIDs)
	exactlyOnce(t, when, "orders acknowledged", acks.orders, f.orders)

	settleLedger(t, s, f.head)
	accrued := accruedByOrder(t, s)
	var wrong []string
	found := crashFound{orders: len(f.orders)}
	for id, earns := range f.earns {
		want := 0
		if earns {
			want = 1
			found.earning++
		}
		if got := accrued[id]; len(got) != want || want == 1 && got[0] != crashCommissionTaker+" "+crashCommission {
			wrong = append(wrong, fmt.Sprintf("%s: %v, want %d of %s %s", id, got, want, crashCommissionTaker, crashCommission))
		}
	}
	for id := range accrued {
		if _, ok := f.earns[id]; !ok && strings.HasPrefix(id, crashOrderPrefix) {
			wrong = append(wrong, id+": accrued, but not in the fact log")
		}
	}
	if len(wrong) > 0 {
		slices.Sort(wrong)
		t.Errorf("%s: %d orders with the wrong accrued entries: %v", when, len(wrong), firstFew(wrong))
	}
	checkFindsNoFault(t, s.data, when)
	return found
}

// exactlyOnce: every acknowledged key is stored once, and no key (acknowledged
// or not) is stored twice.
func exactlyOnce(t *testing.T, when, what string, acked map[string]bool, stored map[string]int) {
	t.Helper()
	var lost []string
	for k := range acked {
		if stored[k] == 0 {
			lost = append(lost, k)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		t.Errorf("%s: %d of %d %s lost: %v", when, len(lost), len(acked), what, firstFew(lost))
	}
	atMostOnce(t, when, what, stored)
}

func atMostOnce(t *testing.T, when, what string, stored map[string]int) {
	t.Helper()
	var doubled []string
	for k, n := range stored {
		if n > 1 {
			doubled = append(doubled, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	if len(doubled) > 0 {
		slices.Sort(doubled)
		t.Errorf("%s: %d %s stored more than once: %v", when, len(doubled), what, firstFew(doubled))
	}
}

// settleLedger waits until the service is ready and its ledger has
// decided the fact log through head.
func settleLedger(t *testing.T, s *service, head store.Position) {
	t.Helper()
	eventually(t, fmt.Sprintf("the ledger to decide the fact log through %d", head), func() bool {
		code, body := s.do(http.MethodGet, "/readyz", "", "")
		var r struct {
			Through store.Position `json:"ledger_facts_through"`
		}
		return code == http.StatusOK && json.Unmarshal([]byte(body), &r) == nil && r.Through >= head
	})
}

// accruedByOrder lists the service's accrued entries by order id, each
// as "partner amount".
func accruedByOrder(t *testing.T, s *service) map[string][]string {
	t.Helper()
	code, body := s.do(http.MethodGet, "/v1/commissions?kind=accrued", "", "")
	var doc struct {
		Commissions []struct {
			OrderID   string `json:"order_id"`
			PartnerID string `json:"partner_id"`
			Amount    string `json:"amount"`
		} `json:"commissions"`
	}
	if err := json.Unmarshal([]byte(body), &doc); code != http.StatusOK || err != nil {
		t.Fatalf("GET /v1/commissions = %d, %v: %.300s", code, err, body)
	}
	out := map[string][]string{}
	for _, c := range doc.Commissions {
		out[c.OrderID] = append(out[c.OrderID], c.PartnerID+" "+c.Amount)
	}
	return out
}

// checkFindsNoFault runs refledger check in-process; beside the running
// service it reads the logs through the service's NATS server.
func checkFindsNoFault(t *testing.T, data, when string) {
	t.Helper()
	code, out, errOut := cli(t, "check", "--data", data, "--format", "json")
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || rep.Faults != 0 {
		t.Errorf("%s: refledger check: exit %d, %d faults (%v):\n%s\n%s", when, code, rep.Faults, err, out, errOut)
	}
}

// firstFew bounds what a failure prints.
func firstFew(s []string) []string {
	const n = 10
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... and %d more", len(s)-n))
	}
	return s
}
