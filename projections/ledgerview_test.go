package projections

import (
	"context"
	"reflect"
	"testing"
	"time"
)

func TestOrderIDOf(t *testing.T) {
	for raw, want := range map[string]string{
		`{"order_id":"o-2017","time":"x"}`: "o-2017",
		`{"order_id":"o\"q","time":"x"}`:   `o"q`,
		`{"time":"x","order_id":"late"}`:   "late",
		`{"order_id":"a\\b"}`:              `a\b`,
	} {
		got, err := orderIDOf([]byte(raw))
		if err != nil || got != want {
			t.Errorf("orderIDOf(%s) = %q, %v; want %q", raw, got, err, want)
		}
	}
}

// TestCommissionsByPartnerOrOrderMatchTheWholeLedger: reading only the
// partners concerned gives the same entries and statuses as reading all.
func TestCommissionsByPartnerOrOrderMatchTheWholeLedger(t *testing.T) {
	ctx := context.Background()
	l := newLogs(t)
	l.submit(t, seedFacts(t))
	view := NewLedger(l.ledger)
	w, err := OpenWriter(ctx, l.facts, l.ledger, view)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	partners, orders := map[string]bool{}, map[string]bool{}
	for _, e := range view.Entries() {
		partners[e.PartnerID], orders[e.OrderID] = true, true
	}
	for _, now := range []time.Time{time.Date(2017, 7, 1, 0, 0, 0, 0, time.UTC), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} {
		all := view.Commissions(CommissionFilter{}, now)
		if len(all) == 0 {
			t.Fatal("the seed ledger has no commissions")
		}
		pick := func(keep func(Commission) bool) []Commission {
			out := []Commission{}
			for _, c := range all {
				if keep(c) {
					out = append(out, c)
				}
			}
			return out
		}
		for p := range partners {
			if got, want := view.Commissions(CommissionFilter{PartnerID: p}, now), pick(func(c Commission) bool { return c.PartnerID == p }); !reflect.DeepEqual(got, want) {
				t.Errorf("partner %s at %s:\n%+v\nwant\n%+v", p, now, got, want)
			}
		}
		for o := range orders {
			if got, want := view.Commissions(CommissionFilter{OrderID: o}, now), pick(func(c Commission) bool { return c.OrderID == o }); !reflect.DeepEqual(got, want) {
				t.Errorf("order %s at %s:\n%+v\nwant\n%+v", o, now, got, want)
			}
		}
	}
}
