package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/ingest"
	"github.com/refledger/refledger/events/jetstream"
	"github.com/refledger/refledger/events/store"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// seedDir is the worked seed scenario, copied from shared/scenarios.
var seedDir = filepath.Join("..", "..", "testdata", "scenarios", "seed")

// cli runs refledger in-process with args and returns its exit status and
// output. Commands run against real files and the embedded store.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestImportSeedTwice(t *testing.T) {
	data := t.TempDir()
	seed := filepath.Join(seedDir, "events.jsonl")
	var first, second importReport
	code, out, errOut := cli(t, "import", seed, "--data", data, "--format", "json")
	if code != 0 {
		t.Fatalf("import exit %d: %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &first); err != nil {
		t.Fatal(err)
	}
	if first.Accepted != 18 || first.Duplicate != 0 || first.Rejected != 0 {
		t.Fatalf("first import = %+v, want 18 accepted", first)
	}
	_, out, _ = cli(t, "import", "--data", data, "--format", "json", seed)
	if err := json.Unmarshal([]byte(out), &second); err != nil {
		t.Fatal(err)
	}
	if second.Accepted != 0 || second.Duplicate != 18 || second.Rejected != 0 {
		t.Fatalf("second import = %+v, want 18 duplicates", second)
	}
}

func TestImportMixedLinesKeepsEveryValidOne(t *testing.T) {
	data := t.TempDir()
	good := func(id string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"forms","type":"contact.identified","time":"2017-03-02T10:00:00Z","data":{"visitor_id":"v","contact_id":"c"}}`
	}
	lines := []string{
		good("a"),
		`{"specversion":"1.0","id":"b"`, // malformed JSON
		good("c"),
		``, // blank lines are skipped, not counted
		`{"specversion":"1.0","id":"d","source":"checkout","type":"order.placed","time":"2017-03-02T10:00:00Z","data":{"order_id":"o","currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":497.00}]}}`,
		`{"specversion":"1.0","id":"e","source":"x","type":"order.shipped","time":"2017-03-02T10:00:00Z","data":{}}`,
		`{"specversion":"1.0","id":"a","source":"forms","type":"contact.identified","time":"2017-03-02T10:00:00Z","data":{"visitor_id":"v","contact_id":"OTHER"}}`,
		`{"x":"` + strings.Repeat("y", 70<<10) + `"}`, // longer than an event may be
		good("f"),
	}
	file := filepath.Join(t.TempDir(), "mixed.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := importJSON(t, file, data)
	if rep.Accepted != 3 || rep.Rejected != 5 || rep.Duplicate != 0 {
		t.Fatalf("report %+v, want 3 accepted and 5 rejected", rep)
	}
	want := map[int]string{2: "malformed JSON", 5: "data.lines[0].amount: want a decimal in a JSON string", 6: `type: "order.shipped" is not a known event type`, 7: "different payload", 8: "longer than"}
	for _, r := range rep.Rejections {
		if !strings.Contains(r.Reason, want[r.Line]) || want[r.Line] == "" {
			t.Errorf("line %d rejected with %q, want it to contain %q", r.Line, r.Reason, want[r.Line])
		}
		delete(want, r.Line)
	}
	if len(want) != 0 {
		t.Errorf("lines not reported: %v", want)
	}
}

// TestImportManyBatchesReportsInLineOrder: an import of several batches
// (read, decoded and appended at once) counts every line and reports each
// rejection, whether the decoder or the ingester made it, at its own line
// and in line order; a key repeated batches later is still a conflict.
func TestImportManyBatchesReportsInLineOrder(t *testing.T) {
	data := t.TempDir()
	var lines []string
	wantBad := map[int]string{}
	for n := 1; n <= 3500; n++ {
		id := strconv.Itoa(n)
		switch {
		case n%997 == 0:
			lines = append(lines, `{"specversion":"1.0","id":"`+id+`"`)
			wantBad[n] = "malformed JSON"
		case n == 990 || n == 3001: // the key of line 1, with another payload
			lines = append(lines, `{"specversion":"1.0","id":"1","source":"forms","type":"contact.identified","time":"2017-03-02T10:00:00Z","data":{"visitor_id":"v1","contact_id":"OTHER"}}`)
			wantBad[n] = "different payload"
		default:
			lines = append(lines, `{"specversion":"1.0","id":"`+id+`","source":"forms","type":"contact.identified","time":"2017-03-02T10:00:00Z","data":{"visitor_id":"v`+id+`","contact_id":"c"}}`)
		}
	}
	file := filepath.Join(t.TempDir(), "many.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := importJSON(t, file, data)
	if rep.Accepted != 3500-len(wantBad) || rep.Rejected != len(wantBad) || rep.Duplicate != 0 {
		t.Fatalf("accepted %d, duplicate %d, rejected %d; want %d, 0, %d", rep.Accepted, rep.Duplicate, rep.Rejected, 3500-len(wantBad), len(wantBad))
	}
	for i, r := range rep.Rejections {
		if i > 0 && r.Line <= rep.Rejections[i-1].Line {
			t.Errorf("rejection of line %d reported after line %d", r.Line, rep.Rejections[i-1].Line)
		}
		if !strings.Contains(r.Reason, wantBad[r.Line]) || wantBad[r.Line] == "" {
			t.Errorf("line %d rejected with %q, want %q", r.Line, r.Reason, wantBad[r.Line])
		}
	}
}

// importJSON imports file and returns its report, requiring the exit
// status that says whether lines were rejected: 0 when none was, 3 when
// some were (the valid ones appended all the same).
func importJSON(t *testing.T, file, data string) importReport {
	t.Helper()
	code, out, errOut := cli(t, "import", file, "--data", data, "--format", "json")
	var rep importReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("import exit %d: %v: %s %s", code, err, out, errOut)
	}
	if want := map[bool]int{false: 0, true: 3}[rep.Rejected > 0]; code != want {
		t.Fatalf("import with %d rejected lines: exit %d, want %d (%s)", rep.Rejected, code, want, errOut)
	}
	return rep
}

// TestImportOrdersAFileByTime: a file's events are imported in the order
// of their times, so a click listed after the order it came before still
// earns it; definitions (here the catalog) listed above activity
// stay in force for it though stamped later; a line that repeats an
// earlier key is judged against that line (a conflict, a duplicate)
// wherever its own time would put it; and every rejection is reported at
// its own line.
func TestImportOrdersAFileByTime(t *testing.T) {
	data := t.TempDir()
	event := func(id, typ, at, data string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"s","type":"` + typ + `","time":"` + at + `","data":` + data + `}`
	}
	order := event("o", "order.placed", "2020-01-05T00:00:00Z", `{"order_id":"o1","visitor_id":"v","currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":"100.00"}]}`)
	lines := []string{
		event("pol", "policy.changed", "2020-01-01T00:00:00Z", `{"tracking":"cookies-only","credit":"last","cookie_days":30,"referral_days":0,"program_binding":"partner-programs","self_referral":"allow","holding_days":0,"payout_basis":"upfront"}`),
		order,
		event("ann", "partner.registered", "2020-02-01T00:00:00Z", `{"partner_id":"ann","name":"Ann"}`),
		event("prog", "program.defined", "2020-02-01T00:00:00Z", `{"program_id":"g","name":"G","priority":1,"default_rate":"10%"}`),
		`{"specversion":"1.0","id":"broken"`,
		event("enr", "partner.enrolled", "2020-02-01T00:00:00Z", `{"partner_id":"ann","program_id":"g"}`),
		event("link", "link.created", "2020-02-01T00:00:00Z", `{"link_code":"ann-1","partner_id":"ann","landing_url":"https://shop.example/"}`),
		"",
		event("k", "click.recorded", "2020-01-03T00:00:00Z", `{"click_id":"k1","link_code":"ann-1","visitor_id":"v"}`),
		event("o", "order.placed", "2019-12-01T00:00:00Z", `{"order_id":"o1","visitor_id":"v","currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":"1.00"}]}`),
		`{"x":"` + strings.Repeat("y", 70<<10) + `"}`,
		order,
	}
	file := filepath.Join(t.TempDir(), "unsorted.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := importJSON(t, file, data)
	if rep.Accepted != 7 || rep.Duplicate != 1 || rep.Rejected != 3 {
		t.Fatalf("report %+v, want 7 accepted, 1 duplicate and 3 rejected", rep)
	}
	want := []string{"5 malformed JSON", "10 different payload", "11 longer than"}
	for i, r := range rep.Rejections {
		if i >= len(want) || !strings.HasPrefix(want[i], strconv.Itoa(r.Line)+" ") || !strings.Contains(r.Reason, strings.SplitN(want[i], " ", 2)[1]) {
			t.Errorf("rejection %d: line %d %q, want %s", i, r.Line, r.Reason, want)
		}
	}
	var commissions struct {
		Commissions []struct {
			PartnerID string `json:"partner_id"`
			ClickID   string `json:"click_id"`
			Amount    string `json:"amount"`
		} `json:"commissions"`
	}
	cliJSON(t, &commissions, "report", "commissions", "--order", "o1", "--data", data)
	if c := commissions.Commissions; len(c) != 1 || c[0].PartnerID != "ann" || c[0].ClickID != "k1" || c[0].Amount != "10.00" {
		t.Errorf("o1 earned %+v, want ann 10.00 through k1", c)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"import"},
		{"import", "a.jsonl", "--format", "xml"},
		{"report", "nothing"},
		{"report", "statement"},
		{"report", "statement", "--partner", "p", "--from", "2022-01-01", "--to", "2021-01-01"},
		{"serve", "--trusted-proxies", "10.0.0.1/8"},
		{"serve", "--trusted-proxies", "proxy.example"},
	} {
		if code, _, errOut := cli(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
	if code, _, errOut := cli(t, "import", filepath.Join(t.TempDir(), "missing.jsonl"), "--data", t.TempDir()); code != 1 || !strings.Contains(errOut, "missing.jsonl") {
		t.Errorf("missing file: exit %d, %s; want 1 naming the file", code, errOut)
	}
}

func TestHelpPrintsUsageAndExitsZero(t *testing.T) {
	for args, want := range map[string]string{
		"--help":                     "refledger report commissions",
		"report --help":              "refledger report commissions",
		"report commissions --help":  "-partner",
		"replay -h":                  "-apply",
		"explain --order o-1 --help": "-order",
		"report balances -help":      "-as-of",
	} {
		code, out, errOut := cli(t, strings.Fields(args)...)
		if code != 0 || !strings.Contains(out, want) || errOut != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and a usage naming %s", args, code, out, errOut, want)
		}
	}
}

// appendBehind appends facts to the fact log of a data folder directly,
// as a publisher would while no service runs: the ledger and the read
// models have not seen them.
func appendBehind(t *testing.T, data string, raws ...string) {
	t.Helper()
	var facts []events.Fact
	for _, raw := range raws {
		f, err := events.Decode([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		facts = append(facts, f)
	}
	js, err := jetstream.OpenEmbedded(jetstream.EmbeddedConfig{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	log, _ := js.Log(context.Background(), store.FactsLog)
	in, err := ingest.Open(context.Background(), log)
	if err == nil {
		_, err = in.Submit(context.Background(), facts)
	}
	js.Close()
	if err != nil {
		t.Fatal(err)
	}
}

// TestReportsBringABehindLedgerUpToDate: a report reads the ledger view
// alone when the ledger has decided every fact, and decides what it has
// not first: here an order appended to the fact log behind the ledger's
// back.
func TestReportsBringABehindLedgerUpToDate(t *testing.T) {
	data := seededData(t)
	commissions := func() string {
		var rep struct {
			Commissions []struct {
				OrderID string `json:"order_id"`
			} `json:"commissions"`
		}
		cliJSON(t, &rep, "report", "commissions", "--data", data)
		var orders []string
		for _, c := range rep.Commissions {
			orders = append(orders, c.OrderID)
		}
		return strings.Join(orders, " ")
	}
	before := commissions()
	appendBehind(t, data, `{"specversion":"1.0","id":"late","source":"test","type":"order.placed","time":"2017-06-02T00:00:00Z","data":{"order_id":"o-late","visitor_id":"v-phone","currency":"USD","lines":[{"line_id":"l1","product_id":"scm","quantity":1,"amount":"100.00"}]}}`)
	if after := commissions(); after != before+" o-late" {
		t.Errorf("commissions by order after an order behind the ledger: %q, want %q", after, before+" o-late")
	}
}

// TestReportClicksKeepsItsSnapshot: report clicks saves the click
// history's snapshot, reads it the next time with the clicks appended
// since, and does without one that is damaged.
func TestReportClicksKeepsItsSnapshot(t *testing.T) {
	data := seededData(t)
	clicks := func() string {
		var rep struct {
			Clicks []struct {
				ClickID  string `json:"click_id"`
				LinkCode string `json:"link_code"`
			} `json:"clicks"`
		}
		cliJSON(t, &rep, "report", "clicks", "--partner", "maria", "--data", data)
		var out []string
		for _, c := range rep.Clicks {
			out = append(out, c.ClickID+"@"+c.LinkCode)
		}
		return strings.Join(out, " ")
	}
	if got := clicks(); got != "clk-2@maria-scm" {
		t.Fatalf("maria's clicks: %q", got)
	}
	path := filepath.Join(data, "snapshots", "read-models.snap")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no snapshot saved: %v", err)
	}
	appendBehind(t, data, `{"specversion":"1.0","id":"k3","source":"test","type":"click.recorded","time":"2018-01-01T00:00:00Z","data":{"click_id":"clk-3","link_code":"maria-scm","visitor_id":"v-x"}}`)
	if got := clicks(); got != "clk-2@maria-scm clk-3@maria-scm" {
		t.Fatalf("maria's clicks after one more: %q", got)
	}
	if err := os.WriteFile(path, []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := clicks(); got != "clk-2@maria-scm clk-3@maria-scm" {
		t.Fatalf("maria's clicks past a damaged snapshot: %q", got)
	}
}

// Beside a running service, a report does not decide facts itself: it
// waits a little for the service's ledger, then answers with what that
// holds and says so; without a service, a ledger behind is caught up by
// the command (nil here).
func TestDecidedViewBesideAServiceDoesNotRace(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	facts, _ := mem.Log(ctx, store.FactsLog)
	ledgerLog, _ := mem.Log(ctx, store.LedgerLog)
	order, err := events.Decode([]byte(`{"specversion":"1.0","id":"o","source":"t","type":"order.placed","time":"2024-01-01T00:00:00Z","data":{"order_id":"o","currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":"1.00"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	in, err := ingest.Open(ctx, facts)
	if err == nil {
		_, err = in.Submit(ctx, []events.Fact{order})
	}
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	env := &environment{log: zap.New(core)}
	if view, err := decidedView(ctx, env, facts, ledgerLog, "", 0); err != nil || view != nil {
		t.Fatalf("no service, ledger behind: %v, %v; want nil for the command to catch up", view, err)
	}
	view, err := decidedView(ctx, env, facts, ledgerLog, "", 100*time.Millisecond)
	if err != nil || view == nil {
		t.Fatalf("beside a service: %v, %v; want the ledger as it is", view, err)
	}
	if head, _ := ledgerLog.Head(ctx); head != 0 {
		t.Errorf("the report appended to the ledger beside the service (head %d)", head)
	}
	if logs.FilterMessageSnippet("has not decided every fact").Len() != 1 {
		t.Errorf("no warning that the report stops where the ledger is: %v", logs.All())
	}
}

// A ledger snapshot this build cannot read (another format, damaged) is
// rebuilt by the next report, so that the commands after it read it
// instead of the whole ledger log.
func TestReportsRebuildAnUnusableLedgerSnapshot(t *testing.T) {
	data := seededData(t)
	path := filepath.Join(data, "snapshots", "ledger-writer.snap")
	if err := os.WriteFile(path, []byte("refledger-snapshot\nnot one this build reads"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := mustCLI(t, "report", "balances", "--data", data, "--as-of", asOf)
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 100 {
		t.Fatalf("the report left the snapshot as it was (%d bytes, %v)", len(b), err)
	}
	if got := mustCLI(t, "report", "balances", "--data", data, "--as-of", asOf); got != want {
		t.Errorf("balances from the rebuilt snapshot:\n%s\nwant\n%s", got, want)
	}
}

// TestErrorsAreOnePlainLine: a mistake gets one line for a person, naming
// the command and what was wrong, with the nearest right spelling and
// where to read more; before, it was a timestamped log line with the
// flag package's wording, and no suggestion.
func TestErrorsAreOnePlainLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"explain", "--ordr", "o-1"}, 2, "refledger: explain: unknown flag --ordr (did you mean --order?) (see refledger explain --help)\n"},
		{[]string{"reprot", "balances"}, 2, "refledger: \"reprot\" is not a refledger command (did you mean report?) (see refledger help)\n"},
		{[]string{"report", "balnces"}, 2, "did you mean balances?"},
		{[]string{"import", filepath.Join(t.TempDir(), "missing.jsonl"), "--data", t.TempDir()}, 1, "refledger: import: open "},
	} {
		code, out, errOut := cli(t, tc.args...)
		if code != tc.code || out != "" || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 || strings.Contains(errOut, "ERROR") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and one line with %q", tc.args, code, out, errOut, tc.code, tc.want)
		}
	}
	if code, out, errOut := cli(t); code != 2 || out != "" || !strings.Contains(errOut, "usage:") {
		t.Errorf("no arguments: exit %d, stdout %q: want the usage on stderr and 2", code, out)
	}
	if code, out, _ := cli(t, "--version"); code != 0 || !strings.HasPrefix(out, "refledger ") || !strings.Contains(out, "go1.") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	if code, out, _ := cli(t, "help", "report", "balances"); code != 0 || !strings.Contains(out, "-as-of") {
		t.Errorf("help report balances: exit %d, %q", code, out)
	}
}

// TestReadCommandsCreateNothingAndNameWhatIsMissing: a report on a folder
// with no data, or for a partner that does not exist, says so; before,
// it created an empty store and printed an empty table with status 0,
// which reads as "no money".
func TestReadCommandsCreateNothingAndNameWhatIsMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "typo")
	for _, args := range [][]string{
		{"report", "balances"}, {"report", "commissions"}, {"report", "clicks", "--partner", "roger"},
		{"report", "statement", "--partner", "roger"}, {"explain", "--order", "o-1"}, {"check"}, {"report", "rejections"},
	} {
		code, _, errOut := cli(t, append(args, "--data", missing)...)
		if code != 1 || !strings.Contains(errOut, "no refledger data in "+missing) {
			t.Errorf("%v on a missing folder: exit %d: %s", args, code, errOut)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Fatalf("%v created %s", args, missing)
		}
	}
	data := seededData(t)
	for _, args := range [][]string{{"report", "clicks", "--partner", "rogr"}, {"report", "statement", "--partner", "Roger"}} {
		code, out, errOut := cli(t, append(args, "--data", data)...)
		if code != 1 || out != "" || !strings.Contains(errOut, "did you mean roger?") {
			t.Errorf("%v: exit %d, %q %q; want 1 naming roger", args, code, out, errOut)
		}
	}
}

// TestServeNamesATakenPort: with the NATS port taken, serve says which
// address and which flag at once; before, it waited 10 s and said only
// that the embedded server was not ready.
func TestServeNamesATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, errOut := cli(t, "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--nats-listen", ln.Addr().String())
	if code != 1 || !strings.Contains(errOut, ln.Addr().String()) || !strings.Contains(errOut, "--nats-listen") {
		t.Fatalf("serve on a taken NATS port: exit %d: %s", code, errOut)
	}
}
