package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRefusedFactsAreAcceptedAndReported imports facts the ledger cannot
// honour: import counts them accepted (they are kept), balances do not
// move, and report refusals names each with its reason.
func TestRefusedFactsAreAcceptedAndReported(t *testing.T) {
	data := seededData(t)
	before := mustCLI(t, "report", "balances", "--data", data, "--as-of", asOf, "--format", "json")
	lines := []string{
		`{"specversion":"1.0","id":"x-1","source":"billing","type":"order.refunded","time":"2017-07-01T00:00:00Z","data":{"order_id":"o-nope","refund_id":"r-9","lines":[{"line_id":"l1","amount":"1.00"}]}}`,
		`{"specversion":"1.0","id":"x-2","source":"billing","type":"order.refunded","time":"2017-07-01T00:00:00Z","data":{"order_id":"o-2017b","refund_id":"r-2","lines":[{"line_id":"l1","amount":"300.00"}]}}`,
		`{"specversion":"1.0","id":"x-3","source":"finance","type":"payout.recorded","time":"2017-08-01T00:00:00Z","data":{"payout_id":"po-1","partner_id":"maria","currency":"USD","amount":"500.00"}}`,
	}
	file := filepath.Join(t.TempDir(), "refused.jsonl")
	os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o644)
	var rep importReport
	json.Unmarshal([]byte(mustCLI(t, "import", file, "--data", data, "--format", "json")), &rep)
	if rep.Accepted != 3 || rep.Rejected != 0 {
		t.Fatalf("import = %+v, want 3 accepted (kept, refused by the ledger)", rep)
	}
	if after := mustCLI(t, "report", "balances", "--data", data, "--as-of", asOf, "--format", "json"); after != before {
		t.Errorf("refused facts moved balances:\n%s\n%s", before, after)
	}
	var out struct {
		Refusals []struct{ Fact, Type, Reason string }
	}
	decode(t, mustCLI(t, "report", "refusals", "--data", data, "--format", "json"), &out)
	want := []string{"order o-nope is unknown", "exceeds the 248.50 left to refund", "exceeds the 49.70 payable to maria"}
	if len(out.Refusals) != len(want) {
		t.Fatalf("refusals = %+v", out.Refusals)
	}
	for i, w := range want {
		if !strings.Contains(out.Refusals[i].Reason, w) {
			t.Errorf("refusal %d = %+v, want a reason containing %q", i, out.Refusals[i], w)
		}
	}
}
