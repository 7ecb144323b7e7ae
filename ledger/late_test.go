package ledger

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/refledger/refledger/events"
)

// adjustments renders the adjusting entries of an output as
// "partner tier amount" in their order.
func adjustments(o Output) string {
	var out []string
	for _, e := range o.Entries {
		if e.Kind != KindAdjusted {
			out = append(out, "unexpected "+e.Kind+" entry "+e.EntryID)
			continue
		}
		out = append(out, fmt.Sprintf("%s t%d %s", e.PartnerID, e.Tier, e.Amount))
	}
	return strings.Join(out, ", ")
}

// A referral that reaches the engine after an order it happened before has
// the order decided again, as if it had come in time: adjusting entries move
// the commission, and a new explanation names the late fact.
func TestLateReferralsDecideOrdersAgain(t *testing.T) {
	policy := `{"tracking":"referral-history-and-cookies","credit":"last","cookie_days":30,"holding_days":30}`
	cases := []struct {
		name string
		// before is folded first (in time order), then late, which
		// happened before the order but comes after it.
		before func(h *history)
		late   func(h *history) Output
		want   string // adjusting entries
		who    string // the order's explanation after
	}{{
		name:   "a late cookie click credits an order that had no referral",
		before: func(h *history) { h.order("o", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z") },
		late: func(h *history) Output {
			return h.add("click.recorded", "2017-06-01T00:00:00Z", `{"click_id":"k1","link_code":"maria-scm","visitor_id":"v1"}`)
		},
		want: "maria t1 20.00", who: "maria 20.00 cookie k1",
	}, {
		name: "a later click arriving late takes the order from the earlier one (credit: last)",
		before: func(h *history) {
			h.click("k1", "roger-event", "v1", "2017-05-20T00:00:00Z")
			h.order("o", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z")
		},
		late: func(h *history) Output {
			return h.add("click.recorded", "2017-06-01T00:00:00Z", `{"click_id":"k2","link_code":"maria-scm","visitor_id":"v1"}`)
		},
		want: "maria t1 20.00, roger t1 -20.00", who: "maria 20.00 cookie k2",
	}, {
		name: "a manual referral keyed in after the sale credits the contact's order",
		before: func(h *history) {
			h.order("o", "", "katie", "scm", "100.00", "2017-06-02T00:00:00Z")
		},
		late: func(h *history) Output {
			return h.add("referral.assigned", "2017-05-01T00:00:00Z", `{"contact_id":"katie","partner_id":"maria","note":"phone"}`)
		},
		want: "maria t1 20.00", who: "maria 20.00 manual ",
	}, {
		name: "a late identification brings a browser's clicks into the buyer's history",
		before: func(h *history) {
			h.click("k1", "maria-scm", "v-laptop", "2017-05-20T00:00:00Z")
			h.order("o", "", "katie", "scm", "100.00", "2017-06-02T00:00:00Z")
		},
		late: func(h *history) Output {
			return h.add("contact.identified", "2017-05-21T00:00:00Z", `{"visitor_id":"v-laptop","contact_id":"katie"}`)
		},
		want: "maria t1 20.00", who: "maria 20.00 referral-history k1",
	}, {
		name: "a late identification gives an order that presented only a visitor its contact's history",
		before: func(h *history) {
			h.add("referral.assigned", "2017-05-01T00:00:00Z", `{"contact_id":"katie","partner_id":"maria"}`)
			h.order("o", "v-phone", "", "scm", "100.00", "2017-06-02T00:00:00Z")
		},
		late: func(h *history) Output {
			return h.add("contact.identified", "2017-06-01T00:00:00Z", `{"visitor_id":"v-phone","contact_id":"katie"}`)
		},
		want: "maria t1 20.00", who: "maria 20.00 manual ",
	}, {
		name: "a refunded share is moved net of what was reversed",
		before: func(h *history) {
			h.click("k1", "roger-event", "v1", "2017-05-20T00:00:00Z")
			h.order("o", "v1", "", "scm", "90.00", "2017-06-02T00:00:00Z")
			h.add("order.refunded", "2017-06-03T00:00:00Z", `{"order_id":"o","refund_id":"r1","lines":[{"line_id":"l1","amount":"30.00"}]}`)
		},
		late: func(h *history) Output {
			return h.add("click.recorded", "2017-06-01T00:00:00Z", `{"click_id":"k2","link_code":"maria-scm","visitor_id":"v1"}`)
		},
		// roger held 18.00 less 6.00 reversed; maria's 18.00 with a third refunded
		want: "maria t1 12.00, roger t1 -12.00", who: "maria 18.00 cookie k2",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHistory(t, policy)
			c.before(h)
			out := c.late(h)
			if got := adjustments(out); got != c.want {
				t.Errorf("adjustments %q, want %q", got, c.want)
			}
			if got := who(t, out); got != c.who {
				t.Errorf("decided again: %s, want %s", got, c.who)
			}
			a := out.Attributions[0]
			if a.DecidedAgainBy != fmt.Sprintf("test/f-%d", h.n) || !strings.Contains(strings.Join(a.Notes, " "), "decided again when") {
				t.Errorf("explanation names %q with notes %q, want the late fact test/f-%d", a.DecidedAgainBy, a.Notes, h.n)
			}
			for _, e := range out.Entries {
				if e.Fact != a.DecidedAgainBy || !strings.HasSuffix(e.EntryID, "/adjusted/"+a.DecidedAgainBy) {
					t.Errorf("entry %s caused by %s, want the late fact", e.EntryID, e.Fact)
				}
			}
			// A refund after the move reverses the new partner's share.
			if o := h.add("order.refunded", "2017-06-10T00:00:00Z", `{"order_id":"o","refund_id":"r-last","lines":[{"line_id":"l1","amount":"10.00"}]}`); len(o.Entries) == 0 || o.Entries[0].PartnerID != strings.Fields(c.who)[0] {
				t.Errorf("a refund after the move: %+v, want it to reverse %s's share", o.Entries, strings.Fields(c.who)[0])
			}
		})
	}
}

// Facts late but not before the order, or for another buyer, leave it be.
func TestLateFactsThatDoNotConcernAnOrderChangeNothing(t *testing.T) {
	h := newHistory(t, `{"tracking":"referral-history-and-cookies","credit":"first","cookie_days":30}`)
	h.click("k1", "roger-event", "v1", "2017-05-20T00:00:00Z")
	h.order("o", "v1", "katie", "scm", "100.00", "2017-06-02T00:00:00Z")
	h.order("o2", "v9", "", "scm", "100.00", "2017-06-05T00:00:00Z")
	for _, f := range []struct{ typ, at, data string }{
		{"click.recorded", "2017-06-03T00:00:00Z", `{"click_id":"k-after","link_code":"maria-scm","visitor_id":"v1"}`},   // after the order
		{"click.recorded", "2017-05-25T00:00:00Z", `{"click_id":"k-other","link_code":"maria-scm","visitor_id":"v2"}`},   // another browser
		{"click.recorded", "2017-05-25T00:00:00Z", `{"click_id":"k-lose","link_code":"maria-scm","visitor_id":"v1"}`},    // loses to first credit: explained, not moved
		{"contact.identified", "2017-06-03T00:00:00Z", `{"visitor_id":"v2","contact_id":"katie"}`},                       // identified after the order
		{"referral.assigned", "2017-06-03T00:00:00Z", `{"contact_id":"katie","partner_id":"maria"}`},                     // after the order
		{"click.recorded", "2017-06-04T00:00:00Z", `{"click_id":"k-sub","link_code":"maria-scm","visitor_id":"v-none"}`}, // nobody ordered on it
	} {
		out := h.add(f.typ, f.at, f.data)
		if len(out.Entries) != 0 {
			t.Errorf("%s %s moved money: %+v", f.typ, f.data, out.Entries)
		}
		wantExplained := strings.Contains(f.data, "k-lose")
		if got := len(out.Attributions) == 1; got != wantExplained {
			t.Errorf("%s %s: explained again %v, want %v", f.typ, f.data, got, wantExplained)
		}
	}
}

// Paid-out commission is not taken back silently: the partner's payable
// goes negative, and a payout to the new partner waits for its hold.
func TestLateReferralAfterAPayout(t *testing.T) {
	h := newHistory(t, `{"holding_days":10}`)
	h.click("k1", "roger-event", "v1", "2017-05-20T00:00:00Z")
	h.order("o", "v1", "", "ticket", "100.00", "2017-06-02T00:00:00Z")
	if out := h.add("payout.recorded", "2017-06-20T00:00:00Z", `{"payout_id":"p1","partner_id":"roger","currency":"USD","amount":"10.00"}`); len(out.Refusals) != 0 {
		t.Fatalf("payout refused: %+v", out.Refusals)
	}
	h.add("program.defined", "2017-06-21T00:00:00Z", `{"program_id":"events","name":"Events","priority":2,"product_rates":{"ticket":"10%"}}`)
	h.add("partner.enrolled", "2017-06-21T00:00:00Z", `{"partner_id":"maria","program_id":"events"}`)
	out := h.add("click.recorded", "2017-06-01T00:00:00Z", `{"click_id":"k2","link_code":"maria-scm","visitor_id":"v1"}`)
	if got := adjustments(out); got != "maria t1 10.00, roger t1 -10.00" {
		t.Fatalf("adjustments %q", got)
	}
	for _, e := range out.Entries {
		// dated when the engine learned of it: the latest fact time folded
		if e.Time.Format("2006-01-02") != "2017-06-21" || e.PayableAt.Format("2006-01-02") != "2017-06-21" {
			t.Errorf("entry %s at %s payable %s, want both 2017-06-21", e.EntryID, e.Time, e.PayableAt)
		}
	}
	roger := h.e.state.accts["roger\x00USD"]
	if got := roger.payable(mustTime(t, "2017-07-01T00:00:00Z")); got != -1000 {
		t.Errorf("roger's payable %d minor units, want -1000 (paid out, then taken back)", got)
	}
	if out := h.add("payout.recorded", "2017-06-22T00:00:00Z", `{"payout_id":"p2","partner_id":"maria","currency":"USD","amount":"10.00"}`); len(out.Refusals) != 0 {
		t.Errorf("maria's payout of the moved commission refused: %+v", out.Refusals)
	}
}

// A subscription's orders keep what their first order was given.
func TestLateReferralLeavesSubscriptionsBe(t *testing.T) {
	h := newHistory(t, "")
	h.add("order.placed", "2017-06-02T00:00:00Z", `{"order_id":"s1","visitor_id":"v1","currency":"USD","subscription_id":"sub","cycle":1,"lines":[{"line_id":"l1","product_id":"scm","quantity":1,"amount":"10.00"}]}`)
	if out := h.add("click.recorded", "2017-06-01T00:00:00Z", `{"click_id":"k1","link_code":"maria-scm","visitor_id":"v1"}`); !out.Empty() {
		t.Errorf("a subscription's order was decided again: %+v", out)
	}
}

// An engine restored from a snapshot finds late referrals' orders as the
// one that never stopped does.
func TestLateReferralAfterARestore(t *testing.T) {
	var facts []events.Fact
	h := newHistory(t, "")
	h.click("k1", "roger-event", "v1", "2017-05-20T00:00:00Z")
	h.order("o", "v1", "katie", "scm", "100.00", "2017-06-02T00:00:00Z")
	h.order("o2", "", "katie", "scm", "100.00", "2017-06-03T00:00:00Z")
	facts = append(facts, h.facts...)
	facts = append(facts, lateFact(t, "click.recorded", "2017-06-01T00:00:00Z", `{"click_id":"k2","link_code":"maria-scm","visitor_id":"v1"}`))
	facts = append(facts, lateFact(t, "referral.assigned", "2017-05-01T00:00:00Z", `{"contact_id":"katie","partner_id":"maria"}`))
	_, out := foldAll(facts, nil)
	if got := adjustments(Output{Entries: out.Entries[len(out.Entries)-2:]}); got != "maria t1 20.00, roger t1 -20.00" {
		t.Fatalf("the late click's adjustments: %q", got)
	}
	checkSnapshotResumes(t, facts, len(facts)-2, nil)
}

func lateFact(t *testing.T, typ, at, data string) events.Fact {
	t.Helper()
	f, err := events.Decode([]byte(fmt.Sprintf(`{"specversion":"1.0","id":"late-%s-%s","source":"test","type":%q,"time":%q,"data":%s}`, typ, at, typ, at, data)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}
