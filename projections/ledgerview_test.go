package projections

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/ledger"
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
	_, _, view := decided(t, seedFacts(t))
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

// The parts of a replay's apply count only once its record comes: before
// that the view holds them (and refuses a snapshot), and a commit of
// anything else first means the apply failed, so they are dropped.
func TestViewHoldsAnApplysPartsUntilItsRecord(t *testing.T) {
	adjusted := func(id, replay string) ledger.Record {
		e := ledger.Entry{EntryID: id, Kind: ledger.KindAdjusted, OrderID: "o1", LineID: "l1", PartnerID: "ann", Tier: 1, Amount: "-1.00", Net: "-1.00", Currency: "USD", ReplayID: replay}
		b, _ := json.Marshal(e)
		return ledger.Record{ID: id, Type: ledger.TypeCommissionAdjusted, Data: b}
	}
	record := func(replay string) ledger.Record {
		b, _ := json.Marshal(ledger.ReplayApplied{ReplayID: replay, Policy: ledger.DefaultPolicy(), Whole: true})
		return ledger.Record{ID: "replay:" + replay, Type: ledger.TypeReplayApplied, Data: b}
	}
	accrued := func(id string) ledger.Record {
		b, _ := json.Marshal(ledger.Entry{EntryID: id, Kind: ledger.KindAccrued, OrderID: "o2", LineID: "l1", PartnerID: "ann", Tier: 1, Amount: "1.00", Net: "1.00", Currency: "USD"})
		return ledger.Record{ID: id, Type: ledger.TypeCommissionAccrued, Data: b}
	}
	l := NewLedger(nil)
	apply := func(pos store.Position, rs ...ledger.Record) {
		for _, r := range rs {
			if err := l.ApplyLedger(pos, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	ids := func() []string {
		var out []string
		for _, e := range l.Entries() {
			out = append(out, e.EntryID)
		}
		return out
	}

	// r1 in parts, then its record: all of it counts, in log order.
	apply(1, adjusted("a1", "r1"))
	apply(2, adjusted("a2", "r1"))
	if len(ids()) != 0 || !l.ApplyingReplay() {
		t.Fatalf("parts counted before their record: %v", ids())
	}
	_, w, path := snapshotAfter(t, seedFacts(t)[:4])
	if err := w.WriteSnapshot(context.Background(), path, l); !errors.Is(err, ErrApplyingReplay) {
		t.Fatalf("a snapshot amid an apply's parts: %v, want ErrApplyingReplay", err)
	}
	apply(3, record("r1"))
	if got := ids(); !reflect.DeepEqual(got, []string{"a1", "a2"}) || l.ApplyingReplay() {
		t.Fatalf("after r1's record: %v", got)
	}

	// r2's part, then the writer's commit: r2 failed, its part goes.
	apply(4, adjusted("b1", "r2"))
	apply(5, accrued("c1"))
	apply(6, record("r2")) // never comes after a failed apply; even so, nothing was kept
	if got := ids(); !reflect.DeepEqual(got, []string{"a1", "a2", "c1"}) || l.ApplyingReplay() {
		t.Fatalf("after r2's failed apply: %v", got)
	}

	// A one-commit apply: its record comes first, its entries count at once.
	apply(7, record("r3"), adjusted("d1", "r3"))
	if got := ids(); !reflect.DeepEqual(got, []string{"a1", "a2", "c1", "d1"}) {
		t.Fatalf("after a one-commit apply: %v", got)
	}
}

// TestAttributionIsTheOrdersOwn: an explanation position that leads to
// another order's record (a view that is not this ledger's) is an error,
// not that order's explanation.
func TestAttributionIsTheOrdersOwn(t *testing.T) {
	_, _, view := decided(t, seedFacts(t))
	a, b := view.attributions["o-2017"], view.attributions["o-2016"]
	view.attributions["o-2017"], view.attributions["o-2016"] = b, a
	if got, ok, err := view.Attribution(context.Background(), "o-2017"); ok || err == nil || !strings.Contains(err.Error(), `explains "o-2016"`) {
		t.Fatalf("o-2017 pointed at o-2016's record: %+v, %v, %v", got.OrderID, ok, err)
	}
}

// TestDecidedIsWholeFactCommits: the ledger stands for the fact commits its
// last checkpoint covers whole, and says when it is part way through one.
func TestDecidedIsWholeFactCommits(t *testing.T) {
	for _, tc := range []struct {
		cp      ledger.Checkpoint
		through store.Position
		whole   bool
	}{
		{ledger.Checkpoint{}, 0, true},
		{ledger.Checkpoint{FactsThrough: 5, FactsFolded: -1}, 5, true},                    // a replay's, or an idle one
		{ledger.Checkpoint{FactsThrough: 5, FactsFolded: 10, FactsInCommit: 10}, 5, true}, // the commit done
		{ledger.Checkpoint{FactsThrough: 5, FactsFolded: 3, FactsInCommit: 10}, 4, false}, // part way through it
		{ledger.Checkpoint{FactsThrough: 5, FactsFolded: 0, FactsInCommit: 10}, 4, true},  // not begun
	} {
		l := NewLeanLedger()
		data, _ := json.Marshal(tc.cp)
		if err := l.ApplyLedger(1, ledger.Record{ID: "cp", Type: ledger.TypeCheckpoint, Data: data}); err != nil {
			t.Fatal(err)
		}
		if through, whole := l.Decided(); through != tc.through || whole != tc.whole {
			t.Errorf("checkpoint %+v: decided through %d (whole %v), want %d (%v)", tc.cp, through, whole, tc.through, tc.whole)
		}
	}
}

// TestCommissionStatuses: a reversal takes back from the entries of its
// share accrued before it, the latest first; a payout covers what is left
// of the entries payable by then, oldest payable first; an entry after the
// time asked about is pending.
func TestCommissionStatuses(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2021, 1, d, 0, 0, 0, 0, time.UTC) }
	l := NewLedger(nil)
	pos := store.Position(0)
	add := func(id, kind, line, net string, at int) {
		e := ledger.Entry{EntryID: id, Kind: kind, OrderID: "o", LineID: line, PartnerID: "ann", Tier: 1, Amount: strings.TrimPrefix(net, "-"), Net: net, Currency: "USD", Time: day(at), PayableAt: day(at)}
		if kind == ledger.KindPaid {
			e.OrderID, e.LineID, e.Tier = "", "", 0
		}
		b, _ := json.Marshal(e)
		pos++
		if err := l.ApplyLedger(pos, ledger.Record{ID: id, Type: e.Type(), Data: b}); err != nil {
			t.Fatal(err)
		}
	}
	// Line a, on payment: 10.00 accrues, a refund takes it back, and a
	// second payment accrues 10.00 again.
	add("a1", ledger.KindAccrued, "a", "10.00", 1)
	add("a-refund", ledger.KindReversed, "a", "-10.00", 2)
	add("a2", ledger.KindAccrued, "a", "10.00", 3)
	// Line b: two accruals, then half of the later one taken back.
	add("b1", ledger.KindAccrued, "b", "10.00", 1)
	add("b2", ledger.KindAccrued, "b", "10.00", 2)
	add("b-refund", ledger.KindReversed, "b", "-5.00", 4)
	// 15.00 paid: b1 (payable first, 10.00), then what is left of b2 (5.00).
	add("payout", ledger.KindPaid, "", "15.00", 5)
	add("b3", ledger.KindAccrued, "b", "1.00", 9)

	got := map[string]string{}
	for _, c := range l.Commissions(CommissionFilter{}, day(6)) {
		got[c.EntryID] = c.Status
	}
	want := map[string]string{
		"a1": StatusReversed, "a-refund": StatusReversed, "a2": StatusPayable,
		"b1": StatusPaid, "b2": StatusPaid, "b-refund": StatusReversed, "b3": StatusPending,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("statuses on day 6:\n%v\nwant\n%v", got, want)
	}
}
