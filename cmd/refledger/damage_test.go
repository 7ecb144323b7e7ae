package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/refledger/refledger/events/jetstream"
)

// commitsData imports the seed scenario three lines at a time, so that
// both logs hold several commits, and returns the data folder.
func commitsData(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	raw, err := os.ReadFile(filepath.Join(seedDir, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSpace(string(raw)), "\n")
	for i := 0; i < len(lines); i += 3 {
		part := filepath.Join(t.TempDir(), "part.jsonl")
		if err := os.WriteFile(part, []byte(strings.Join(lines[i:min(i+3, len(lines))], "")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		mustCLI(t, "import", part, "--data", data)
	}
	return data
}

// streamBlock is the message block file of a log's stream in data.
func streamBlock(t *testing.T, data, stream string) string {
	t.Helper()
	blks, _ := filepath.Glob(filepath.Join(data, "jetstream", "*", "streams", stream, "msgs", "*.blk"))
	if len(blks) != 1 {
		t.Fatalf("%s: message blocks %v", stream, blks)
	}
	return blks[0]
}

func cutBlockTail(bytes int64) func(t *testing.T, data, stream string) {
	return func(t *testing.T, data, stream string) {
		blk := streamBlock(t, data, stream)
		st, err := os.Stat(blk)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(blk, max(st.Size()-bytes, st.Size()/3)); err != nil {
			t.Fatal(err)
		}
	}
}

func flipBlockByte(t *testing.T, data, stream string) {
	blk := streamBlock(t, data, stream)
	b, err := os.ReadFile(blk)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(blk, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(data, "snapshots")); err != nil {
		t.Fatal(err)
	}
}

// purgeStream leaves stream as a purge would. The logs deny purges now,
// so it is deleted and made again empty, its first position after its
// last message's: what an older refledger's purge left.
func purgeStream(t *testing.T, data, stream string) {
	store, err := jetstream.OpenEmbedded(jetstream.EmbeddedConfig{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	js, err := natsjs.New(store.Conn())
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(t.Context(), stream); err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	cfg.FirstSeq = info.State.LastSeq + 1
	// The server removes a deleted stream's files after answering: making
	// it again at once can meet them ("error creating store"), so try for
	// a second.
	for attempt := 0; ; attempt++ {
		_, err := js.CreateStream(t.Context(), cfg)
		if err == nil {
			return
		}
		if attempt == 50 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serveExits runs serve on data as a process of its own and returns its
// exit status and log, failing the test if it is still running after
// bound: a damaged folder must stop it with a word, never hang it.
func serveExits(t *testing.T, data string, bound time.Duration) (int, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "serve", "--data", data, "--listen", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "REFLEDGER_AS_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("serve on a damaged folder was still running after %s:\n%s", bound, stderr.String())
	}
	if err == nil {
		return 0, stderr.String()
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// TestDamagedFolderStopsWithAWord: each kind of damage to a log's files
// makes serve exit within seconds saying which log is damaged where, and
// a report on the folder fail the same way. Before, a fact log cut short
// or purged hung serve at start with no word, and a ledger log cut short
// left it serving empty commission lists while the writer hung.
func TestDamagedFolderStopsWithAWord(t *testing.T) {
	for _, tc := range []struct {
		name, stream, log string
		damage            func(t *testing.T, data, stream string)
		// reportReadsIt: the damage is where a report of balances reads
		// (a flipped byte in the middle of the fact log is not: a ledger
		// that has decided every fact answers from the ledger alone, and
		// must then answer as before the damage).
		reportReadsIt bool
	}{
		{"fact log cut by 10 bytes", "REFLEDGER_FACTS", "facts", cutBlockTail(10), true},
		{"fact log cut by 2000 bytes", "REFLEDGER_FACTS", "facts", cutBlockTail(2000), true},
		{"fact log purged", "REFLEDGER_FACTS", "facts", purgeStream, true},
		{"fact log with a byte flipped, snapshots removed", "REFLEDGER_FACTS", "facts", flipBlockByte, false},
		{"ledger log cut by 10 bytes", "REFLEDGER_LEDGER", "ledger", cutBlockTail(10), true},
		{"ledger log purged", "REFLEDGER_LEDGER", "ledger", purgeStream, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := commitsData(t)
			before := mustCLI(t, "report", "balances", "--data", data, "--as-of", asOf)
			tc.damage(t, data, tc.stream)
			code, log := serveExits(t, data, 20*time.Second)
			if code != 1 || !strings.Contains(log, "log "+tc.log+" is damaged at position") || !strings.Contains(log, "restore") {
				t.Fatalf("serve on a damaged %s log: exit %d, log:\n%s", tc.log, code, log)
			}
			code, out, errOut := cli(t, "report", "balances", "--data", data, "--as-of", asOf)
			switch {
			case tc.reportReadsIt && (code != 1 || !strings.Contains(errOut, "log "+tc.log+" is damaged")):
				t.Fatalf("report balances on a damaged %s log: exit %d: %s", tc.log, code, errOut)
			case !tc.reportReadsIt && (code != 0 || out != before):
				t.Fatalf("report balances from an intact ledger: exit %d, %s\nwant as before the damage:\n%s", code, out+errOut, before)
			}
		})
	}
}

// TestLedgerAheadOfTheFactsStopsServe: a fact log restored from an older
// copy beside a newer ledger log (the ledger decided facts the log no
// longer holds) stops serve with what to do, instead of deciding the
// positions again when facts fill them.
func TestLedgerAheadOfTheFactsStopsServe(t *testing.T) {
	full := commitsData(t)
	older := t.TempDir()
	mustCLI(t, "import", filepath.Join(seedDir, "events.jsonl"), "--data", older)
	// The older folder's fact log (one commit) under the full folder's ledger.
	restoreFactLog(t, older, full)
	code, log := serveExits(t, full, 20*time.Second)
	if code != 1 || !strings.Contains(log, "the ledger has decided facts that the fact log does not hold") {
		t.Fatalf("serve with the ledger ahead of the facts: exit %d, log:\n%s", code, log)
	}
}

// TestForeignMessageDoesNotStopIntake: one message on the fact log's
// subject that refledger did not write used to make every later event
// and click answer 503 while /readyz said ready. The embedded server now
// refuses it at the source; where one still gets in (an external server
// whose permissions allow it, played here with the service's own
// secret), every reader skips it, intake goes on, /readyz reports it,
// and a restart still serves.
func TestForeignMessageDoesNotStopIntake(t *testing.T) {
	data := seededData(t)
	s := startService(t, data)
	anonymous, err := nats.Connect(s.info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer anonymous.Close()
	if _, err := anonymous.Request("refledger.log.facts", []byte(`{"not":"a frame"}`), time.Second); err == nil {
		t.Fatal("an anonymous client published on the fact log's subject")
	}
	nc, err := nats.Connect(s.info.NATSURL, nats.Token(s.info.NATSToken))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Request("refledger.log.facts", []byte(`{"not":"a frame"}`), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	order := `{"specversion":"1.0","id":"after-foreign","source":"checkout","type":"order.placed","time":"2017-09-01T00:00:00Z","data":{"order_id":"o-after","contact_id":"c-nobody","currency":"USD","lines":[{"line_id":"l1","product_id":"scm","quantity":1,"amount":"10.00"}]}}`
	if code, body := s.do("POST", "/v1/events", "", order); code >= 300 {
		t.Fatalf("an event after a foreign message: %d %s", code, body)
	}
	if code, body := s.do("GET", "/r/maria-scm", "", ""); code != 302 {
		t.Fatalf("a click after a foreign message: %d %s", code, body)
	}
	eventually(t, "the order decided", func() bool {
		code, _ := s.do("GET", "/v1/orders/o-after/explain", "", "")
		return code == 200
	})
	code, body := s.do("GET", "/readyz", "", "")
	var ready struct {
		Status   string `json:"status"`
		Problems []struct{ Kind, Reason string }
	}
	json.Unmarshal([]byte(body), &ready) //nolint:errcheck // checked below
	if code != 503 || len(ready.Problems) != 1 || ready.Problems[0].Kind != "foreign" || !strings.Contains(ready.Problems[0].Reason, "did not write") {
		t.Fatalf("readyz after a foreign message: %d %s", code, body)
	}
	s.stop()
	s = startService(t, data)
	if code, body := s.do("GET", "/v1/orders/o-after/explain", "", ""); code != 200 {
		t.Fatalf("after a restart: %d %s", code, body)
	}
}

// TestImportRefusesWhenTheLedgerIsAhead: an import with no service on a
// folder whose fact log lost what the ledger decided appends nothing:
// the lost facts sent again would be decided twice.
func TestImportRefusesWhenTheLedgerIsAhead(t *testing.T) {
	full := commitsData(t)
	older := t.TempDir()
	part := filepath.Join(t.TempDir(), "first.jsonl")
	raw, err := os.ReadFile(filepath.Join(seedDir, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(raw), "\n")
	if err := os.WriteFile(part, []byte(strings.Join(lines[:3], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "import", part, "--data", older)
	restoreFactLog(t, older, full)
	code, out, errOut := cli(t, "import", filepath.Join(seedDir, "events.jsonl"), "--data", full)
	if code != 1 || !strings.Contains(errOut, "the ledger has decided facts that the fact log does not hold") {
		t.Fatalf("import onto a fact log behind its ledger: exit %d: %s %s", code, out, errOut)
	}
	js, err := jetstream.OpenEmbedded(jetstream.EmbeddedConfig{DataDir: full})
	if err != nil {
		t.Fatal(err)
	}
	defer js.Close()
	facts, _ := js.Log(context.Background(), "facts")
	if head, err := facts.Head(context.Background()); err != nil || head != 1 {
		t.Fatalf("the fact log after the refused import: head %d, %v; want the one commit it had", head, err)
	}
}

// restoreFactLog puts the fact log of folder from in folder into, over its
// own, as restoring one log from an older backup would, and removes into's
// snapshots: its ledger is then ahead of its facts.
func restoreFactLog(t *testing.T, from, into string) {
	t.Helper()
	src := filepath.Dir(filepath.Dir(streamBlock(t, from, "REFLEDGER_FACTS")))
	dst := filepath.Dir(filepath.Dir(streamBlock(t, into, "REFLEDGER_FACTS")))
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(into, "snapshots")); err != nil {
		t.Fatal(err)
	}
}
