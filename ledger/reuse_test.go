package ledger

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/refledger/refledger/events"
)

// TestApplyTransientChangesNothing folds random histories with Apply and
// with ApplyTransient, comparing every output record for record and byte
// for byte, the records' in-process fields included, and the state at the
// end. The histories have renewals, late referrals that have orders
// decided again (several attributions in one output), tiers, and, in the
// longest, more candidates than an explanation lists. The records of every
// output are read again after the last fact, as the writer's view reads
// them after later facts. It also requires that the transient engine did
// take its memory back: an attribution and an entry written where those
// of an earlier output were.
func TestApplyTransientChangesNothing(t *testing.T) {
	histories := map[string][]events.Fact{"generated 1 (long)": generate(1, 900)}
	for seed := int64(2); seed <= 6; seed++ {
		histories[fmt.Sprintf("generated %d", seed)] = generate(seed, 300)
		histories[fmt.Sprintf("timed %d", seed)], _ = timedHistory(seed, 300)
	}
	for name, facts := range histories {
		plain, transient := NewEngine(nil), NewEngine(nil)
		var earlier *Attribution
		var earlierEntry *Entry
		reused, reusedEntries, several := false, false, false
		var wantKept, gotKept [][]Record // as the writer keeps them, to read after later facts
		for i, f := range facts {
			want := plain.Apply(f, nil)
			got := transient.ApplyTransient(f, nil)
			if w, g := records(want), records(got); !bytes.Equal(g, w) {
				t.Fatalf("%s, fact %d (%s): transient\n%s\nplain\n%s", name, i, f.Type, g, w)
			}
			wantKept, gotKept = append(wantKept, want.Records()), append(gotKept, got.Records())
			if len(got.Attributions) > 0 {
				reused = reused || &got.Attributions[0] == earlier
				several = several || len(got.Attributions) > 1
				earlier = &got.Attributions[0]
			}
			if len(got.Entries) > 0 {
				reusedEntries = reusedEntries || &got.Entries[0] == earlierEntry
				earlierEntry = &got.Entries[0]
			}
		}
		for i := range wantKept {
			if w, g := inProcess(wantKept[i]), inProcess(gotKept[i]); w != g {
				t.Fatalf("%s, fact %d: read after the last fact, the records' in-process fields are %s, want %s", name, i, g, w)
			}
		}
		if !bytes.Equal(encodeEngine(t, plain), encodeEngine(t, transient)) {
			t.Fatalf("%s: the states differ at the end", name)
		}
		if !reused || !reusedEntries {
			t.Errorf("%s: no attribution (%v) or no entry (%v) was written where an earlier output's was", name, reused, reusedEntries)
		}
		if name == "generated 1 (long)" && !several {
			t.Errorf("%s: no output held several attributions", name)
		}
	}
}

// inProcess lists what a reader in the same process takes from the records
// instead of their data.
func inProcess(records []Record) string {
	var b bytes.Buffer
	for _, r := range records {
		fmt.Fprintf(&b, "%s %q %q", r.ID, r.Explains, r.ReplayID)
		if r.Entry != nil {
			fmt.Fprintf(&b, " %+v", *r.Entry)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
