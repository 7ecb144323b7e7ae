package ledger

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/internal/synth"
)

// checkRecords holds every record of out to encoding/json's bytes for the
// value it was made from (the attributions come first, in order), and to
// that value.
func checkRecords(t *testing.T, out Output) {
	t.Helper()
	attributions := out.Attributions
	for _, r := range out.Records() {
		var v any
		switch {
		case r.Entry != nil:
			v = r.Entry
		case r.Type == TypeOrderAttributed:
			a := &attributions[0]
			if r.Explains != a.OrderID || r.ReplayID != a.ReplayID {
				t.Fatalf("record %s names order %q of replay %q, made from %q of %q", r.ID, r.Explains, r.ReplayID, a.OrderID, a.ReplayID)
			}
			v, attributions = a, attributions[1:]
		default:
			continue
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r.Data, want) {
			t.Fatalf("record %s:\n got %s\nwant %s", r.ID, r.Data, want)
		}
	}
}

// TestRecordJSONMatchesEncodingJSON folds the seed scenario and a synthetic
// history (every kind of entry, candidates of every source, tiers, notes)
// and compares every record's bytes with encoding/json's.
func TestRecordJSONMatchesEncodingJSON(t *testing.T) {
	var histories [][]events.Fact
	histories = append(histories, loadFacts(t, filepath.Join("..", "testdata", "scenarios", "seed", "events.jsonl")))
	var synthetic []events.Fact
	synth.Generate(synth.Standard().Scaled(1000), func(f events.Fact) { synthetic = append(synthetic, f) })
	histories = append(histories, synthetic)
	records := 0
	for _, facts := range histories {
		e := NewEngine(nil)
		for _, f := range facts {
			out := e.Apply(f, nil)
			checkRecords(t, out)
			records += len(out.Entries) + len(out.Attributions)
		}
	}
	if records < 1000 {
		t.Fatalf("only %d records compared", records)
	}
}

// FuzzRecordJSON compares the encoders with encoding/json on any strings:
// escapes, HTML characters, invalid UTF-8, U+2028.
func FuzzRecordJSON(f *testing.F) {
	f.Add("o-1", "l/1", "cookie", "10.00", 1, int64(0), true)
	f.Add("<a href=\"x\">&</a>", "\x00\x1f\u2028\u2029", "\xff\xfe", "ü€😀", 0, int64(1e18), false)
	f.Add("", "", "", "", -3, int64(-9e18), true)
	f.Fuzz(func(t *testing.T, a, b, c, d string, n int, nanos int64, credited bool) {
		at := time.Unix(0, nanos).UTC()
		if at.Year() > 9999 || at.Year() < 0 {
			return // encoding/json refuses such times; no fact holds one
		}
		e := Entry{EntryID: a, Kind: b, OrderID: c, LineID: d, PartnerID: a + b, Tier: n, Amount: c, Net: d, Currency: b,
			Source: a, ClickID: b, LinkCode: c, ProgramID: d, Rate: a, Time: at, PayableAt: at.Add(time.Hour),
			Policy: b, RefundID: c, PaymentID: d, PayoutID: a, ReplayID: b, Fact: c}
		attr := Attribution{OrderID: a, Time: at, Currency: b, Decision: c,
			Policy: PolicyVersion{Version: d, EffectiveAt: at, Policy: Policy{Tracking: a, Credit: b, CookieDays: n, ReferralDays: -n, ProgramBinding: c, SelfReferral: d, HoldingDays: n / 2, PayoutBasis: a}},
			Source: b, ClickID: c, LinkCode: d, ProgramID: a, Reason: Reason{a: b}, Fact: c, ReplayID: d,
			Candidates: []Candidate{{PartnerID: a, ClickID: b, LinkCode: c, ProgramID: d, Source: a, Time: at, Outcome: b, Reason: Reason{code: reasonExpired, at: at.UnixNano(), a: c, b: d}}},
			Lines:      []LineExplanation{{LineID: a, ProductID: b, ProgramID: c, Rate: d, Amount: a, Currency: b, Reason: Reason{a: c}}},
		}
		if credited {
			attr.PartnerID, attr.ReferralTime, attr.Notes = &a, &at, []string{b, c}
			attr.Lines = append(attr.Lines, LineExplanation{LineID: d, Tiers: []TierShare{{Tier: n, PartnerID: a, ProgramID: b, Rate: c, Amount: d}}})
		} else {
			attr.Candidates, attr.Lines = nil, nil
		}
		checkRecords(t, Output{Entries: []Entry{e}, Attributions: []Attribution{attr}})
	})
}
