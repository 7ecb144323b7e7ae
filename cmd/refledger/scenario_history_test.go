package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestHistoryScenario holds testdata/scenarios/history/README.md to the CLI.
func TestHistoryScenario(t *testing.T) {
	data := t.TempDir()
	mustCLI(t, "import", filepath.Join("testdata", "scenarios", "history", "events.jsonl"), "--data", data)
	var report struct {
		Commissions []struct {
			OrderID   string `json:"order_id"`
			PartnerID string `json:"partner_id"`
			Source    string `json:"source"`
			ClickID   string `json:"click_id"`
			Amount    string `json:"amount"`
			Kind      string `json:"kind"`
		} `json:"commissions"`
	}
	cliJSON(t, &report, "report", "commissions", "--data", data)
	got := map[string]string{}
	for _, c := range report.Commissions {
		got[c.OrderID] = strings.Join([]string{c.PartnerID, c.Source, c.ClickID, c.Amount, c.Kind}, " ")
	}
	want := map[string]string{
		"A": "ben manual  10.00 accrued",
		"B": "ann cookie k1 10.00 accrued",
		"C": "ben manual  10.00 accrued",
		"D": "ben manual  10.00 accrued",
	}
	for order, w := range want {
		if got[order] != w {
			t.Errorf("order %s: %q, want %q", order, got[order], w)
		}
	}
	if g, ok := got["E"]; ok {
		t.Errorf("order E earned %q under cookies-only with no cookie", g)
	}

	type candidate struct {
		PartnerID string `json:"partner_id"`
		ClickID   string `json:"click_id"`
		Source    string `json:"source"`
		Outcome   string `json:"outcome"`
		Reason    string `json:"reason"`
	}
	explain := func(order string) (decision string, candidates []candidate) {
		var ex struct {
			Decision   string      `json:"decision"`
			Candidates []candidate `json:"candidates"`
		}
		cliJSON(t, &ex, "explain", "--order", order, "--data", data)
		return ex.Decision, ex.Candidates
	}
	decision, cands := explain("C")
	if decision != "credited" || len(cands) != 2 ||
		cands[0] != (candidate{PartnerID: "ben", Source: "manual", Outcome: "won", Reason: "the first qualifying referral (credit: first)"}) ||
		cands[1] != (candidate{PartnerID: "ann", ClickID: "k1", Source: "referral-history", Outcome: "lost", Reason: "an earlier referral wins (credit: first)"}) {
		t.Errorf("order C: %s, candidates %+v", decision, cands)
	}
	decision, cands = explain("E")
	if decision != "none" || len(cands) != 2 || cands[0].Reason != "cookies-only ignores referral history" || cands[1].Reason != "cookies-only ignores referral history" {
		t.Errorf("order E: %s, candidates %+v", decision, cands)
	}
}
