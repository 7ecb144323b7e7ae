package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLateScenario holds testdata/scenarios/late/README.md to the CLI:
// referrals that reach the ledger after the orders they came before.
func TestLateScenario(t *testing.T) {
	late := filepath.Join("testdata", "scenarios", "late")
	data := seededData(t)
	mustCLI(t, "import", filepath.Join(late, "payout.jsonl"), "--data", data)
	var imported struct {
		Accepted     int `json:"accepted"`
		DecidedAgain int `json:"decided_again"`
	}
	start := time.Now().UTC()
	cliJSON(t, &imported, "import", filepath.Join(late, "late.jsonl"), "--data", data)
	end := time.Now().UTC()
	if imported.Accepted != 2 || imported.DecidedAgain != 1 {
		t.Errorf("the late import: %+v, want 2 accepted and 1 order decided again", imported)
	}

	var comm struct {
		Commissions []struct {
			EntryID   string `json:"entry_id"`
			Kind      string `json:"kind"`
			PartnerID string `json:"partner_id"`
			Amount    string `json:"amount"`
			Time      string `json:"time"`
		} `json:"commissions"`
	}
	cliJSON(t, &comm, "report", "commissions", "--order", "o-2017", "--data", data)
	got := map[string]string{}
	var adjustedAt time.Time // when the log received the late referral
	for _, c := range comm.Commissions {
		at := c.Time
		if c.Kind == "adjusted" {
			parsed, err := time.Parse(time.RFC3339Nano, c.Time)
			if err != nil || parsed.Before(start) || parsed.After(end) {
				t.Errorf("%s dated %s: want when the import ran, %s to %s", c.EntryID, c.Time, start.Format(time.RFC3339Nano), end.Format(time.RFC3339Nano))
			}
			at, adjustedAt = "(arrival)", parsed
		}
		got[c.EntryID] = c.Kind + " " + c.PartnerID + " " + c.Amount + " " + at
	}
	want := map[string]string{
		"o-2017/l1/t1/accrued":                     "accrued roger 99.40 2017-03-02T10:00:00Z",
		"o-2017/l1/t1/maria/adjusted/crm/late-001": "adjusted maria 99.40 (arrival)",
		"o-2017/l1/t1/roger/adjusted/crm/late-001": "adjusted roger -99.40 (arrival)",
	}
	if len(got) != len(want) {
		t.Errorf("o-2017's entries: %v, want %v", got, want)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("entry %s: %q, want %q", id, got[id], w)
		}
	}

	// Finance finds the adjustments alone with --kind adjusted.
	cliJSON(t, &comm, "report", "commissions", "--kind", "adjusted", "--data", data)
	if len(comm.Commissions) != 2 || comm.Commissions[0].Kind != "adjusted" || comm.Commissions[1].Kind != "adjusted" {
		t.Errorf("--kind adjusted: %+v", comm.Commissions)
	}
	if code, _, errOut := cli(t, "report", "commissions", "--kind", "moved", "--data", data); code != 2 || !strings.Contains(errOut, "--kind") {
		t.Errorf("--kind moved: exit %d, %s", code, errOut)
	}

	wantBal := map[string][4]string{"roger": {"109.40", "99.40", "109.40", "-99.40"}, "maria": {"198.80", "49.70", "0.00", "149.10"}}
	if got := payables(t, data); len(got) != len(wantBal) || got["roger"] != wantBal["roger"] || got["maria"] != wantBal["maria"] {
		t.Errorf("balances (earned, reversed, paid, payable) %v, want %v", got, wantBal)
	}

	// Roger's July statement: the payout, closing at zero. The adjustment
	// is dated when the fact log received the phone referral, the day of
	// the import: his statement from July to then closes below zero.
	type sums struct {
		Opening  string `json:"opening"`
		Adjusted string `json:"adjusted"`
		Paid     string `json:"paid"`
		Closing  string `json:"closing"`
	}
	var st struct {
		Statements []sums `json:"statements"`
	}
	cliJSON(t, &st, "report", "statement", "--partner", "roger", "--from", "2017-07-01T00:00:00Z", "--to", "2017-08-01T00:00:00Z", "--data", data)
	if len(st.Statements) != 1 || st.Statements[0] != (sums{"109.40", "0.00", "109.40", "0.00"}) {
		t.Errorf("roger's July statement: %+v, want opening 109.40, adjusted 0.00, paid 109.40, closing 0.00", st.Statements)
	}
	cliJSON(t, &st, "report", "statement", "--partner", "roger", "--from", "2017-07-01T00:00:00Z", "--to", adjustedAt.Add(time.Second).Format(time.RFC3339Nano), "--data", data)
	if len(st.Statements) != 1 || st.Statements[0] != (sums{"109.40", "-99.40", "109.40", "-99.40"}) {
		t.Errorf("roger's statement from July 2017 to the import: %+v, want opening 109.40, adjusted -99.40, paid 109.40, closing -99.40", st.Statements)
	}

	var ex struct {
		Decision       string `json:"decision"`
		PartnerID      string `json:"partner_id"`
		Source         string `json:"source"`
		DecidedAgainBy string `json:"decided_again_by"`
		Candidates     []struct {
			ClickID string `json:"click_id"`
			Outcome string `json:"outcome"`
			Reason  string `json:"reason"`
		} `json:"candidates"`
	}
	cliJSON(t, &ex, "explain", "--order", "o-2017", "--data", data)
	if ex.Decision != "credited" || ex.PartnerID != "maria" || ex.Source != "manual" || ex.DecidedAgainBy != "crm/late-001" {
		t.Errorf("explain o-2017: %+v", ex)
	}
	lostToLater := false
	for _, c := range ex.Candidates {
		lostToLater = lostToLater || c.ClickID == "clk-1" && c.Outcome == "lost" && c.Reason == "a later referral wins (credit: last)"
	}
	if !lostToLater {
		t.Errorf("explain o-2017: roger's clk-1 is not a candidate lost to a later referral: %+v", ex.Candidates)
	}

	var rp struct {
		Changes []any `json:"changes"`
	}
	cliJSON(t, &rp, "replay", "--current", "--data", data)
	if len(rp.Changes) != 0 {
		t.Errorf("replaying the log under its own timeline changes %v: the ledger does not reproduce", rp.Changes)
	}

	// The same facts in one import, in time order, without the payout:
	// the same payable amounts, and no adjusting entry.
	combined := filepath.Join(t.TempDir(), "all.jsonl")
	concat(t, combined, filepath.Join(seedDir, "events.jsonl"), filepath.Join(late, "late.jsonl"))
	inTime := t.TempDir()
	mustCLI(t, "import", combined, "--data", inTime)
	got2 := payables(t, inTime)
	if got2["roger"][3] != "10.00" || got2["maria"][3] != "149.10" {
		t.Errorf("imported in time order: %v, want roger payable 10.00 and maria 149.10", got2)
	}
	cliJSON(t, &comm, "report", "commissions", "--data", inTime)
	for _, c := range comm.Commissions {
		if c.Kind == "adjusted" {
			t.Errorf("imported in time order, yet adjusted: %+v", c)
		}
	}
}

// payables reads each partner's USD earned, reversed, paid and payable.
func payables(t *testing.T, data string) map[string][4]string {
	t.Helper()
	var bal struct {
		Balances []struct {
			PartnerID string `json:"partner_id"`
			Earned    string `json:"earned"`
			Reversed  string `json:"reversed"`
			Paid      string `json:"paid"`
			Payable   string `json:"payable"`
		} `json:"balances"`
	}
	cliJSON(t, &bal, "report", "balances", "--data", data)
	out := map[string][4]string{}
	for _, b := range bal.Balances {
		out[b.PartnerID] = [4]string{b.Earned, b.Reversed, b.Paid, b.Payable}
	}
	return out
}

// concat writes the files' lines, one after the other, to path.
func concat(t *testing.T, path string, files ...string) {
	t.Helper()
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if err := os.WriteFile(path, all, 0o644); err != nil {
		t.Fatal(err)
	}
}
