package replay

import (
	"reflect"
	"testing"

	"github.com/refledger/refledger/internal/intern"
	"github.com/refledger/refledger/ledger"
)

// The diff compares the ledger's share nets with the replay's: a line's
// change names its tier-1 earner before and after, every tier counts in the
// totals, and a share that nets to zero on both sides changes nothing. The
// same holds when every share key has the same digest.
func TestCompareSharePairs(t *testing.T) {
	t.Run("digests", testCompareSharePairs)
	t.Run("every digest the same", func(t *testing.T) {
		defer func(d func(shareKey) uint64) { shareDigest = d }(shareDigest)
		shareDigest = func(shareKey) uint64 { return 42 }
		testCompareSharePairs(t)
	})
}

func testCompareSharePairs(t *testing.T) {
	var pairs sharePairs
	names := intern.New(16)
	ledgerSide := func(order, line string, tier int, partner, net string) {
		e := &ledger.Entry{EntryID: order + "/" + line, Kind: ledger.KindAccrued, OrderID: order, LineID: line, Tier: tier, PartnerID: partner, Net: net, Currency: "USD"}
		if err := pairs.addLedger(e, names); err != nil {
			t.Fatal(err)
		}
	}
	replaySide := func(order, line string, tier int, partner string, net int64) {
		pairs.addReplayShare(ledger.ShareNet{OrderID: order, LineID: line, Tier: tier, PartnerID: partner, Currency: "USD", Net: net})
	}
	// o1: the credit moves from roger to maria; roger's parent loses tier 2.
	ledgerSide("o1", "l1", 1, "roger", "10.00")
	ledgerSide("o1", "l1", 2, "boss", "1.00")
	replaySide("o1", "l1", 1, "maria", 1000)
	// o2: nobody earned; now ann does.
	replaySide("o2", "l1", 1, "ann", 500)
	// o3: roger lost it; nobody earns.
	ledgerSide("o3", "l1", 1, "roger", "2.50")
	// o4: an earlier replay moved it from roger (netted to zero) to maria,
	// and this one agrees: no change.
	ledgerSide("o4", "l1", 1, "roger", "3.00")
	ledgerSide("o4", "l1", 1, "roger", "-3.00")
	ledgerSide("o4", "l1", 1, "maria", "3.00")
	replaySide("o4", "l1", 1, "maria", 300)
	// o5: only the tier-2 share changes: no line change, but totals move.
	ledgerSide("o5", "l1", 1, "maria", "4.00")
	ledgerSide("o5", "l1", 2, "boss", "0.40")
	replaySide("o5", "l1", 1, "maria", 400)
	replaySide("o5", "l1", 2, "boss", 80)

	changed := pairs.changed()
	want := []shareKey{
		{"o1", "l1", 1, "maria"}, {"o1", "l1", 1, "roger"}, {"o1", "l1", 2, "boss"},
		{"o2", "l1", 1, "ann"}, {"o3", "l1", 1, "roger"}, {"o5", "l1", 2, "boss"},
	}
	if !reflect.DeepEqual(changed, want) {
		t.Fatalf("changed shares\n got %v\nwant %v", changed, want)
	}
	var r Result
	r.compare(changed, &pairs)
	str := func(s string) *string { return &s }
	wantChanges := []Change{
		{OrderID: "o1", LineID: "l1", PartnerBefore: str("roger"), PartnerAfter: str("maria"), AmountBefore: "10.00", AmountAfter: "10.00", Currency: "USD"},
		{OrderID: "o2", LineID: "l1", PartnerAfter: str("ann"), AmountBefore: "0.00", AmountAfter: "5.00", Currency: "USD"},
		{OrderID: "o3", LineID: "l1", PartnerBefore: str("roger"), AmountBefore: "2.50", AmountAfter: "0.00", Currency: "USD"},
	}
	if !reflect.DeepEqual(r.Changes, wantChanges) {
		t.Errorf("changes\n got %+v\nwant %+v", r.Changes, wantChanges)
	}
	wantTotals := []Total{
		{PartnerID: "ann", Currency: "USD", Before: "0.00", After: "5.00", Delta: "5.00"},
		{PartnerID: "boss", Currency: "USD", Before: "1.40", After: "0.80", Delta: "-0.60"},
		{PartnerID: "maria", Currency: "USD", Before: "7.00", After: "17.00", Delta: "10.00"},
		{PartnerID: "roger", Currency: "USD", Before: "12.50", After: "0.00", Delta: "-12.50"},
	}
	if !reflect.DeepEqual(r.Totals, wantTotals) {
		t.Errorf("totals\n got %+v\nwant %+v", r.Totals, wantTotals)
	}
	if r.Summary.OrdersChanged != 3 || r.Summary.PartnersAffected != 4 || len(r.Summary.NetDelta) != 1 || r.Summary.NetDelta[0].Delta != "1.90" {
		t.Errorf("summary %+v", r.Summary)
	}

	// What an apply keeps: each side of the changed shares it holds.
	before, after := pairs.only(changed)
	if len(before) != 4 || len(after) != 3 || before.net(shareKey{"o1", "l1", 1, "roger"}) != 1000 || after.net(shareKey{"o2", "l1", 1, "ann"}) != 500 {
		t.Errorf("kept sides: before %v, after %v", before, after)
	}
	if _, ok := after[shareKey{"o3", "l1", 1, "roger"}]; ok {
		t.Error("a share the replay does not hold is on its side")
	}
}
