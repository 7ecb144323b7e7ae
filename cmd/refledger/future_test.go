package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// import rejects a line stamped more than --max-future (24 h by default,
// REFLEDGER_MAX_FUTURE) ahead of the wall clock, naming the field time;
// a raised bound lets it in, and a bound that is no duration is a usage
// error.
func TestImportBoundsTheFuture(t *testing.T) {
	file := filepath.Join(t.TempDir(), "future.jsonl")
	lines := []string{
		`{"specversion":"1.0","id":"now","source":"forms","type":"contact.identified","time":"2017-03-02T10:00:00Z","data":{"visitor_id":"v","contact_id":"c"}}`,
		`{"specversion":"1.0","id":"far","source":"forms","type":"contact.identified","time":"2199-12-31T00:00:00Z","data":{"visitor_id":"v","contact_id":"c"}}`,
	}
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	var rep struct {
		Accepted   int `json:"accepted"`
		Rejected   int `json:"rejected"`
		Rejections []struct {
			Line   int    `json:"line"`
			Field  string `json:"field"`
			Reason string `json:"reason"`
		} `json:"rejections"`
	}
	// An import that rejected lines exits 3 (one without, 0).
	imp := func(want int, args ...string) {
		t.Helper()
		code, out, errOut := cli(t, append(append([]string{"import"}, args...), "--format", "json")...)
		if err := json.Unmarshal([]byte(out), &rep); err != nil || code != want {
			t.Fatalf("import %v: exit %d, want %d: %v %s", args, code, want, err, errOut)
		}
	}
	imp(3, file, "--data", data)
	if rep.Accepted != 1 || rep.Rejected != 1 || len(rep.Rejections) != 1 || rep.Rejections[0].Line != 2 || rep.Rejections[0].Field != "time" ||
		!strings.Contains(rep.Rejections[0].Reason, "time: is 2199-12-31T00:00:00Z, more than 24h0m0s after it arrived at ") {
		t.Errorf("import: %+v, want line 2 rejected naming time", rep)
	}

	imp(0, file, "--data", data, "--max-future", "2000000h")
	if rep.Accepted != 1 || rep.Rejected != 0 {
		t.Errorf("import --max-future 2000000h: %+v, want the 2199 line accepted", rep)
	}
	t.Setenv("REFLEDGER_MAX_FUTURE", "1h")
	far := filepath.Join(t.TempDir(), "far.jsonl")
	if err := os.WriteFile(far, []byte(strings.Replace(lines[1], `"id":"far"`, `"id":"far-2"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	imp(3, far, "--data", data)
	if rep.Rejected != 1 || !strings.Contains(rep.Rejections[0].Reason, "more than 1h0m0s after it arrived") {
		t.Errorf("import under REFLEDGER_MAX_FUTURE=1h: %+v", rep)
	}
	for _, cmd := range []string{"import", "serve"} {
		args := []string{cmd, "--max-future", "soon", "--data", data}
		if cmd == "import" {
			args = append(args, far)
		}
		if code, _, errOut := cli(t, args...); code != 2 || !strings.Contains(errOut, "--max-future") {
			t.Errorf("%s --max-future soon: exit %d, %s", cmd, code, errOut)
		}
	}
}
