package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/refledger/refledger/projections"
)

// TestLedgerScenario holds testdata/scenarios/ledger/README.md to the CLI:
// tiers, fixed and percent rates, half-even rounding in cents and in yen,
// refunds down to the last cent, self-referral, subscription cycles,
// payouts (refused and paid, and the entry they pay), and the on-payment
// basis after a policy change.
func TestLedgerScenario(t *testing.T) {
	data := t.TempDir()
	mustCLI(t, "import", filepath.Join("testdata", "scenarios", "ledger", "events.jsonl"), "--data", data)
	jsonOf := func(v any, args ...string) {
		t.Helper()
		cliJSON(t, v, append(args, "--data", data)...)
	}

	var commissions struct {
		Commissions []struct {
			EntryID   string `json:"entry_id"`
			Amount    string `json:"amount"`
			Currency  string `json:"currency"`
			Status    string `json:"status"`
			ProgramID string `json:"program_id"`
			ClickID   string `json:"click_id"`
		} `json:"commissions"`
	}
	jsonOf(&commissions, "report", "commissions")
	got := map[string]string{}
	for _, c := range commissions.Commissions {
		got[c.EntryID] = strings.Join([]string{c.Amount, c.Currency, c.Status, c.ProgramID, c.ClickID}, " ")
	}
	want := map[string]string{
		"O1/L1/t1/accrued":      "12.34 USD reversed main k1",
		"O1/L1/t2/accrued":      "6.17 USD reversed main k1",
		"O1/L1/t3/accrued":      "2.47 USD reversed main k1",
		"O1/L2/t1/accrued":      "15.00 USD paid main k1",
		"O1/L2/t2/accrued":      "4.50 USD payable main k1",
		"O1/L2/t3/accrued":      "1.80 USD payable main k1",
		"O1/L1/t1/reversed/R1":  "4.11 USD reversed main k1",
		"O1/L1/t2/reversed/R1":  "2.06 USD reversed main k1",
		"O1/L1/t3/reversed/R1":  "0.82 USD reversed main k1",
		"O1/L1/t1/reversed/R2":  "8.23 USD reversed main k1",
		"O1/L1/t2/reversed/R2":  "4.11 USD reversed main k1",
		"O1/L1/t3/reversed/R2":  "1.65 USD reversed main k1",
		"O3/L1/t1/accrued":      "124 JPY payable main k3",
		"O3/L1/t2/accrued":      "62 JPY payable main k3",
		"O3/L1/t3/accrued":      "25 JPY payable main k3",
		"S1/L1/t1/accrued":      "10.00 USD payable subs k4",
		"S1/L1/t2/accrued":      "5.00 USD payable subs k4",
		"S2/L1/t1/accrued":      "10.00 USD payable subs k4",
		"S2/L1/t2/accrued":      "5.00 USD payable subs k4",
		"P1/L1/t1/accrued/pay1": "8.00 USD payable main k2",
		"P1/L1/t2/accrued/pay1": "4.00 USD payable main k2",
		"P1/L1/t3/accrued/pay1": "1.60 USD payable main k2",
		"P1/L1/t1/accrued/pay2": "12.00 USD payable main k2",
		"P1/L1/t2/accrued/pay2": "6.00 USD payable main k2",
		"P1/L1/t3/accrued/pay2": "2.40 USD payable main k2",
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %q, want %q", id, got[id], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d entries, want %d: %v", len(got), len(want), got)
	}

	// --from and --to take the entries of a period: March to July holds
	// the subscriptions' first two payments and nothing else.
	var period struct {
		Commissions []struct {
			OrderID string `json:"order_id"`
		} `json:"commissions"`
	}
	jsonOf(&period, "report", "commissions", "--partner", "kim", "--from", "2021-03-01", "--to", "2021-07-01")
	var orders []string
	for _, c := range period.Commissions {
		orders = append(orders, c.OrderID)
	}
	if g := strings.Join(orders, " "); g != "S1 S2" {
		t.Errorf("kim's commissions from March to July: %q, want S1 S2", g)
	}

	var balances struct {
		Balances []projections.Balance `json:"balances"`
	}
	jsonOf(&balances, "report", "balances")
	var lines []string
	for _, b := range balances.Balances {
		lines = append(lines, strings.Join([]string{b.PartnerID, b.Currency, b.Earned, b.Reversed, b.Pending, b.Payable, b.Paid}, " "))
	}
	if g, w := strings.Join(lines, "\n"), strings.Join([]string{
		"boss JPY 25 0 0 25 0",
		"boss USD 8.27 2.47 0.00 5.80 0.00",
		"kim JPY 124 0 0 124 0",
		"kim USD 67.34 12.34 0.00 40.00 15.00",
		"sam JPY 62 0 0 62 0",
		"sam USD 30.67 6.17 0.00 24.50 0.00",
	}, "\n"); g != w {
		t.Errorf("balances:\n%s\nwant\n%s", g, w)
	}

	// The same events listed backwards mean the same: import appends them
	// in the order of their times (and of what each needs within one).
	raw, err := os.ReadFile(filepath.Join("testdata", "scenarios", "ledger", "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	backwards := strings.Split(strings.TrimSpace(string(raw)), "\n")
	slices.Reverse(backwards)
	reversedFile, reversedData := filepath.Join(t.TempDir(), "backwards.jsonl"), t.TempDir()
	if err := os.WriteFile(reversedFile, []byte(strings.Join(backwards, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "import", reversedFile, "--data", reversedData)
	if a, b := mustCLI(t, "report", "balances", "--data", data, "--format", "csv"), mustCLI(t, "report", "balances", "--data", reversedData, "--format", "csv"); a != b {
		t.Errorf("balances of the events listed backwards:\n%s\nwant\n%s", b, a)
	}
	if a, b := mustCLI(t, "report", "commissions", "--data", data, "--format", "csv"), mustCLI(t, "report", "commissions", "--data", reversedData, "--format", "csv"); a != b {
		t.Errorf("commissions of the events listed backwards:\n%s\nwant\n%s", b, a)
	}

	var refusals struct {
		Refusals []struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"refusals"`
	}
	jsonOf(&refusals, "report", "refusals")
	if r := refusals.Refusals; len(r) != 2 ||
		r[0].Type != "payout.recorded" || !strings.Contains(r[0].Reason, "exceeds the 15.00 payable to kim") ||
		r[1].Type != "order.refunded" || !strings.Contains(r[1].Reason, "order NOPE is unknown") {
		t.Errorf("refusals: %+v", r)
	}

	var statement struct {
		Statements []projections.Statement `json:"statements"`
	}
	jsonOf(&statement, "report", "statement", "--partner", "kim", "--from", "2021-03-01", "--to", "2021-07-01")
	lines = nil
	for _, st := range statement.Statements {
		lines = append(lines, strings.Join([]string{st.Currency, st.Opening, st.Accrued, st.Reversed, st.Adjusted, st.Paid, st.Closing}, " "))
	}
	if g, w := strings.Join(lines, "\n"), "JPY 124 0 0 0 0 124\nUSD 15.00 20.00 0.00 0.00 15.00 20.00"; g != w {
		t.Errorf("kim's statement from March to July:\n%s\nwant\n%s", g, w)
	}

	type explanation struct {
		Decision   string `json:"decision"`
		PartnerID  string `json:"partner_id"`
		Candidates []struct {
			ClickID string `json:"click_id"`
			Outcome string `json:"outcome"`
			Reason  string `json:"reason"`
		} `json:"candidates"`
		Lines []struct {
			Amount string `json:"amount"`
			Reason string `json:"reason"`
		} `json:"lines"`
	}
	var o2 explanation
	jsonOf(&o2, "explain", "--order", "O2")
	if o2.Decision != "none" || len(o2.Candidates) != 1 || o2.Candidates[0].ClickID != "k1" || !strings.HasPrefix(o2.Candidates[0].Reason, "self-referral") {
		t.Errorf("O2: %+v", o2)
	}
	var s3 explanation
	jsonOf(&s3, "explain", "--order", "S3")
	if s3.Decision != "credited" || s3.PartnerID != "kim" || len(s3.Lines) != 1 || s3.Lines[0].Amount != "0.00" ||
		!strings.Contains(s3.Lines[0].Reason, "past the 2 commissionable cycles") {
		t.Errorf("S3: %+v", s3)
	}
}
