package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/refledger/refledger/events/esdb/esdbtest"
)

// TestSeedOnEventStoreDB runs the seed scenario with --eventstore-url,
// against the in-process EventStoreDB protocol server: the same results as
// on the embedded store.
func TestSeedOnEventStoreDB(t *testing.T) {
	srv, err := esdbtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	es := []string{"--eventstore-url", srv.URL(), "--data", t.TempDir()}
	var rep importReport
	if err := json.Unmarshal([]byte(mustCLI(t, append([]string{"import", filepath.Join(seedDir, "events.jsonl"), "--format", "json"}, es...)...)), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 18 {
		t.Fatalf("import = %+v", rep)
	}
	again := importReport{}
	json.Unmarshal([]byte(mustCLI(t, append([]string{"import", filepath.Join(seedDir, "events.jsonl"), "--format", "json"}, es...)...)), &again)
	if again.Duplicate != 18 || again.Accepted != 0 {
		t.Fatalf("second import = %+v", again)
	}
	golden(t, "seed-balances.json", mustCLI(t, append([]string{"report", "balances", "--as-of", asOf, "--format", "json"}, es...)...))
	golden(t, "seed-explain-o-2017.json", mustCLI(t, append([]string{"explain", "--order", "o-2017", "--format", "json"}, es...)...))
	r := replayCLI(t, append([]string{"--policy", filepath.Join(seedDir, "policy-cookies-only.json"), "--apply"}, es...)...)
	if len(r.Changes) != 1 || r.Applied == nil || r.Applied.Adjustments != 1 {
		t.Fatalf("replay --apply = %+v", r)
	}
	if now := replayCLI(t, append([]string{"--current"}, es...)...); len(now.Changes) != 0 {
		t.Fatalf("replay after apply changed %+v", now.Changes)
	}
}
