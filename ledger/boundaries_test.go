package ledger

// The boundaries of CONTRACT §2's rules that are not options, pinned where
// a one-line change to a rule would otherwise go unnoticed (issue 28): the
// remainders of the last refund and the last payment when the proportional
// parts round down, the instant a hold ends, and ties of half-even
// rounding in the ledger's own amounts (commission, refund, payment).
//
// Each test names the change to the engine it fails under.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/refledger/refledger/money"
)

// netOf sums the signed net of entries in minor units of USD.
func netOf(t *testing.T, outs ...Output) int64 {
	t.Helper()
	usd, _ := money.Lookup("USD")
	var n int64
	for _, o := range outs {
		for _, e := range o.Entries {
			m, err := money.ParseMinor(e.Net, usd)
			if err != nil {
				t.Fatalf("entry %s: net %q: %v", e.EntryID, e.Net, err)
			}
			n += m
		}
	}
	return n
}

// Nine refunds of 10.01 each reverse 2.002, rounded to 2.00; the last
// refund, 9.91, is 1.982 by proportion, rounded to 1.98, but it must take
// the 2.00 left: a line refunded in full nets exactly zero. It fails when
// the last refund reverses its proportion only (engine.go, refund:
// `last := false`).
func TestLastRefundTakesTheRestWhenPartsRoundDown(t *testing.T) {
	h := newHistory(t, `{"holding_days":0}`)
	h.click("k1", "maria-scm", "v1", "2017-06-01T00:00:00Z")
	order := h.order("o", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z") // 20% = 20.00
	outs := []Output{order}
	var reversed []string
	for i := range 10 {
		amt := "10.01"
		if i == 9 {
			amt = "9.91"
		}
		o := h.add("order.refunded", "2017-06-10T00:00:00Z", fmt.Sprintf(`{"order_id":"o","refund_id":"r%d","lines":[{"line_id":"l1","amount":%q}]}`, i, amt))
		if len(o.Entries) != 1 {
			t.Fatalf("refund %d: %+v", i, o)
		}
		reversed = append(reversed, o.Entries[0].Amount)
		outs = append(outs, o)
	}
	if got, want := strings.Join(reversed, ","), strings.Repeat("2.00,", 9)+"2.00"; got != want {
		t.Errorf("reversals %s, want %s (the last takes what is left)", got, want)
	}
	if n := netOf(t, outs...); n != 0 {
		t.Errorf("a line refunded in full nets %d minor units, want exactly 0", n)
	}
	// Nothing is left to pay out, not even a cent.
	if o := h.add("payout.recorded", "2017-07-01T00:00:00Z", `{"payout_id":"po","partner_id":"maria","currency":"USD","amount":"0.01"}`); len(o.Refusals) != 1 {
		t.Errorf("a payout of 0.01 from a line refunded in full: %+v, want it refused", o)
	}
}

// On payment, nine payments of 10.01 each accrue 2.00 of the 20.00; the
// last, 9.91, would accrue 1.98 by proportion but must take the 2.00 left:
// an order paid in full has accrued exactly its commission. It fails when
// the last payment accrues its proportion only (engine.go, receivePayment:
// `last := false`).
func TestLastPaymentTakesWhatIsLeftWhenPartsRoundDown(t *testing.T) {
	h := newHistory(t, `{"payout_basis":"on-payment","holding_days":0}`)
	h.click("k1", "maria-scm", "v1", "2017-06-01T00:00:00Z")
	h.order("o", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z") // 20.00 on payment
	var outs []Output
	var accrued []string
	for i := range 10 {
		amt := "10.01"
		if i == 9 {
			amt = "9.91"
		}
		o := h.add("payment.received", "2017-06-05T00:00:00Z", fmt.Sprintf(`{"order_id":"o","payment_id":"p%d","amount":%q}`, i, amt))
		if len(o.Entries) != 1 {
			t.Fatalf("payment %d: %+v", i, o)
		}
		accrued = append(accrued, o.Entries[0].Amount)
		outs = append(outs, o)
	}
	if got, want := strings.Join(accrued, ","), strings.Repeat("2.00,", 9)+"2.00"; got != want {
		t.Errorf("accruals %s, want %s (the last takes what is left)", got, want)
	}
	if n := netOf(t, outs...); n != 2000 {
		t.Errorf("an order paid in full accrued %d minor units, want exactly its 2000", n)
	}
	if o := h.add("payout.recorded", "2017-07-01T00:00:00Z", `{"payout_id":"po","partner_id":"maria","currency":"USD","amount":"20.00"}`); len(o.Refusals) != 0 {
		t.Errorf("a payout of the whole commission of an order paid in full: %+v", o.Refusals)
	}
}

// A commission becomes payable at the instant its hold ends (CONTRACT §2):
// a payout a nanosecond before is refused, one at that very instant is
// honoured. It fails when the hold's end is exclusive (state.go, payable:
// `b.payableAt <= now` to `b.payableAt < now`).
func TestHoldEndsAtItsInstant(t *testing.T) {
	for _, basis := range []string{"upfront", "on-payment"} {
		t.Run(basis, func(t *testing.T) {
			h := newHistory(t, `{"holding_days":10,"payout_basis":"`+basis+`"}`)
			h.click("k1", "maria-scm", "v1", "2017-06-01T00:00:00Z")
			o := h.order("o", "v1", "", "scm", "100.00", "2017-06-02T09:30:00.25Z")
			if basis == "on-payment" {
				o = h.add("payment.received", "2017-06-03T00:00:00Z", `{"order_id":"o","payment_id":"p","amount":"100.00"}`)
			}
			end := time.Date(2017, 6, 12, 9, 30, 0, 250_000_000, time.UTC)
			if len(o.Entries) != 1 || !o.Entries[0].PayableAt.Equal(end) {
				t.Fatalf("entries %+v, want one payable at %s", o.Entries, end)
			}
			payout := func(id string, at time.Time) Output {
				return h.add("payout.recorded", at.Format(time.RFC3339Nano), `{"payout_id":"`+id+`","partner_id":"maria","currency":"USD","amount":"20.00"}`)
			}
			if o := payout("early", end.Add(-time.Nanosecond)); len(o.Refusals) != 1 || !strings.Contains(o.Refusals[0].Reason, "exceeds the 0.00 payable") {
				t.Errorf("a payout a nanosecond before the hold ends: %+v, want it refused with nothing payable", o)
			}
			if o := payout("on-time", end); len(o.Refusals) != 0 || len(o.Entries) != 1 {
				t.Errorf("a payout at the instant the hold ends: %+v, want it honoured", o)
			}
		})
	}
}

// Ties round half-even in the ledger's own amounts, in both directions:
// to the even cent below (0.025 to 0.02), which half-up would round up,
// and to the even cent above (0.075 to 0.08). The commission, the
// proportion a refund reverses and the proportion a payment accrues each
// meet a tie here. It fails when money.ShareMinor, which every one of them
// rounds through, rounds ties up (`twice == whole && q&1 == 1` to
// `twice == whole`).
func TestTiesRoundHalfEvenInTheLedger(t *testing.T) {
	const program = `{"program_id":"scm","name":"SCM","priority":1,"product_rates":{"scm":"12.5%","kit":"0.125"},"tier_rates":["2.5%"]}`
	t.Run("commission", func(t *testing.T) {
		h := newHistory(t, "")
		h.add("partner.registered", "2016-01-01T00:00:00Z", `{"partner_id":"agency","name":"Agency"}`)
		h.add("partner.registered", "2016-01-02T00:00:00Z", `{"partner_id":"maria","name":"Maria","parent_partner_id":"agency"}`)
		h.add("program.defined", "2016-01-02T00:00:00Z", program)
		h.click("k1", "maria-scm", "v1", "2017-06-01T00:00:00Z")
		o := h.add("order.placed", "2017-06-02T00:00:00Z", `{"order_id":"o","visitor_id":"v1","currency":"USD","lines":[`+
			`{"line_id":"down","product_id":"scm","quantity":1,"amount":"0.20"},`+ // 12.5% = 0.025 -> 0.02; tier 2 2.5% = 0.005 -> 0.00
			`{"line_id":"up","product_id":"scm","quantity":1,"amount":"0.60"},`+ // 0.075 -> 0.08; tier 2 0.015 -> 0.02
			`{"line_id":"tier","product_id":"scm","quantity":1,"amount":"1.00"},`+ // 0.125 -> 0.12; tier 2 0.025 -> 0.02
			`{"line_id":"fixed","product_id":"kit","quantity":1,"amount":"5.00"}]}`) // 0.125 per unit -> 0.12; tier 2 2.5% of 5.00 = 0.125 -> 0.12
		var got []string
		for _, e := range o.Entries {
			got = append(got, fmt.Sprintf("%s t%d %s", e.LineID, e.Tier, e.Amount))
		}
		want := "down t1 0.02,up t1 0.08,up t2 0.02,tier t1 0.12,tier t2 0.02,fixed t1 0.12,fixed t2 0.12"
		if strings.Join(got, ",") != want {
			t.Errorf("entries\n%s\nwant\n%s", strings.Join(got, ","), want)
		}
	})
	t.Run("refund", func(t *testing.T) {
		h := newHistory(t, "")
		h.add("program.defined", "2016-01-02T00:00:00Z", program)
		h.click("k1", "maria-scm", "v1", "2017-06-01T00:00:00Z")
		h.order("o", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z") // 12.50
		var reversed []string
		for i, amt := range []string{"1.00", "3.00"} { // 0.125 -> 0.12, 0.375 -> 0.38
			o := h.add("order.refunded", "2017-06-10T00:00:00Z", fmt.Sprintf(`{"order_id":"o","refund_id":"r%d","lines":[{"line_id":"l1","amount":%q}]}`, i, amt))
			if len(o.Entries) != 1 {
				t.Fatalf("refund %d: %+v", i, o)
			}
			reversed = append(reversed, o.Entries[0].Amount)
		}
		if strings.Join(reversed, ",") != "0.12,0.38" {
			t.Errorf("reversals %v, want 0.12,0.38", reversed)
		}
	})
	t.Run("payment", func(t *testing.T) {
		h := newHistory(t, `{"payout_basis":"on-payment"}`)
		h.add("program.defined", "2016-01-02T00:00:00Z", program)
		h.click("k1", "maria-scm", "v1", "2017-06-01T00:00:00Z")
		h.order("o", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z") // 12.50 on payment
		var accrued []string
		for i, amt := range []string{"1.00", "3.00"} { // 0.125 -> 0.12, 0.375 -> 0.38
			o := h.add("payment.received", "2017-06-05T00:00:00Z", fmt.Sprintf(`{"order_id":"o","payment_id":"p%d","amount":%q}`, i, amt))
			if len(o.Entries) != 1 {
				t.Fatalf("payment %d: %+v", i, o)
			}
			accrued = append(accrued, o.Entries[0].Amount)
		}
		if strings.Join(accrued, ",") != "0.12,0.38" {
			t.Errorf("accruals %v, want 0.12,0.38", accrued)
		}
	})
}
