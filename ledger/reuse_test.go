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
// longest, more candidates than an explanation lists. It also requires that
// the transient engine did take its memory back: an attribution written
// where the one of an earlier output was.
func TestApplyTransientChangesNothing(t *testing.T) {
	histories := map[string][]events.Fact{"generated 1 (long)": generate(1, 900)}
	for seed := int64(2); seed <= 6; seed++ {
		histories[fmt.Sprintf("generated %d", seed)] = generate(seed, 300)
		histories[fmt.Sprintf("timed %d", seed)], _ = timedHistory(seed, 300)
	}
	for name, facts := range histories {
		plain, transient := NewEngine(nil), NewEngine(nil)
		var earlier *Attribution
		reused, several := false, false
		for i, f := range facts {
			want := plain.Apply(f, nil)
			got := transient.ApplyTransient(f, nil)
			if w, g := records(want), records(got); !bytes.Equal(g, w) {
				t.Fatalf("%s, fact %d (%s): transient\n%s\nplain\n%s", name, i, f.Type, g, w)
			}
			if w, g := inProcess(want), inProcess(got); w != g {
				t.Fatalf("%s, fact %d: the records' in-process fields are %s, want %s", name, i, g, w)
			}
			if len(got.Attributions) > 0 {
				reused = reused || &got.Attributions[0] == earlier
				several = several || len(got.Attributions) > 1
				earlier = &got.Attributions[0]
			}
		}
		if !bytes.Equal(encodeEngine(t, plain), encodeEngine(t, transient)) {
			t.Fatalf("%s: the states differ at the end", name)
		}
		if !reused {
			t.Errorf("%s: no attribution was written where an earlier output's was", name)
		}
		if name == "generated 1 (long)" && !several {
			t.Errorf("%s: no output held several attributions", name)
		}
	}
}

// inProcess lists what a reader in the same process takes from the records
// instead of their data.
func inProcess(out Output) string {
	var b bytes.Buffer
	for _, r := range out.Records() {
		fmt.Fprintf(&b, "%s %q %q", r.ID, r.Explains, r.ReplayID)
		if r.Entry != nil {
			fmt.Fprintf(&b, " %+v", *r.Entry)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
