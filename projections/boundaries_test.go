package projections

import (
	"fmt"
	"testing"
	"time"

	"github.com/refledger/refledger/events"
)

// A commission becomes payable at the instant its hold ends (CONTRACT §2),
// in the ledger view as in the engine: balances and statuses as of a
// nanosecond before payable_at show it pending, as of payable_at itself
// payable, and a payout the engine honoured at that instant covers it. It
// fails when any of the view's three comparisons with payable_at leaves the
// instant out (Balances: `asOf.Before(e.PayableAt)`; Commissions:
// `now.Before(e.PayableAt)`; paidEntries: `!e.PayableAt.After(now)`).
func TestViewHoldEndsAtItsInstant(t *testing.T) {
	at := func(i int, typ, when, data string) events.Fact {
		f, err := events.Decode([]byte(fmt.Sprintf(`{"specversion":"1.0","id":"f%d","source":"t","type":%q,"time":%q,"data":%s}`, i, typ, when, data)))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	const setup = "2017-06-01T00:00:00Z"
	facts := []events.Fact{
		at(1, "policy.changed", setup, `{"holding_days":10}`),
		at(2, "partner.registered", setup, `{"partner_id":"ann","name":"Ann"}`),
		at(3, "program.defined", setup, `{"program_id":"p","name":"P","priority":1,"default_rate":"10%"}`),
		at(4, "partner.enrolled", setup, `{"partner_id":"ann","program_id":"p"}`),
		at(5, "link.created", setup, `{"link_code":"ann","partner_id":"ann","landing_url":"https://shop.example/"}`),
		at(6, "click.recorded", "2017-06-01T10:00:00Z", `{"click_id":"k","link_code":"ann","visitor_id":"v"}`),
		at(7, "order.placed", "2017-06-02T09:30:00.25Z", `{"order_id":"o","visitor_id":"v","currency":"USD","lines":[{"line_id":"l","product_id":"x","quantity":1,"amount":"100.00"}]}`),
	}
	end := time.Date(2017, 6, 12, 9, 30, 0, 250_000_000, time.UTC)
	before := end.Add(-time.Nanosecond)
	l, w, view := decided(t, facts)

	balance := func(asOf time.Time) string {
		t.Helper()
		bs := view.Balances(asOf)
		if len(bs) != 1 {
			t.Fatalf("balances as of %s: %+v", asOf, bs)
		}
		b := bs[0]
		return fmt.Sprintf("pending %s payable %s paid %s", b.Pending, b.Payable, b.Paid)
	}
	status := func(now time.Time) string {
		t.Helper()
		cs := view.Commissions(CommissionFilter{OrderID: "o"}, now)
		if len(cs) != 1 {
			t.Fatalf("commissions at %s: %+v", now, cs)
		}
		if !cs[0].PayableAt.Equal(end) {
			t.Fatalf("payable at %s, want %s", cs[0].PayableAt, end)
		}
		return cs[0].Status
	}
	if got, want := balance(before), "pending 10.00 payable 0.00 paid 0.00"; got != want {
		t.Errorf("as of a nanosecond before the hold ends: %s, want %s", got, want)
	}
	if got, want := balance(end), "pending 0.00 payable 10.00 paid 0.00"; got != want {
		t.Errorf("as of the instant the hold ends: %s, want %s", got, want)
	}
	if got := status(before); got != StatusPending {
		t.Errorf("status a nanosecond before the hold ends: %s, want %s", got, StatusPending)
	}
	if got := status(end); got != StatusPayable {
		t.Errorf("status at the instant the hold ends: %s, want %s", got, StatusPayable)
	}

	// The engine honours a payout of all of it at that instant, and the
	// view counts the commission paid.
	l.submit(t, []events.Fact{at(8, "payout.recorded", end.Format(time.RFC3339Nano), `{"payout_id":"po","partner_id":"ann","currency":"USD","amount":"10.00"}`)})
	if err := w.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := view.Refusals(); len(r) != 0 {
		t.Fatalf("the payout at the instant the hold ends was refused: %+v", r)
	}
	if got, want := balance(end), "pending 0.00 payable 0.00 paid 10.00"; got != want {
		t.Errorf("as of the payout: %s, want %s", got, want)
	}
	if got := status(end); got != StatusPaid {
		t.Errorf("status at the payout: %s, want %s", got, StatusPaid)
	}
}
