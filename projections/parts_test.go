package projections

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/ledger"
)

// FuzzLedgerParts hands a view ledger commits made from the bytes: each a
// checkpoint (a fact, maybe a part of its decisions) and a few entries. The
// view must take exactly the entries of commits that are not parts, and of
// parts that the last commit of their fact completes, in log order: never
// an orphan's, never one twice.
func FuzzLedgerParts(f *testing.F) {
	// Three bytes a commit: fact position, facts folded, part + 4 × entries.
	f.Add([]byte{1, 1, 5, 1, 1, 10, 1, 1, 4})         // two parts, then their fact's last commit: all four entries
	f.Add([]byte{1, 1, 5, 2, 2, 4, 1, 1, 5, 1, 1, 4}) // an orphan part, another fact, then the first fact again
	f.Add([]byte{3, 2, 1, 1, 2, 0, 4, 3, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		view := NewLedger(nil)
		var want, held []string
		var open *ledger.Checkpoint
		orphan := false
		n := 0
		for pos := store.Position(1); len(data) >= 3 && pos < 200; pos++ {
			cp := ledger.Checkpoint{FactsThrough: uint64(data[0] % 4), FactsFolded: int(data[1] % 3), Part: int(data[2] % 4)}
			entries := int(data[2]/4) % 4
			data = data[3:]
			// The reference: the protocol as ledger.Checkpoint states it.
			if open == nil || !open.Continues(cp) { // a new start: a part other than the first has lost its beginning
				held, orphan = nil, cp.Part > 1
			}
			var ids []string
			for range entries {
				n++
				ids = append(ids, fmt.Sprintf("e%d", n))
			}
			if cp.Part > 0 {
				if !orphan {
					held = append(held, ids...)
				}
				c := cp
				open = &c
			} else {
				want = append(append(want, held...), ids...)
				held, open, orphan = nil, nil, false
			}
			raw, _ := json.Marshal(cp)
			if err := view.ApplyLedger(pos, ledger.Record{ID: fmt.Sprintf("cp%d", pos), Type: ledger.TypeCheckpoint, Data: raw}); err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				e, _ := json.Marshal(ledger.Entry{EntryID: id, Kind: ledger.KindAccrued, PartnerID: "p", Amount: "1.00", Net: "1.00", Currency: "USD"})
				if err := view.ApplyLedger(pos, ledger.Record{ID: id, Type: ledger.TypeCommissionAccrued, Data: e}); err != nil {
					t.Fatal(err)
				}
			}
		}
		var got []string
		for _, e := range view.Entries() {
			got = append(got, e.EntryID)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("the view took %v, want %v", got, want)
		}
		if view.ApplyingReplay() != (open != nil) {
			t.Fatalf("the view holds parts: %v; a part is open: %v", view.ApplyingReplay(), open != nil)
		}
	})
}
