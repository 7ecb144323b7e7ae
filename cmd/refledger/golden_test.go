package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files from the current output")

// golden compares got with testdata/golden/name, or rewrites it with -update.
// Review the diff of a rewritten golden file like code.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file %s: %v (run go test -update to create it)", path, err)
	}
	if got != string(want) {
		t.Errorf("%s differs from its golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// mustCLI runs a command that must succeed and returns its output.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := cli(t, args...)
	if code != 0 {
		t.Fatalf("refledger %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// cliJSON runs a command with --format json and decodes its answer into v.
func cliJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	if err := json.Unmarshal([]byte(mustCLI(t, append(args, "--format", "json")...)), v); err != nil {
		t.Fatalf("refledger %s: %v", strings.Join(args, " "), err)
	}
}

// seededData imports the seed scenario into a fresh data folder.
func seededData(t *testing.T) string {
	t.Helper()
	data := t.TempDir()
	mustCLI(t, "import", filepath.Join(seedDir, "events.jsonl"), "--data", data)
	return data
}

// asOf is long past the seed's holding periods and fixed, so statuses do not
// depend on the day the test runs.
const asOf = "2026-01-01T00:00:00Z"

func TestSeedReportsGolden(t *testing.T) {
	data := seededData(t)
	for _, f := range []string{"table", "json", "csv"} {
		golden(t, "seed-commissions."+f, mustCLI(t, "report", "commissions", "--data", data, "--as-of", asOf, "--format", f))
		golden(t, "seed-balances."+f, mustCLI(t, "report", "balances", "--data", data, "--as-of", asOf, "--format", f))
		golden(t, "seed-clicks-roger."+f, mustCLI(t, "report", "clicks", "--partner", "roger", "--data", data, "--format", f))
		// No --from: the statement runs from roger's first entry, and says
		// so (from: null), rather than from the year 1.
		golden(t, "seed-statement-roger."+f, mustCLI(t, "report", "statement", "--partner", "roger", "--to", asOf, "--data", data, "--format", f))
		golden(t, "seed-clicks-maria."+f, mustCLI(t, "report", "clicks", "--partner", "maria", "--data", data, "--format", f))
		for _, order := range []string{"o-2016", "o-2017", "o-2017b"} {
			golden(t, "seed-explain-"+order+"."+f, mustCLI(t, "explain", "--order", order, "--data", data, "--format", f))
		}
	}
}
