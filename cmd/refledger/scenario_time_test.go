package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTimeScenario holds testdata/scenarios/time/README.md to the CLI:
// times keep their full precision, so a click at 10:00:00.9 after an
// order at 10:00:00.5 earns nothing, whenever it reaches the ledger, and
// every report shows the click's time with its fraction.
func TestTimeScenario(t *testing.T) {
	dir := filepath.Join("testdata", "scenarios", "time")
	data := t.TempDir()
	mustCLI(t, "import", filepath.Join(dir, "events.jsonl"), "--data", data)
	mustCLI(t, "import", filepath.Join(dir, "orders.jsonl"), "--data", data)
	var imported struct {
		Accepted     int `json:"accepted"`
		DecidedAgain int `json:"decided_again"`
	}
	cliJSON(t, &imported, "import", filepath.Join(dir, "late.jsonl"), "--data", data)
	if imported.Accepted != 1 || imported.DecidedAgain != 0 {
		t.Errorf("the late click: %+v, want 1 accepted and no order decided again", imported)
	}

	var comm struct {
		Commissions []struct {
			EntryID string `json:"entry_id"`
			Amount  string `json:"amount"`
		} `json:"commissions"`
	}
	cliJSON(t, &comm, "report", "commissions", "--data", data)
	var entries []string
	for _, c := range comm.Commissions {
		entries = append(entries, c.EntryID+" "+c.Amount)
	}
	if want := []string{"o-before/l1/t1/accrued 99.40"}; !slices.Equal(entries, want) {
		t.Errorf("entries %v, want %v: the clicks after their orders earn nothing", entries, want)
	}

	var ex struct {
		Decision   string `json:"decision"`
		Candidates []struct {
			ClickID string `json:"click_id"`
			Time    string `json:"time"`
			Outcome string `json:"outcome"`
			Reason  string `json:"reason"`
		} `json:"candidates"`
	}
	cliJSON(t, &ex, "explain", "--order", "o-after", "--data", data)
	const after = "the click at 2017-03-02T10:00:00.9Z came after the order"
	if ex.Decision != "none" || len(ex.Candidates) != 1 || ex.Candidates[0].ClickID != "clk-after" ||
		ex.Candidates[0].Outcome != "lost" || ex.Candidates[0].Reason != after || ex.Candidates[0].Time != "2017-03-02T10:00:00.9Z" {
		t.Errorf("explain o-after: %+v, want none, clk-after lost at 10:00:00.9: %q", ex, after)
	}
	table := mustCLI(t, "explain", "--order", "o-after", "--data", data)
	if !strings.Contains(table, "at 2017-03-02T10:00:00.9Z: "+after) || !strings.Contains(table, "2017-03-02T10:00:00.5Z") {
		t.Errorf("explain o-after as a table shows no fractions:\n%s", table)
	}
	cliJSON(t, &ex, "explain", "--order", "o-late", "--data", data)
	if ex.Decision != "none" {
		t.Errorf("explain o-late: %+v, want none", ex)
	}

	var clicks struct {
		Clicks []struct {
			ClickID string `json:"click_id"`
			Time    string `json:"time"`
		} `json:"clicks"`
	}
	cliJSON(t, &clicks, "report", "clicks", "--partner", "maria", "--data", data)
	var got []string
	for _, c := range clicks.Clicks {
		got = append(got, c.ClickID+" "+c.Time)
	}
	slices.Sort(got)
	if want := []string{"clk-after 2017-03-02T10:00:00.9Z", "clk-before 2017-03-02T11:00:00.3Z", "clk-late-after 2017-03-02T12:00:00.9Z"}; !slices.Equal(got, want) {
		t.Errorf("report clicks: %v, want %v", got, want)
	}
	table = mustCLI(t, "report", "clicks", "--partner", "maria", "--data", data)
	if !strings.Contains(table, "2017-03-02T10:00:00.9Z") {
		t.Errorf("report clicks as a table shows no fractions:\n%s", table)
	}
}
