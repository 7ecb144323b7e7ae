package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/projections"
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

// TestLongWhatIfsLogTheirProgress: a what-if, and the writer's rebuild,
// log how far they have got (every 10 s in service; every fact here).
func TestLongWhatIfsLogTheirProgress(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	order, err := events.Decode([]byte(`{"specversion":"1.0","id":"o","source":"t","type":"order.placed","time":"2024-01-01T00:00:00Z","data":{"order_id":"o","currency":"USD","lines":[{"line_id":"l1","product_id":"p","quantity":1,"amount":"10.00"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := memoryServer(t, Config{Log: zap.New(core), ProgressEvery: time.Nanosecond}, order)
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
	// So did the writer, opening on the fact log.
	lines = logs.FilterMessage("ledger writer catching up").All()
	if len(lines) == 0 || lines[len(lines)-1].ContextMap()["facts_folded"] != int64(1) {
		t.Fatalf("writer progress lines: %+v", lines)
	}
}

// TestReadModelsGoOnWhileTheWriterIsPaused: while the ledger writer is
// paused (an apply), the read models keep following the fact log past a
// full writer queue, and the writer, back, decides from the log every
// commit it was not handed.
func TestReadModelsGoOnWhileTheWriterIsPaused(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	srv := memoryServer(t, Config{Log: zap.New(core)})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.Run(ctx)
	post := func(path, body string) {
		t.Helper()
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
		if rec.Code != http.StatusCreated && rec.Code != http.StatusOK {
			t.Fatalf("POST %s = %d %s", path, rec.Code, rec.Body.String())
		}
	}
	release, paused := make(chan struct{}), make(chan struct{})
	go srv.live.whileWriterPaused(ctx, func() (func(context.Context, *projections.Writer) error, error) {
		close(paused)
		<-release
		return nil, nil
	})
	<-paused
	orders := commitQueue + 100 // one commit each: more than the writer's queue holds
	for i := range orders {
		post("/v1/events", orderEvent(i))
	}
	post("/v1/partners", `{"partner_id":"late","name":"Late"}`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, ok := srv.live.catalog.Partner("late"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the read models stopped behind the paused writer")
		}
	}
	if srv.live.handedOverLate.Load() == 0 {
		t.Fatal("every commit fitted the writer's queue: the test does not test what it says")
	}
	close(release)
	// Orders after the pause reach the writer past the commits it was not
	// handed: it reads those first.
	for i := orders; i < orders+5; i++ {
		post("/v1/events", orderEvent(i))
	}
	orders += 5
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if srv.live.ledgerView().Explained(fmt.Sprintf("o%d", orders-1)) && srv.live.ledgerView().Explained("o0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer never decided the commits it was not handed")
		}
	}
	for i := range orders {
		if !srv.live.ledgerView().Explained(fmt.Sprintf("o%d", i)) {
			t.Fatalf("order o%d was never decided", i)
		}
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if want := fmt.Sprintf("refledger_ledger_read_back_commits_total %d\n", srv.live.handedOverLate.Load()); !strings.Contains(rec.Body.String(), want) {
		t.Errorf("metrics lack %q:\n%s", want, rec.Body.String())
	}
	// Without a rebuild or an error on the way: the writer read the gaps.
	if bad := logs.All(); len(bad) > 0 {
		t.Fatalf("the writer stumbled on the commits it was not handed: %+v", bad)
	}
	t.Logf("%d of %d commits were read from the log by the writer", srv.live.handedOverLate.Load(), orders+1)
}

func orderEvent(i int) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":"o%d","source":"t","type":"order.placed","time":"2024-01-01T00:00:00Z","data":{"order_id":"o%d","currency":"USD","lines":[{"line_id":"l1","product_id":"p","quantity":1,"amount":"10.00"}]}}`, i, i)
}

// TestAsyncWhatIf: a what-if asked to run in the background answers 202
// with a job at once; the job says how far it got, then names the what-if,
// which is held for reading and applying like any other.
func TestAsyncWhatIf(t *testing.T) {
	srv := memoryServer(t, Config{})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.Run(ctx)
	do := func(method, path, body string) (int, http.Header, map[string]any) {
		t.Helper()
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
		var v map[string]any
		json.Unmarshal(rec.Body.Bytes(), &v)
		return rec.Code, rec.Header(), v
	}
	for i := range 3 {
		if code, _, v := do("POST", "/v1/events", orderEvent(i)); code != http.StatusCreated {
			t.Fatalf("order = %d %v", code, v)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); !srv.live.ledgerView().Covers(3); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the live ledger never decided the orders")
		}
	}
	code, header, job := do("POST", "/v1/replays", `{"current":true,"async":true}`)
	if code != http.StatusAccepted || job["job_id"] == nil || header.Get("Location") != "/v1/replays/jobs/"+job["job_id"].(string) {
		t.Fatalf("async what-if = %d %v %v", code, header, job)
	}
	for deadline := time.Now().Add(10 * time.Second); job["status"] == "running"; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the job never ended: %v", job)
		}
		code, _, job = do("GET", header.Get("Location"), "")
		if code != http.StatusOK {
			t.Fatalf("job = %d %v", code, job)
		}
	}
	if job["status"] != "done" || job["replay_id"] == nil || job["facts"] != float64(3) || job["facts_done"] != float64(3) || job["ended"] == nil {
		t.Fatalf("job = %v, want done through fact 3 with a replay id", job)
	}
	id := job["replay_id"].(string)
	if code, _, res := do("GET", "/v1/replays/"+id, ""); code != http.StatusOK || res["replay_id"] != id || res["noop"] != true {
		t.Fatalf("the job's what-if = %d %v", code, res)
	}
	if code, _, v := do("POST", "/v1/replays/"+id+"/apply", ""); code != http.StatusOK || v["applied"].(map[string]any)["already_applied"] != true {
		t.Fatalf("applying the job's what-if (the timeline in force) = %d %v", code, v)
	}
	// An apply in the background answers as the waiting one does, in its job.
	code, header, job = do("POST", "/v1/replays/"+id+"/apply?async=true", "")
	if code != http.StatusAccepted || job["kind"] != "apply" {
		t.Fatalf("async apply = %d %v", code, job)
	}
	for deadline := time.Now().Add(10 * time.Second); job["status"] == "running"; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the apply job never ended: %v", job)
		}
		_, _, job = do("GET", header.Get("Location"), "")
	}
	applied, _ := job["applied"].(map[string]any)
	if job["status"] != "done" || job["replay_id"] != id || applied == nil || applied["applied"].(map[string]any)["already_applied"] != true {
		t.Fatalf("apply job = %v", job)
	}
	if code, _, _ := do("GET", "/v1/replays/jobs/job-none", ""); code != http.StatusNotFound {
		t.Fatalf("an unknown job = %d, want 404", code)
	}
}

// A payout whose fact the ledger has not decided when the answer stops
// waiting is pending; once the ledger has decided it, the answer says
// what it made of it. The ledger is behind for real: the payout is in the
// fact log, and the service that would decide it is not running yet.
func TestPayoutOutcomePendingWhenTheLedgerIsBehind(t *testing.T) {
	var facts []events.Fact
	for _, raw := range []string{
		`{"specversion":"1.0","id":"p","source":"t","type":"partner.registered","time":"2024-01-01T00:00:00Z","data":{"partner_id":"maria","name":"Maria"}}`,
		`{"specversion":"1.0","id":"x","source":"refledger/api","type":"payout.recorded","time":"2024-01-02T00:00:00Z","data":{"payout_id":"x","partner_id":"maria","currency":"USD","amount":"1.00"}}`,
	} {
		f, err := events.Decode([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		facts = append(facts, f)
	}
	srv := memoryServer(t, Config{Log: zap.NewNop()}, facts...)
	head, err := srv.facts.Head(context.Background())
	if err != nil || head == 0 {
		t.Fatalf("fact log head %d, %v", head, err)
	}
	if got := srv.payoutOutcome(context.Background(), "refledger/api/x", head); got.Outcome != "pending" {
		t.Errorf("outcome %+v while the ledger is behind, want pending", got)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.Run(ctx)
	// Once the ledger decides the payout, the same question is answered:
	// refused, as nothing is payable to maria.
	for try := 0; ; try++ {
		got := srv.payoutOutcome(context.Background(), "refledger/api/x", head)
		if got.Outcome == "refused" && strings.Contains(got.Reason, "exceeds the 0.00 payable to maria") {
			break
		}
		if got.Outcome != "pending" || try == 30 {
			t.Fatalf("outcome %+v once the ledger ran (%d waits), want refused", got, try+1)
		}
	}
}
