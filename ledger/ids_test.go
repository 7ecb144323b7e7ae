package ledger

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestEntryIDsDoNotCollide: order "ox/l1" line "l2" and order "ox" line
// "l1/l2" both had the entry id "ox/l1/l2/t1/accrued" (issue 21 item 5).
// Each part of an entry id is escaped, so distinct parts give distinct ids,
// and parts without "/" or "%" keep the ids they always had.
func TestEntryIDsDoNotCollide(t *testing.T) {
	h := newHistory(t, `{"holding_days":0}`)
	h.add("referral.assigned", "2016-01-01T00:00:00Z", `{"contact_id":"c","partner_id":"maria"}`)
	ids := map[string]string{}
	for _, ol := range [][2]string{{"ox/l1", "l2"}, {"ox", "l1/l2"}, {"ox%2Fl1", "l2"}, {"oy", "l1%2Fl2"}, {"plain", "l1"}} {
		o := h.add("order.placed", "2017-06-02T00:00:00Z", fmt.Sprintf(`{"order_id":%q,"contact_id":"c","currency":"USD","lines":[{"line_id":%q,"product_id":"scm","quantity":1,"amount":"10.00"}]}`, ol[0], ol[1]))
		o.Entries = append(o.Entries, h.add("order.refunded", "2017-06-03T00:00:00Z", fmt.Sprintf(`{"order_id":%q,"refund_id":"r/1","lines":[{"line_id":%q,"amount":"10.00"}]}`, ol[0], ol[1])).Entries...)
		if len(o.Entries) != 2 {
			t.Fatalf("order %q line %q: %+v", ol[0], ol[1], o)
		}
		for _, e := range o.Entries {
			if prev, ok := ids[e.EntryID]; ok {
				t.Errorf("entry id %s of order %q line %q is also %s's", e.EntryID, ol[0], ol[1], prev)
			}
			ids[e.EntryID] = ol[0] + " " + ol[1]
		}
	}
	for _, want := range []string{"plain/l1/t1/accrued", "plain/l1/t1/reversed/r%2F1", "ox%2Fl1/l2/t1/accrued", "ox/l1%2Fl2/t1/accrued", "ox%252Fl1/l2/t1/accrued"} {
		if _, ok := ids[want]; !ok {
			t.Errorf("no entry %s among %v", want, ids)
		}
	}
}

// TestEscapeIDPartIsInjective is a seeded property test: distinct (order,
// line) pairs, drawn from an alphabet heavy in "/" and "%", give distinct
// accrual ids, and a part without either is left as it is.
func TestEscapeIDPartIsInjective(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 21))
	part := func() string {
		var b strings.Builder
		for range 1 + r.IntN(6) {
			b.WriteByte("/%2Fa"[r.IntN(5)])
		}
		return b.String()
	}
	seen := map[string][2]string{}
	for range 20000 {
		o, l := part(), part()
		id := JoinID(o, l, "t1", "accrued")
		if prev, ok := seen[id]; ok && prev != [2]string{o, l} {
			t.Fatalf("%q %q and %q %q both give %s", o, l, prev[0], prev[1], id)
		}
		seen[id] = [2]string{o, l}
	}
	for _, p := range []string{"o-2017", "é中", "a b", ""} {
		if got := EscapeIDPart(p); got != p {
			t.Errorf("EscapeIDPart(%q) = %q, want it unchanged", p, got)
		}
	}
}
