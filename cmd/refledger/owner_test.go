package main

// Tests of who owns a data folder, each a finding of issue 20 run against
// real processes: the test binary acts as refledger (TestMain).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/ingest"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/server"
)

// proc is a refledger command running as a process of its own.
type proc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	mu     sync.Mutex
	stderr strings.Builder
	// serving is closed when the process logs that it serves.
	serving chan struct{}
	// exited receives the process's end once.
	exited chan error
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: exec.Command(exe, args...), serving: make(chan struct{}), exited: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), "REFLEDGER_AS_MAIN=1")
	p.cmd.Stdout = &p.stdout
	stderr, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if strings.Contains(sc.Text(), "refledger serving") {
				once.Do(func() { close(p.serving) })
			}
		}
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
		}
	})
	return p
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// wait waits, up to a minute, for the process to end and returns its exit
// status.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		p.cmd.Process.Kill()
		t.Fatalf("%v did not end within a minute:\n%s", p.cmd.Args[1:], p.logs())
	}
	return p.cmd.ProcessState.ExitCode()
}

// TestTwoServesAtOnceOneServes: two serve started at the same instant on one
// folder, existing or empty: exactly one serves, the other refuses at once
// naming the folder and the holder.
func TestTwoServesAtOnceOneServes(t *testing.T) {
	existing := seededData(t)
	for _, folder := range []string{"existing", "empty"} {
		t.Run(folder, func(t *testing.T) {
			for try := range 20 {
				data := existing
				if folder == "empty" {
					data = t.TempDir()
				}
				serveOnce(t, try, data)
				if t.Failed() {
					return
				}
			}
		})
	}
}

func serveOnce(t *testing.T, try int, data string) {
	t.Helper()
	args := []string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0"}
	a, b := startProc(t, args...), startProc(t, args...)
	var winner, loser *proc
	timeout := time.After(30 * time.Second)
	for winner == nil || loser == nil {
		select {
		case <-a.serving:
			if winner != nil && winner != a {
				t.Fatalf("try %d: both serve %s:\n%s\n%s", try, data, a.logs(), b.logs())
			}
			winner, a.serving = a, nil
		case <-b.serving:
			if winner != nil && winner != b {
				t.Fatalf("try %d: both serve %s:\n%s\n%s", try, data, a.logs(), b.logs())
			}
			winner, b.serving = b, nil
		case <-a.exited:
			loser, a.exited = a, nil
		case <-b.exited:
			loser, b.exited = b, nil
		case <-timeout:
			t.Fatalf("try %d: no serve won and lost within 30 s:\n%s\n%s", try, a.logs(), b.logs())
		}
		if loser != nil && loser == winner {
			t.Fatalf("try %d: the serve that served exited:\n%s", try, loser.logs())
		}
	}
	if code := loser.cmd.ProcessState.ExitCode(); code == 0 {
		t.Errorf("try %d: the second serve exited 0:\n%s", try, loser.logs())
	}
	msg := loser.logs()
	if !strings.Contains(msg, data) || !strings.Contains(msg, fmt.Sprintf("pid %d", winner.cmd.Process.Pid)) || !strings.Contains(msg, "refledger serve") {
		t.Errorf("try %d: the second serve's error does not name the folder and its holder:\n%s", try, msg)
	}
	winner.cmd.Process.Signal(syscall.SIGTERM)
	if code := winner.wait(t); code != 0 {
		t.Errorf("try %d: the serving one exited %d:\n%s", try, code, winner.logs())
	}
}

// contacts writes a file of n contact.identified events with ids
// prefix-1 to prefix-n.
func contacts(t *testing.T, prefix string, n int) string {
	t.Helper()
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"specversion":"1.0","id":"%s-%d","source":"forms","type":"contact.identified","time":"2017-03-02T10:00:00Z","data":{"visitor_id":"v-%s-%d","contact_id":"c-%s-%d"}}`+"\n", prefix, i, prefix, i, prefix, i)
	}
	file := filepath.Join(t.TempDir(), prefix+".jsonl")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestTwoImportsAtOnceLoseNothing: two imports at once with no service both
// succeed, and every event of both files is in the log once.
func TestTwoImportsAtOnceLoseNothing(t *testing.T) {
	data := seededData(t)
	a, b := contacts(t, "a", 2000), contacts(t, "b", 2000)
	pa := startProc(t, "import", a, "--data", data, "--format", "json")
	pb := startProc(t, "import", b, "--data", data, "--format", "json")
	for _, p := range []*proc{pa, pb} {
		if code := p.wait(t); code != 0 {
			t.Fatalf("import exit %d:\n%s", code, p.logs())
		}
		var rep importReport
		if err := json.Unmarshal(p.stdout.Bytes(), &rep); err != nil || rep.Accepted != 2000 {
			t.Errorf("import report = %+v (%v), want 2000 accepted", rep, err)
		}
		t.Logf("%v: %s", p.cmd.Args[1:3], strings.TrimSpace(p.logs()))
	}
	for _, file := range []string{a, b} {
		if rep := importJSON(t, file, data); rep.Accepted != 0 || rep.Duplicate != 2000 {
			t.Errorf("import of %s again = %+v, want 2000 duplicates: the first was lost", filepath.Base(file), rep)
		}
	}
}

// TestTwoReplayAppliesAtOnceApplyOnce: two replay --apply at once with no
// service: one applies, the other finds it applied, and the ledger holds
// the adjusting entry once.
func TestTwoReplayAppliesAtOnceApplyOnce(t *testing.T) {
	data := seededData(t)
	policy := filepath.Join(seedDir, "policy-cookies-only.json")
	args := []string{"replay", "--policy", policy, "--apply", "--data", data, "--format", "json"}
	ps := []*proc{startProc(t, args...), startProc(t, args...)}
	applied, already := 0, 0
	for _, p := range ps {
		if code := p.wait(t); code != 0 {
			t.Fatalf("replay --apply exit %d:\n%s", code, p.logs())
		}
		var r replayJSON
		if err := json.Unmarshal(p.stdout.Bytes(), &r); err != nil || r.Applied == nil {
			t.Fatalf("replay --apply answered %v:\n%s", err, p.stdout.String())
		}
		switch {
		case r.Applied.AlreadyApplied:
			already++
		case r.Applied.Adjustments == 1:
			applied++
		}
	}
	if applied != 1 || already != 1 {
		t.Errorf("%d applied and %d found it applied, want 1 and 1", applied, already)
	}
	var doc struct {
		Commissions []struct {
			EntryID string `json:"entry_id"`
		} `json:"commissions"`
	}
	cliJSON(t, &doc, "report", "commissions", "--data", data, "--kind", "adjusted")
	if len(doc.Commissions) != 1 {
		t.Errorf("adjusting entries = %+v, want one", doc.Commissions)
	}
}

// TestImportBesideABusyService: an import beside a service taking HTTP
// events, clicks and NATS requests all along succeeds, and every event it
// and the traffic were acknowledged for is in the log once.
func TestImportBesideABusyService(t *testing.T) {
	data := seededData(t)
	s := startService(t, data)
	nc, err := nats.Connect(s.info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	var mu sync.Mutex
	acked := map[string]bool{} // source and id (a fact's key) of the traffic's acknowledged events
	var clicks atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{CheckRedirect: noRedirect.CheckRedirect, Timeout: 10 * time.Second}
	event := func(id string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"traffic","type":"contact.identified","time":"2017-03-02T10:00:00Z","data":{"visitor_id":"v-` + id + `","contact_id":"c"}}`
	}
	traffic := func(kind string, send func(id string) bool) {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("%s-%d", kind, i)
			if send(id) {
				mu.Lock()
				acked["traffic\x00"+id] = true
				mu.Unlock()
			}
		}
	}
	for w := range 4 {
		wg.Add(3)
		go traffic(fmt.Sprintf("http%d", w), func(id string) bool {
			resp, err := client.Post(s.info.HTTPURL+"/v1/events", "application/json", strings.NewReader(event(id)))
			if err != nil {
				return false
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode == 201
		})
		go traffic(fmt.Sprintf("nats%d", w), func(id string) bool {
			m, err := nc.Request("refledger.ingest", []byte(event(id)), 10*time.Second)
			return err == nil && strings.Contains(string(m.Data), `"status":"accepted"`)
		})
		go traffic(fmt.Sprintf("click%d", w), func(string) bool {
			resp, err := client.Get(s.info.HTTPURL + "/r/maria-scm")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 302 {
					clicks.Add(1)
				}
			}
			return false
		})
	}
	time.Sleep(300 * time.Millisecond)
	file := contacts(t, "imp", 5000)
	p := startProc(t, "import", file, "--data", data, "--format", "json")
	code := p.wait(t)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("import beside the busy service: exit %d:\n%s", code, p.logs())
	}
	var rep importReport
	if err := json.Unmarshal(p.stdout.Bytes(), &rep); err != nil || rep.Accepted != 5000 || rep.Duplicate != 0 || rep.Rejected != 0 {
		t.Errorf("import report = %+v (%v), want 5000 accepted", rep, err)
	}

	js, err := s.openLogs()
	if err != nil {
		t.Fatal(err)
	}
	defer js.Close()
	facts, err := js.Log(context.Background(), store.FactsLog)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	storedClicks := 0
	facts.Read(context.Background(), 1, func(st store.Stored) error {
		for _, e := range st.Commit.Events {
			seen[e.ID]++
			if e.Type == "click.recorded" {
				storedClicks++
			}
		}
		return nil
	})
	for i := 1; i <= 5000; i++ {
		if n := seen[fmt.Sprintf("forms\x00imp-%d", i)]; n != 1 {
			t.Fatalf("imported event imp-%d is in the log %d times", i, n)
		}
	}
	for key := range acked {
		if seen[key] != 1 {
			t.Fatalf("acknowledged event %s is in the log %d times", key, seen[key])
		}
	}
	// The seed holds 2 clicks of its own.
	if int64(storedClicks-2) < clicks.Load() {
		t.Errorf("%d clicks got a 302 but %d are in the log", clicks.Load(), storedClicks-2)
	}
	t.Logf("beside the import: %d events and %d clicks acknowledged", len(acked), clicks.Load())
}

// TestKilledServeLeavesNoOwner: after kill -9 of a serve (not yet reaped,
// as under a parent that does not), a report owns the folder and works,
// with no word of a stale owner.
func TestKilledServeLeavesNoOwner(t *testing.T) {
	data := seededData(t)
	s := startService(t, data)
	s.cmd.Process.Signal(syscall.SIGKILL)
	// The killed process stays a zombie until reaped: its pid still exists.
	time.Sleep(200 * time.Millisecond)
	code, out, errOut := cli(t, "report", "balances", "--data", data, "--as-of", asOf)
	<-s.logDone
	s.cmd.Wait()
	if code != 0 || !strings.Contains(out, "maria") {
		t.Fatalf("report after kill -9 of the service: exit %d: %s\n%s", code, errOut, out)
	}
	if strings.Contains(errOut, "owns") || strings.Contains(errOut, "does not answer") {
		t.Errorf("a stale owner was mentioned: %s", errOut)
	}
	// And a serve starts there again.
	startService(t, data).stop()
}

// TestServeWaitsForACommand: a serve that finds a command holding the
// folder says so once, waits, and serves when the command lets it go.
func TestServeWaitsForACommand(t *testing.T) {
	data := seededData(t)
	var stderr bytes.Buffer
	lock, _, err := claimFolder(context.Background(), data, claimer{command: "import", until: time.Now(), stderr: &stderr})
	if err != nil || lock == nil {
		t.Fatalf("claim an unowned folder: %v", err)
	}
	p := startProc(t, "serve", "--data", data, "--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0")
	eventually(t, "the serve saying whom it waits for", func() bool {
		return strings.Contains(p.logs(), fmt.Sprintf("is held by refledger import (pid %d", os.Getpid()))
	})
	select {
	case <-p.serving:
		t.Fatalf("serve served while a command held the folder:\n%s", p.logs())
	case <-time.After(300 * time.Millisecond):
	}
	lock.release()
	select {
	case <-p.serving:
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not serve after the command let the folder go:\n%s", p.logs())
	}
	if n := strings.Count(p.logs(), "is held by"); n != 1 {
		t.Errorf("serve said %d times whom it waits for, want once:\n%s", n, p.logs())
	}
	// A command now goes through the service; with --wait 0 one that
	// found a command holding the folder would fail at once instead.
	if out := mustCLI(t, "report", "balances", "--data", data, "--wait", "0s"); !strings.Contains(out, "maria") {
		t.Errorf("report through the service: %s", out)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("serve exited %d:\n%s", code, p.logs())
	}
	lock, _, _ = claimFolder(context.Background(), data, claimer{command: "import", until: time.Now(), stderr: &stderr})
	defer lock.release()
	code, _, errOut := cli(t, "report", "balances", "--data", data, "--wait", "100ms")
	if code != 1 || !strings.Contains(errOut, "raise --wait") || strings.Count(errOut, "is held by refledger import") != 1 {
		t.Errorf("a report that waited out --wait: exit %d: %s", code, errOut)
	}
}

// TestRetriedBatchCountsItsOwnAppendsAccepted: when a batch is sent again
// after a timeout, the duplicates that the first try appended (past the
// head before it) count as accepted; a repeat within the batch, and an
// event that was in the log before, stay duplicates.
func TestRetriedBatchCountsItsOwnAppendsAccepted(t *testing.T) {
	fact := func(id string) events.Fact { return events.Fact{Source: "forms", ID: id} }
	facts := []events.Fact{fact("new"), fact("old"), fact("new"), fact("fresh"), fact("bad")}
	reply := &server.BatchReply{Results: []server.Result{
		{Index: 0, Status: "duplicate", Position: 12}, // the first try appended it
		{Index: 1, Status: "duplicate", Position: 3},  // in the log before
		{Index: 2, Status: "duplicate", Position: 12}, // repeats index 0
		{Index: 3, Status: "accepted", Position: 13},
		{Index: 4, Status: "rejected"},
	}}
	want := []ingest.Status{ingest.Accepted, ingest.Duplicate, ingest.Duplicate, ingest.Accepted, ingest.Rejected}
	for _, retried := range []bool{false, true} {
		out := outcomesOf(reply, facts, 10, retried)
		for i, o := range out {
			w := want[i]
			if !retried && i == 0 {
				w = ingest.Duplicate // a first try's answer stands as it is
			}
			if o.Status != w {
				t.Errorf("retried %v: fact %d is %s, want %s", retried, i, o.Status, w)
			}
		}
		if out[4].Err == nil {
			t.Errorf("a rejection without its error")
		}
	}
}
