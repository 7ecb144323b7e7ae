package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refledger/refledger/projections"
)

// TestMoneyScenario holds testdata/scenarios/money/README.md to the CLI:
// the largest accepted amounts earn exact commission, a balance past 2^63
// minor units stays exact, and one unit past each bound is rejected with
// the field named.
func TestMoneyScenario(t *testing.T) {
	data := t.TempDir()
	var imported struct {
		Accepted   int `json:"accepted"`
		Rejected   int `json:"rejected"`
		Rejections []struct {
			Line   int    `json:"line"`
			Reason string `json:"reason"`
		} `json:"rejections"`
	}
	code, out, errOut := cli(t, "import", filepath.Join("testdata", "scenarios", "money", "events.jsonl"), "--data", data, "--format", "json")
	if err := json.Unmarshal([]byte(out), &imported); err != nil || code != 3 {
		t.Fatalf("import with rejected lines: exit %d, want 3: %v %s", code, err, errOut)
	}
	if imported.Accepted != 20 || imported.Rejected != 6 {
		t.Errorf("import: %d accepted, %d rejected, want 20 and 6: %+v", imported.Accepted, imported.Rejected, imported.Rejections)
	}
	wantRejections := map[int]string{
		21: "data.lines[0].amount: \"1000000000000.01\" is too large: at most 1000000000000.00",
		22: "data.lines[0].quantity: 1000001 is out of range: want a whole number from 1 to 1000000",
		23: "data.product_rates.fix: \"1000000000.00000001\" is not a rate: a fixed rate is at most 1000000000 per unit",
		24: "data.amount: \"10000000000000.01\" is too large: at most 10000000000000.00",
		25: "data.amount: \"1000000000000000.00000001\" is too large: at most 1000000000000000",
		26: "data.lines[0].amount: \"1000000000000.00000001\" is too large: at most 1000000000000",
	}
	for _, r := range imported.Rejections {
		if w, ok := wantRejections[r.Line]; !ok || !strings.Contains(r.Reason, w) {
			t.Errorf("line %d rejected: %s, want %q", r.Line, r.Reason, w)
		}
	}

	var comm struct {
		Commissions []struct {
			EntryID string `json:"entry_id"`
			Amount  string `json:"amount"`
		} `json:"commissions"`
	}
	cliJSON(t, &comm, "report", "commissions", "--data", data)
	got := map[string]string{}
	for _, c := range comm.Commissions {
		got[c.EntryID] = c.Amount
	}
	want := map[string]string{
		"O-USD/L1/t1/accrued":     "1000000000000.00",
		"O-USD/L2/t1/accrued":     "1000000000000000.00",
		"O-USD/L1/t1/reversed/R1": "1000000000000.00",
		"O-BHD-0/L1/t1/accrued":   "1000000000000000.000",
		"O-BHD-9/L1/t1/accrued":   "1000000000000000.000",
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %q, want %q", id, got[id], w)
		}
	}
	if len(got) != 13 {
		t.Errorf("%d entries, want 13: %v", len(got), got)
	}

	var balances struct {
		Balances []projections.Balance `json:"balances"`
	}
	cliJSON(t, &balances, "report", "balances", "--data", data)
	var lines []string
	for _, b := range balances.Balances {
		lines = append(lines, strings.Join([]string{b.PartnerID, b.Currency, b.Earned, b.Reversed, b.Pending, b.Payable, b.Paid}, " "))
	}
	if g, w := strings.Join(lines, "\n"), strings.Join([]string{
		"big BHD 10000000000000000.000 0.000 0.000 9990000000000000.000 10000000000000.000",
		"big USD 1001000000000000.00 1000000000000.00 0.00 990000000000000.00 10000000000000.00",
	}, "\n"); g != w {
		t.Errorf("balances:\n%s\nwant\n%s", g, w)
	}
}
