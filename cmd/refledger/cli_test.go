package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	code, out, errOut := cli(t, "import", file, "--data", data, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep importReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
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

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"import"},
		{"import", "a.jsonl", "--format", "xml"},
		{"report", "nothing"},
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
