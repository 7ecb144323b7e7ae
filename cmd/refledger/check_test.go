package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/refledger/refledger/events/jetstream"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/ledger"
	"github.com/refledger/refledger/projections"
)

func checkJSON(t *testing.T, data string) (int, checkReport, string) {
	t.Helper()
	code, out, errOut := cli(t, "check", "--data", data, "--format", "json")
	var rep checkReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("check output %q (%s): %v", out, errOut, err)
	}
	return code, rep, errOut
}

func finding(rep checkReport, check string) projections.Finding {
	for _, f := range rep.Checks {
		if f.Check == check {
			return f
		}
	}
	return projections.Finding{}
}

// TestCheckPassesAHealthyFolder: every check holds on the seed, and the
// status is 0.
func TestCheckPassesAHealthyFolder(t *testing.T) {
	data := commitsData(t)
	code, rep, errOut := checkJSON(t, data)
	if code != 0 || rep.Faults != 0 {
		t.Fatalf("check on a healthy folder: exit %d, %+v %s", code, rep, errOut)
	}
	for _, want := range []string{"fact log", "ledger log", "ledger within the facts", "entry ids unique", "decisions refer to facts", "balances are the sums of entries", "ingest index"} {
		if f := finding(rep, want); f.Status != "ok" {
			t.Errorf("%s: %+v", want, f)
		}
	}
}

// appendLedger appends one commit to the ledger log of data: a
// checkpoint through the facts the ledger last decided, then records.
func appendLedger(t *testing.T, data string, records ...store.Event) {
	t.Helper()
	js, err := jetstream.OpenEmbedded(jetstream.EmbeddedConfig{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer js.Close()
	ctx := context.Background()
	l, err := js.Log(ctx, store.LedgerLog)
	if err != nil {
		t.Fatal(err)
	}
	head, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last, err := store.CommitAt(ctx, l, head)
	if err != nil {
		t.Fatal(err)
	}
	c := store.Commit{ID: "forged", Events: append([]store.Event{last.Events[0]}, records...)}
	if _, err := l.Append(ctx, c, store.At(head)); err != nil {
		t.Fatal(err)
	}
}

// TestCheckFindsWhatWouldCostMoney: an entry written twice (the symptom of
// a fact decided twice), and an entry whose fact the fact log does not
// hold, each make check fail with the entry named.
func TestCheckFindsWhatWouldCostMoney(t *testing.T) {
	data := commitsData(t)
	var entry ledger.Entry
	code, out, _ := cli(t, "report", "commissions", "--data", data, "--format", "json")
	var rep struct {
		Commissions []struct {
			EntryID string `json:"entry_id"`
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Commissions) == 0 {
		t.Fatalf("commissions: %d %s", code, out)
	}
	// The entry as the ledger log holds it, written again.
	js, err := jetstream.OpenEmbedded(jetstream.EmbeddedConfig{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := js.Log(context.Background(), store.LedgerLog)
	var raw store.Event
	l.Read(context.Background(), 1, func(s store.Stored) error { //nolint:errcheck // checked below
		for _, e := range s.Commit.Events {
			if e.ID == rep.Commissions[0].EntryID {
				raw = e
			}
		}
		return nil
	})
	js.Close()
	if raw.ID == "" || json.Unmarshal(raw.Data, &entry) != nil {
		t.Fatalf("entry %s not found in the ledger log", rep.Commissions[0].EntryID)
	}
	appendLedger(t, data, raw)
	code, got, _ := checkJSON(t, data)
	if f := finding(got, "entry ids unique"); code != 1 || f.Status != "fault" || !strings.Contains(f.Detail, entry.EntryID) {
		t.Fatalf("an entry written twice: exit %d, %+v", code, f)
	}

	data = commitsData(t)
	entry.EntryID, entry.Fact = "o-none/l1/t1/maria/accrued", "checkout/never-sent"
	b, _ := json.Marshal(entry)
	appendLedger(t, data, store.Event{ID: entry.EntryID, Type: ledger.TypeCommissionAccrued, Data: b})
	code, got, _ = checkJSON(t, data)
	if f := finding(got, "decisions refer to facts"); code != 1 || f.Status != "fault" || !strings.Contains(f.Detail, "checkout/never-sent") {
		t.Fatalf("an entry of a fact never sent: exit %d, %+v", code, f)
	}
}

// TestCheckReportsDamage: a damaged log is a fault, with the position.
func TestCheckReportsDamage(t *testing.T) {
	data := commitsData(t)
	cutBlockTail(10)(t, data, "REFLEDGER_LEDGER")
	code, rep, _ := checkJSON(t, data)
	if f := finding(rep, "ledger log"); code != 1 || f.Status != "fault" || !strings.Contains(f.Detail, "log ledger is damaged at position") {
		t.Fatalf("a ledger log cut short: exit %d, %+v", code, rep)
	}
}

// TestCheckFindsAFactAppendedTwice: the same source and id twice in the
// fact log (what the ingest index exists to prevent) is a fault.
func TestCheckFindsAFactAppendedTwice(t *testing.T) {
	data := commitsData(t)
	js, err := jetstream.OpenEmbedded(jetstream.EmbeddedConfig{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	facts, _ := js.Log(ctx, store.FactsLog)
	first, err := store.CommitAt(ctx, facts, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := facts.Append(ctx, store.Commit{ID: "again", Events: first.Events[:1]}, store.Any{}); err != nil {
		t.Fatal(err)
	}
	js.Close()
	code, rep, _ := checkJSON(t, data)
	if f := finding(rep, "fact log"); code != 1 || f.Status != "fault" || !strings.Contains(f.Detail, "appended again") {
		t.Fatalf("a fact appended twice: exit %d, %+v", code, f)
	}
}
