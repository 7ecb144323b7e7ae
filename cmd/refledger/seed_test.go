package main

import (
	"encoding/json"
	"testing"

	"github.com/refledger/refledger/projections"
)

// TestSeedExpectations checks every expectation of the seed scenario's
// README, field by field, through the CLI's JSON.
func TestSeedExpectations(t *testing.T) {
	data := seededData(t)

	var comm struct{ Commissions []projections.CommissionRow }
	decode(t, mustCLI(t, "report", "commissions", "--data", data, "--as-of", asOf, "--format", "json"), &comm)
	type key struct{ kind, order, partner, source, click, link, program, amount string }
	var got []key
	for _, c := range comm.Commissions {
		got = append(got, key{c.Kind, c.OrderID, c.PartnerID, c.Source, c.ClickID, c.LinkCode, c.ProgramID, c.Amount})
	}
	want := []key{
		{"accrued", "o-2016", "roger", "cookie", "clk-1", "roger-event-2016", "events", "10.00"},
		{"accrued", "o-2017", "roger", "referral-history", "clk-1", "roger-event-2016", "scm", "99.40"},
		{"accrued", "o-2017b", "maria", "cookie", "clk-2", "maria-scm", "scm", "99.40"},
		{"reversed", "o-2017b", "maria", "cookie", "clk-2", "maria-scm", "scm", "49.70"},
	}
	if len(got) != len(want) {
		t.Fatalf("commissions = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("commission %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	var bal struct {
		Balances []struct{ PartnerID, Currency, Earned, Reversed, Pending, Payable, Paid string }
	}
	decode(t, mustCLI(t, "report", "balances", "--data", data, "--as-of", asOf, "--format", "json"), &bal)
	wantBal := map[string][4]string{"roger": {"109.40", "0.00", "109.40", "0.00"}, "maria": {"99.40", "49.70", "49.70", "0.00"}}
	if len(bal.Balances) != 2 {
		t.Fatalf("balances = %+v", bal.Balances)
	}
	for _, b := range bal.Balances {
		if w := wantBal[b.PartnerID]; [4]string{b.Earned, b.Reversed, b.Payable, b.Pending} != w || b.Currency != "USD" {
			t.Errorf("balance of %s = %+v, want earned/reversed/payable/pending %v", b.PartnerID, b, w)
		}
	}

	for partner, want := range map[string][3]string{"roger": {"clk-1", "roger-event-2016", "events"}, "maria": {"clk-2", "maria-scm", "scm"}} {
		var clicks struct{ Clicks []clickRow }
		decode(t, mustCLI(t, "report", "clicks", "--partner", partner, "--data", data, "--format", "json"), &clicks)
		if len(clicks.Clicks) != 1 || [3]string{clicks.Clicks[0].ClickID, clicks.Clicks[0].LinkCode, clicks.Clicks[0].ProgramID} != want {
			t.Errorf("clicks of %s = %+v, want %v", partner, clicks.Clicks, want)
		}
		// --from and --to keep the clicks of a period.
		decode(t, mustCLI(t, "report", "clicks", "--partner", partner, "--from", "2017-06-02T00:00:00Z", "--data", data, "--format", "json"), &clicks)
		if len(clicks.Clicks) != 0 {
			t.Errorf("clicks of %s from 2017-06-02 on: %+v, want none", partner, clicks.Clicks)
		}
		decode(t, mustCLI(t, "report", "clicks", "--partner", partner, "--from", "2016-01-01T00:00:00Z", "--to", "2017-06-02T00:00:00Z", "--data", data, "--format", "json"), &clicks)
		if len(clicks.Clicks) != 1 {
			t.Errorf("clicks of %s from 2016 to 2017-06-02: %+v, want its one", partner, clicks.Clicks)
		}
	}

	var ex struct {
		OrderID, Decision, Source, ClickID, LinkCode string
		PartnerID                                    *string `json:"partner_id"`
		Notes                                        []string
		Candidates                                   []struct{ PartnerID, ClickID, LinkCode, Source, Outcome, Reason string }
	}
	decode(t, mustCLI(t, "explain", "--order", "o-2017", "--data", data, "--format", "json"), &ex)
	if ex.Decision != "credited" || ex.PartnerID == nil || *ex.PartnerID != "roger" || ex.Source != "referral-history" || ex.ClickID != "clk-1" || ex.LinkCode != "roger-event-2016" {
		t.Errorf("explain o-2017 = %+v", ex)
	}
	if len(ex.Notes) == 0 || ex.Notes[0] != "no cookie click was presented: visitor v-phone has no clicks before the order" {
		t.Errorf("explain o-2017 does not say no cookie click was presented: %v", ex.Notes)
	}
}

// decode unmarshals JSON whose keys are snake_case into structs whose
// fields are CamelCase, by going through the json tags or a name match.
func decode(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(snakeToCamelKeys(t, out)), v); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
}

// snakeToCamelKeys rewrites object keys so "partner_id" also matches a
// field PartnerID (encoding/json matches names case-insensitively, not
// underscores). Keys the struct tags name are kept as they were.
func snakeToCamelKeys(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	var walk func(any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, val := range x {
				out[k] = walk(val)
				camel := ""
				up := false
				for _, r := range k {
					if r == '_' {
						up = true
						continue
					}
					if up && r >= 'a' && r <= 'z' {
						r -= 'a' - 'A'
					}
					up = false
					camel += string(r)
				}
				if _, exists := out[camel]; !exists {
					out[camel] = out[k]
				}
			}
			return out
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		}
		return x
	}
	b, _ := json.Marshal(walk(v))
	return string(b)
}
