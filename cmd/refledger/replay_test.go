package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type replayJSON struct {
	ReplayID string `json:"replay_id"`
	Changes  []struct {
		OrderID       string  `json:"order_id"`
		LineID        string  `json:"line_id"`
		PartnerBefore *string `json:"partner_before"`
		PartnerAfter  *string `json:"partner_after"`
		AmountBefore  string  `json:"amount_before"`
		AmountAfter   string  `json:"amount_after"`
		Currency      string  `json:"currency"`
	} `json:"changes"`
	Totals []struct {
		PartnerID string `json:"partner_id"`
		Currency  string `json:"currency"`
		Before    string `json:"before"`
		After     string `json:"after"`
		Delta     string `json:"delta"`
	} `json:"totals"`
	Applied *struct {
		Adjustments    int  `json:"adjustments"`
		AlreadyApplied bool `json:"already_applied"`
	} `json:"applied"`
}

func replayCLI(t *testing.T, args ...string) replayJSON {
	t.Helper()
	var r replayJSON
	if err := json.Unmarshal([]byte(mustCLI(t, append([]string{"replay", "--format", "json"}, args...)...)), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSeedReplays checks both seed replays: o-2017 goes from roger 99.40 to
// nobody, roger's total from 109.40 to 10.00, and nothing else changes.
func TestSeedReplays(t *testing.T) {
	data := seededData(t)
	for _, policy := range []string{"policy-cookies-only.json", "policy-link-program.json"} {
		t.Run(policy, func(t *testing.T) {
			r := replayCLI(t, "--data", data, "--policy", filepath.Join(seedDir, policy))
			if len(r.Changes) != 1 {
				t.Fatalf("changes = %+v, want only o-2017", r.Changes)
			}
			c := r.Changes[0]
			if c.OrderID != "o-2017" || c.LineID != "l1" || c.PartnerBefore == nil || *c.PartnerBefore != "roger" || c.PartnerAfter != nil || c.AmountBefore != "99.40" || c.AmountAfter != "0.00" || c.Currency != "USD" {
				t.Errorf("change = %+v", c)
			}
			for _, tot := range r.Totals {
				switch tot.PartnerID {
				case "roger":
					if tot.Before != "109.40" || tot.After != "10.00" || tot.Delta != "-99.40" {
						t.Errorf("roger's total = %+v", tot)
					}
				default:
					if tot.Delta != "0.00" {
						t.Errorf("%s changed: %+v", tot.PartnerID, tot)
					}
				}
			}
			for _, f := range []string{"table", "json", "csv"} {
				out := mustCLI(t, "replay", "--data", data, "--policy", filepath.Join(seedDir, policy), "--format", f)
				golden(t, "seed-replay-"+policy+"."+f, out)
				// Byte-identical across runs.
				if again := mustCLI(t, "replay", "--data", data, "--policy", filepath.Join(seedDir, policy), "--format", f); again != out {
					t.Errorf("replay output differs between two runs")
				}
			}
		})
	}
}

func TestReplayUnchangedPolicyIsEmpty(t *testing.T) {
	data := seededData(t)
	unchanged := filepath.Join(t.TempDir(), "same.json")
	os.WriteFile(unchanged, []byte(`{"tracking":"referral-history-and-cookies","credit":"last","cookie_days":30,"referral_days":0,"program_binding":"partner-programs","self_referral":"reject","holding_days":30,"payout_basis":"upfront"}`), 0o644)
	if r := replayCLI(t, "--data", data, "--policy", unchanged); len(r.Changes) != 0 {
		t.Fatalf("replay under the unchanged policy changed %+v", r.Changes)
	}
	if r := replayCLI(t, "--data", data, "--current"); len(r.Changes) != 0 {
		t.Fatalf("replay under the current timeline changed %+v", r.Changes)
	}
}

func TestReplayApply(t *testing.T) {
	data := seededData(t)
	policy := filepath.Join(seedDir, "policy-cookies-only.json")
	r := replayCLI(t, "--data", data, "--policy", policy, "--apply")
	if r.Applied == nil || r.Applied.AlreadyApplied || r.Applied.Adjustments != 1 {
		t.Fatalf("apply = %+v", r.Applied)
	}
	// After apply, a replay under the now-current timeline shows an empty diff.
	if now := replayCLI(t, "--data", data, "--current"); len(now.Changes) != 0 {
		t.Fatalf("replay after apply changed %+v", now.Changes)
	}
	// Applying the same replay again changes nothing.
	again := replayCLI(t, "--data", data, "--policy", policy, "--apply")
	if len(again.Changes) != 0 || again.Applied == nil || !again.Applied.AlreadyApplied {
		t.Fatalf("second apply = %+v", again)
	}
	var bal struct {
		Balances []struct{ PartnerID, Earned, Reversed, Payable string }
	}
	// Adjustments take effect when applied: balances as of now show them,
	// balances as of a day before the apply do not.
	decode(t, mustCLI(t, "report", "balances", "--data", data, "--format", "json"), &bal)
	for _, b := range bal.Balances {
		if b.PartnerID == "roger" && (b.Earned != "109.40" || b.Reversed != "99.40" || b.Payable != "10.00") {
			t.Errorf("roger after apply = %+v, want 99.40 reversed by the adjustment", b)
		}
	}
	decode(t, mustCLI(t, "report", "balances", "--data", data, "--as-of", asOf, "--format", "json"), &bal)
	for _, b := range bal.Balances {
		if b.PartnerID == "roger" && b.Payable != "109.40" {
			t.Errorf("roger as of %s, before the apply = %+v: the past was rewritten", asOf, b)
		}
	}
	var ex struct{ Decision string }
	decode(t, mustCLI(t, "explain", "--order", "o-2017", "--data", data, "--format", "json"), &ex)
	if ex.Decision != "none" {
		t.Errorf("o-2017 after apply is explained as %q, want none", ex.Decision)
	}
	// A new order after apply is decided under the applied policy.
	later := filepath.Join(t.TempDir(), "later.jsonl")
	os.WriteFile(later, []byte(`{"specversion":"1.0","id":"later-1","source":"checkout","type":"order.placed","time":"2018-01-02T10:00:00Z","data":{"order_id":"o-2018","contact_id":"katie","visitor_id":"v-new","currency":"USD","lines":[{"line_id":"l1","product_id":"scm","quantity":1,"amount":"100.00"}]}}`+"\n"), 0o644)
	mustCLI(t, "import", later, "--data", data)
	decode(t, mustCLI(t, "explain", "--order", "o-2018", "--data", data, "--format", "json"), &ex)
	if ex.Decision != "none" {
		t.Errorf("o-2018 under the applied cookies-only policy: %q, want none", ex.Decision)
	}
	if text := mustCLI(t, "explain", "--order", "o-2018", "--data", data); !strings.Contains(text, "(in force from the start): tracking cookies-only") {
		t.Errorf("o-2018's policy line: %s", text)
	}
	if now := replayCLI(t, "--data", data, "--current"); len(now.Changes) != 0 {
		t.Fatalf("replay after a later order changed %+v", now.Changes)
	}
}

func TestReplayPolicyFileErrors(t *testing.T) {
	data := seededData(t)
	dir := t.TempDir()
	for name, body := range map[string]string{
		"typo.json":  `{"trackng":"cookies-only"}`,
		"value.json": `{"tracking":"cookies"}`,
		"json.json":  `{"tracking":`,
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(body), 0o644)
		if code, _, errOut := cli(t, "replay", "--data", data, "--policy", path); code != 2 {
			t.Errorf("%s: exit %d (%s), want 2", name, code, errOut)
		}
	}
}

// A replay whose ledger snapshot is damaged reads the ledger log instead,
// gives the same answer, and says why the snapshot was not used.
func TestReplaySaysWhyTheSnapshotWasNotUsed(t *testing.T) {
	data := seededData(t)
	policy := filepath.Join(seedDir, "policy-cookies-only.json")
	want := mustCLI(t, "replay", "--format", "json", "--data", data, "--policy", policy)
	path := filepath.Join(data, "snapshots", "ledger-writer.snap")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the import saved no writer snapshot: %v", err)
	}
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	code, got, errOut := cli(t, "replay", "--format", "json", "--data", data, "--policy", policy)
	if code != 0 || got != want {
		t.Fatalf("replay on a damaged snapshot: exit %d, %s\nwant %s", code, got, want)
	}
	if !strings.Contains(errOut, "snapshot was not used") || !strings.Contains(errOut, "checksum") {
		t.Errorf("the log does not say why the snapshot was not used: %s", errOut)
	}
}

// A replay that changes more than one ledger commit holds is applied in
// parts, and all of it: the balances move, a replay under the timeline now
// in force finds nothing to change, and applying again changes nothing.
func TestLargeReplayAppliesInParts(t *testing.T) {
	data, policy := largeReplayData(t)
	const later = "2099-01-01T00:00:00Z" // after the adjustments, which take effect when applied
	if before := mustCLI(t, "report", "balances", "--data", data, "--format", "json", "--as-of", later); !strings.Contains(before, `"earned": "2100.00"`) {
		t.Fatalf("the orders did not earn: %s", before)
	}
	r := replayCLI(t, "--policy", policy, "--apply", "--data", data)
	if len(r.Changes) != largeReplayOrders || r.Applied == nil || r.Applied.Adjustments != largeReplayOrders || r.Applied.AlreadyApplied {
		t.Fatalf("%d changes, applied %+v; want %d of each", len(r.Changes), r.Applied, largeReplayOrders)
	}
	after := mustCLI(t, "report", "balances", "--data", data, "--format", "json", "--as-of", later)
	if !strings.Contains(after, `"payable": "0.00"`) {
		t.Errorf("after the apply ann keeps commission: %s", after)
	}
	if again := replayCLI(t, "--current", "--data", data); len(again.Changes) != 0 {
		t.Errorf("a replay under the timeline in force changes %d lines", len(again.Changes))
	}
	if again := replayCLI(t, "--policy", policy, "--apply", "--data", data); again.Applied == nil || !again.Applied.AlreadyApplied || len(again.Changes) != 0 {
		t.Errorf("applying again: %+v, %d changes", again.Applied, len(again.Changes))
	}
	if now := mustCLI(t, "report", "balances", "--data", data, "--format", "json", "--as-of", later); now != after {
		t.Errorf("applying again moved the balances:\n%s\nwant\n%s", now, after)
	}
}

// largeReplayOrders is how many orders largeReplayData makes: a replay of
// them all makes 2,100 adjusting entries and as many explanations, more
// than one ledger commit holds (4,096 events).
const largeReplayOrders = 2100

// largeReplayData imports largeReplayOrders orders, each earning Ann 1.00
// through a cookie two days old, into a new data folder, and writes a
// policy under which none of them earns (one-day cookies).
func largeReplayData(t *testing.T) (data, policy string) {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	ev := func(id, typ, at, data string) {
		fmt.Fprintf(&b, `{"specversion":"1.0","id":%q,"source":"t","type":%q,"time":%q,"data":%s}`+"\n", id, typ, at, data)
	}
	ev("p", "partner.registered", "2020-01-01T00:00:00Z", `{"partner_id":"ann","name":"Ann"}`)
	ev("g", "program.defined", "2020-01-01T00:00:00Z", `{"program_id":"p","name":"P","priority":1,"default_rate":"10%"}`)
	ev("e", "partner.enrolled", "2020-01-01T00:00:00Z", `{"partner_id":"ann","program_id":"p"}`)
	ev("l", "link.created", "2020-01-01T00:00:00Z", `{"link_code":"ann-l","partner_id":"ann","program_id":"p","landing_url":"https://x.example/"}`)
	ev("c", "click.recorded", "2020-02-01T00:00:00Z", `{"click_id":"k1","link_code":"ann-l","visitor_id":"v1"}`)
	for i := 0; i < largeReplayOrders; i++ {
		ev(fmt.Sprintf("o%d", i), "order.placed", "2020-02-03T00:00:00Z", fmt.Sprintf(`{"order_id":"o%d","visitor_id":"v1","currency":"USD","lines":[{"line_id":"l1","product_id":"x","quantity":1,"amount":"10.00"}]}`, i))
	}
	events := filepath.Join(dir, "events.jsonl")
	policy = filepath.Join(dir, "policy.json")
	if err := os.WriteFile(events, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policy, []byte(oneDayCookies), 0o644); err != nil {
		t.Fatal(err)
	}
	data = filepath.Join(dir, "data")
	mustCLI(t, "import", events, "--data", data)
	return data, policy
}

const oneDayCookies = `{"tracking":"cookies-only","credit":"last","cookie_days":1,"referral_days":0,"program_binding":"partner-programs","self_referral":"reject","holding_days":30,"payout_basis":"upfront"}`
