package main

import (
	"encoding/csv"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// TestSignedAmountsSumToTheBalance: a finance user summing a partner's
// commission column gets its balance. Before, reversed entries were
// positive and adjusting entries negative in one column: summing maria's
// gave 149.10 for a balance of 49.70. Checked after a refund reversal and
// after a replay applied (adjusting entries), in JSON and CSV.
func TestSignedAmountsSumToTheBalance(t *testing.T) {
	data := seededData(t)
	mustCLI(t, "replay", "--policy", filepath.Join(seedDir, "policy-cookies-only.json"), "--apply", "--data", data)
	var commissions struct {
		Commissions []struct {
			PartnerID    string `json:"partner_id"`
			Currency     string `json:"currency"`
			Kind         string `json:"kind"`
			SignedAmount string `json:"signed_amount"`
		} `json:"commissions"`
	}
	cliJSON(t, &commissions, "report", "commissions", "--data", data, "--as-of", "2099-01-01T00:00:00Z")
	sums := map[string]decimal.Decimal{}
	kinds := map[string]bool{}
	for _, c := range commissions.Commissions {
		sums[c.PartnerID+" "+c.Currency] = sums[c.PartnerID+" "+c.Currency].Add(decimal.RequireFromString(c.SignedAmount))
		kinds[c.Kind] = true
	}
	if !kinds["reversed"] || !kinds["adjusted"] || !kinds["accrued"] {
		t.Fatalf("the history should hold every kind of entry, has %v", kinds)
	}
	var balances struct {
		Balances []struct {
			PartnerID string `json:"partner_id"`
			Currency  string `json:"currency"`
			Earned    string `json:"earned"`
			Reversed  string `json:"reversed"`
		} `json:"balances"`
	}
	cliJSON(t, &balances, "report", "balances", "--data", data, "--as-of", "2099-01-01T00:00:00Z")
	for _, b := range balances.Balances {
		want := decimal.RequireFromString(b.Earned).Sub(decimal.RequireFromString(b.Reversed))
		if got := sums[b.PartnerID+" "+b.Currency]; !got.Equal(want) {
			t.Errorf("%s %s: signed amounts sum to %s, the balance's earned less reversed is %s", b.PartnerID, b.Currency, got, want)
		}
	}
	// The CSV carries the same column, and sums the same.
	code, out, errOut := cli(t, "report", "commissions", "--data", data, "--as-of", "2099-01-01T00:00:00Z", "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != len(commissions.Commissions)+1 {
		t.Fatalf("commissions CSV: exit %d, %v, %d rows: %s", code, err, len(rows), errOut)
	}
	col := slices.Index(rows[0], "signed_amount")
	if col < 0 {
		t.Fatalf("CSV header %v has no signed_amount", rows[0])
	}
	total, want := decimal.Zero, decimal.Zero
	for _, r := range rows[1:] {
		total = total.Add(decimal.RequireFromString(r[col]))
	}
	for _, s := range sums {
		want = want.Add(s)
	}
	if !total.Equal(want) {
		t.Errorf("the CSV's signed_amount column sums to %s, the JSON's to %s", total, want)
	}
}

// TestAsOfABareDateMeansItsEnd: finance asking for balances "as of
// 2017-06-20" means that day's end: the refund of 10:00 that day counts.
// Before, a bare date meant its first instant.
func TestAsOfABareDateMeansItsEnd(t *testing.T) {
	data := seededData(t)
	var day, instant struct {
		Balances []struct {
			PartnerID string `json:"partner_id"`
			Reversed  string `json:"reversed"`
		} `json:"balances"`
	}
	cliJSON(t, &day, "report", "balances", "--data", data, "--as-of", "2017-06-20")
	cliJSON(t, &instant, "report", "balances", "--data", data, "--as-of", "2017-06-20T00:00:00Z")
	reversed := func(b []struct {
		PartnerID string `json:"partner_id"`
		Reversed  string `json:"reversed"`
	}) string {
		for _, x := range b {
			if x.PartnerID == "maria" {
				return x.Reversed
			}
		}
		return ""
	}
	if reversed(day.Balances) != "49.70" || reversed(instant.Balances) != "0.00" {
		t.Fatalf("maria's reversed as of 2017-06-20: %q (want 49.70, the day's end), at its first instant %q (want 0.00)", reversed(day.Balances), reversed(instant.Balances))
	}
}
