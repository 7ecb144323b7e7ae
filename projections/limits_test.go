package projections

import (
	"testing"
	"time"

	"github.com/refledger/refledger/ledger"
)

// TestBalanceSumsDoNotWrap: a balance sums many entries, and entries at
// the money bounds (10^18 fils of a fixed commission on one BHD line) pass
// 2^63 in ten. The sums must stay exact rather than wrap (issue 21 item 4).
func TestBalanceSumsDoNotWrap(t *testing.T) {
	at := time.Date(2017, 6, 2, 0, 0, 0, 0, time.UTC)
	var s sums
	for range 10 {
		s.add(&ledger.Entry{Kind: ledger.KindAccrued, Amount: "1000000000000000.000", Net: "1000000000000000.000", Currency: "BHD", Time: at, PayableAt: at}, at)
	}
	s.add(&ledger.Entry{Kind: ledger.KindPaid, Amount: "10000000000000.000", Net: "-10000000000000.000", Currency: "BHD", Time: at, PayableAt: at}, at)
	for range 10 {
		s.add(&ledger.Entry{Kind: ledger.KindReversed, Amount: "1000000000000000.000", Net: "-1000000000000000.000", Currency: "BHD", Time: at, PayableAt: at}, at)
	}
	want := Balance{PartnerID: "p", Currency: "BHD", Earned: "10000000000000000.000", Reversed: "10000000000000000.000",
		Pending: "0.000", Payable: "-10000000000000.000", Paid: "10000000000000.000"}
	if got := s.balance("p", "BHD"); got != want {
		t.Errorf("balance at the bounds:\n%+v\nwant\n%+v", got, want)
	}
}
