package ledger

import (
	"flag"
	"fmt"
	"maps"
	"math/rand"
	"slices"
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

// A subscription's orders are decided again together: a late click on its
// first order moves the first order's credit and every renewal's with it.
func TestLateReferralMovesASubscription(t *testing.T) {
	h := newHistory(t, "")
	h.click("k1", "roger-event", "v1", "2017-05-20T00:00:00Z")
	sub := func(id string, cycle int, at string) Output {
		return h.add("order.placed", at, fmt.Sprintf(`{"order_id":%q,"visitor_id":"v1","currency":"USD","subscription_id":"sub","cycle":%d,"lines":[{"line_id":"l1","product_id":"scm","quantity":1,"amount":"10.00"}]}`, id, cycle))
	}
	sub("s1", 1, "2017-06-02T00:00:00Z")
	sub("s2", 2, "2017-07-02T00:00:00Z") // a renewal: no click of its own would qualify
	out := h.add("click.recorded", "2017-06-01T00:00:00Z", `{"click_id":"k2","link_code":"maria-scm","visitor_id":"v1"}`)
	if got := adjustments(out); got != "maria t1 2.00, roger t1 -2.00, maria t1 2.00, roger t1 -2.00" {
		t.Fatalf("adjustments %q", got)
	}
	if len(out.Attributions) != 2 || out.Attributions[1].Candidates[0].Reason.String() != "renewal of subscription sub, first credited on order s1" {
		t.Fatalf("explanations %+v", out.Attributions)
	}
	// A third payment keeps the new referral.
	if got := who(t, sub("s3", 3, "2017-08-02T00:00:00Z")); got != "maria 2.00 cookie k2" {
		t.Errorf("the next renewal: %s", got)
	}
	// A click late for the third payment only changes nothing: s1 and s2
	// came before it, and s3 is a renewal, which weighs no click.
	if out := h.add("click.recorded", "2017-07-20T00:00:00Z", `{"click_id":"k3","link_code":"roger-event","visitor_id":"v1"}`); !out.Empty() {
		t.Errorf("a click after s1 and s2: %+v, want nothing", out)
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

// timedHistory makes a random history in time order, some facts at the
// instant of the fact before (never two referrals), some a fraction of a
// second after it (a click at 10:00:00.9 after an order at 10:00:00.5),
// with referrals (clicks, some carrying a contact; identifications;
// manual referrals), orders and refunds (each line refunded at most once, in
// part or whole) under a random policy that holds from the start. The
// positions of its referrals are returned too.
func timedHistory(seed int64, n int) (facts []events.Fact, referrals []int) {
	r := rand.New(rand.NewSource(seed))
	var since time.Duration // from the history's start
	add := func(typ, data string) {
		at := time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC).Add(since).Format(time.RFC3339Nano)
		f, err := events.Decode([]byte(fmt.Sprintf(`{"specversion":"1.0","id":"t-%d","source":"gen","type":%q,"time":%q,"data":%s}`, len(facts), typ, at, data)))
		if err != nil {
			panic(fmt.Sprintf("generator made an invalid fact: %v", err))
		}
		facts = append(facts, f)
	}
	policy := fmt.Sprintf(`{"tracking":%q,"credit":%q,"cookie_days":%d,"referral_days":%d,"program_binding":%q,"self_referral":%q}`,
		[]string{"cookies-only", "referral-history-and-cookies"}[r.Intn(2)], []string{"first", "last"}[r.Intn(2)],
		[]int{0, 1, 3}[r.Intn(3)], []int{0, 2}[r.Intn(2)], []string{"partner-programs", "link-program"}[r.Intn(2)], []string{"allow", "reject"}[r.Intn(2)])
	add("policy.changed", policy)
	add("partner.registered", `{"partner_id":"p0","name":"P0","contact_id":"c0"}`)
	add("partner.registered", `{"partner_id":"p1","name":"P1","parent_partner_id":"p0"}`)
	add("partner.registered", `{"partner_id":"p2","name":"P2","cookie_days":0}`)
	add("program.defined", `{"program_id":"a","name":"A","priority":1,"product_rates":{"x":"12.5%","y":"3.00"},"tier_rates":["5%"]}`)
	add("program.defined", `{"program_id":"b","name":"B","priority":2,"default_rate":"7%","cycles":2}`)
	for _, e := range []string{"p0 a", "p1 a", "p1 b", "p2 b"} {
		pp := strings.Fields(e)
		add("partner.enrolled", fmt.Sprintf(`{"partner_id":%q,"program_id":%q}`, pp[0], pp[1]))
	}
	for i, l := range []string{`"p0","program_id":"a"`, `"p1","program_id":"b"`, `"p2"`} {
		add("link.created", fmt.Sprintf(`{"link_code":"l%d","partner_id":%s,"landing_url":"https://x.example/"}`, i, l))
	}
	amounts := []string{"0.99", "10.00", "33.33", "100.00"}
	var lines []string              // order/line not refunded yet
	referralAt := time.Duration(-1) // the instant of the last referral
	for orders := 0; len(facts) < n; {
		switch r.Intn(5) {
		case 0: // at the instant of the fact before
		case 1: // within the second, or a nanosecond, after it
			since += []time.Duration{time.Nanosecond, time.Duration(1 + r.Intn(int(time.Second)))}[r.Intn(2)]
		default:
			since += time.Duration(1+r.Intn(24*60))*time.Minute + time.Duration(r.Intn(3))*time.Second/2
		}
		v, c := fmt.Sprintf("v%d", r.Intn(5)), fmt.Sprintf("c%d", r.Intn(4))
		k := r.Intn(12)
		if k < 6 {
			// Two referrals of one instant tie, and a tie goes to the one
			// logged last (or first): arrival would decide it. Keep them
			// apart; a referral and an order may share an instant.
			if since == referralAt {
				since++
			}
			referralAt = since
		}
		switch {
		case k < 4:
			contact := ""
			if r.Intn(4) == 0 {
				contact = fmt.Sprintf(`,"contact_id":%q`, c)
			}
			referrals = append(referrals, len(facts))
			add("click.recorded", fmt.Sprintf(`{"click_id":"k%d","link_code":"l%d","visitor_id":%q%s}`, len(facts), r.Intn(3), v, contact))
		case k == 4:
			referrals = append(referrals, len(facts))
			add("contact.identified", fmt.Sprintf(`{"visitor_id":%q,"contact_id":%q}`, v, c))
		case k == 5:
			referrals = append(referrals, len(facts))
			add("referral.assigned", fmt.Sprintf(`{"contact_id":%q,"partner_id":"p%d"}`, c, r.Intn(3)))
		case k < 9:
			orders++
			buyer := []string{fmt.Sprintf(`"visitor_id":%q`, v), fmt.Sprintf(`"contact_id":%q`, c), fmt.Sprintf(`"visitor_id":%q,"contact_id":%q`, v, c)}[r.Intn(3)]
			if r.Intn(3) == 0 {
				buyer += fmt.Sprintf(`,"subscription_id":"s%d"`, r.Intn(3))
			}
			add("order.placed", fmt.Sprintf(`{"order_id":"o%d",%s,"currency":"USD","lines":[{"line_id":"a","product_id":"x","quantity":1,"amount":%q},{"line_id":"b","product_id":"y","quantity":%d,"amount":%q}]}`,
				orders, buyer, amounts[r.Intn(len(amounts))], 1+r.Intn(3), amounts[r.Intn(len(amounts))]))
			lines = append(lines, fmt.Sprintf("o%d a", orders), fmt.Sprintf("o%d b", orders))
		case len(lines) > 0:
			i := r.Intn(len(lines))
			ol := strings.Fields(lines[i])
			lines = append(lines[:i], lines[i+1:]...)
			amount := []string{"0.50", "0.99"}[r.Intn(2)] // in part (never more than a line holds), or the whole 0.99 line
			add("order.refunded", fmt.Sprintf(`{"order_id":%q,"refund_id":"r%d","lines":[{"line_id":%q,"amount":%q}]}`, ol[0], len(facts), ol[1], amount))
		}
	}
	return facts, referrals
}

// nets is every share an engine holds, with its net.
func nets(e *Engine) map[ShareNet]int64 {
	out := map[ShareNet]int64{}
	e.State().EachShare(func(sh ShareNet) {
		net := sh.Net
		sh.Net = 0
		if net != 0 {
			out[sh] = net
		}
	})
	return out
}

// Attribution goes by time, never by arrival (CONTRACT §1): a history
// whose referrals reach the engine late, in any number and any order
// after their time, ends with every partner holding exactly what the
// same history in time order gives them.
func TestLateArrivalEndsAsTimeOrder(t *testing.T) {
	for seed := int64(1); seed <= *lateSeeds; seed++ {
		facts, referrals := timedHistory(seed, 150)
		want := timeOrderNets(facts)

		r := rand.New(rand.NewSource(seed))
		late := map[int]bool{}
		for _, i := range referrals {
			late[i] = r.Intn(2) == 0
		}
		var arrival, held []events.Fact
		for i, f := range facts {
			if late[i] {
				held = append(held, f)
				continue
			}
			arrival = append(arrival, f)
			if r.Intn(8) == 0 { // some late facts arrive now, in any order
				r.Shuffle(len(held), func(a, b int) { held[a], held[b] = held[b], held[a] })
				arrival, held = append(arrival, held...), nil
			}
		}
		arrival = append(arrival, held...)
		e, out := foldAll(arrival, nil)
		if got := nets(e); !maps.Equal(got, want) {
			t.Errorf("seed %d: arriving late, shares differ from time order: %s", seed, netDiff(got, want))
		}
		if len(out.Refusals) != 0 {
			t.Errorf("seed %d: refusals %+v", seed, out.Refusals)
		}
	}
}

// netDiff lists the shares whose nets differ, as late/in-time.
func netDiff(late, inTime map[ShareNet]int64) string {
	var out []string
	for k, v := range late {
		if inTime[k] != v {
			out = append(out, fmt.Sprintf("%s/%s/%s/t%d %d/%d", k.OrderID, k.LineID, k.PartnerID, k.Tier, v, inTime[k]))
		}
	}
	for k, v := range inTime {
		if _, ok := late[k]; !ok {
			out = append(out, fmt.Sprintf("%s/%s/%s/t%d %d/%d", k.OrderID, k.LineID, k.PartnerID, k.Tier, 0, v))
		}
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// lateSeeds is how many histories TestLateArrivalEndsAsTimeOrder tries;
// -late-seeds raises it for a longer search.
var lateSeeds = flag.Int64("late-seeds", 40, "histories TestLateArrivalEndsAsTimeOrder tries")

// On payment, a share moved by a late referral holds what the payments so
// far earned (in proportion, rounded half-even once), and the payments
// after it accrue the rest to the new partner.
func TestLateReferralOnPayment(t *testing.T) {
	h := newHistory(t, `{"payout_basis":"on-payment"}`)
	h.click("k1", "roger-event", "v1", "2017-05-20T00:00:00Z")
	h.order("o", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z")
	h.add("payment.received", "2017-06-03T00:00:00Z", `{"order_id":"o","payment_id":"p1","amount":"33.33"}`)
	out := h.add("click.recorded", "2017-06-01T00:00:00Z", `{"click_id":"k2","link_code":"maria-scm","visitor_id":"v1"}`)
	// roger accrued 20% of 33.33 = 6.666 -> 6.67; maria holds 20.00 x 33.33/100 = 6.666 -> 6.67
	if got := adjustments(out); got != "maria t1 6.67, roger t1 -6.67" {
		t.Errorf("adjustments %q", got)
	}
	rest := h.add("payment.received", "2017-06-04T00:00:00Z", `{"order_id":"o","payment_id":"p2","amount":"66.67"}`)
	if len(rest.Entries) != 1 || rest.Entries[0].PartnerID != "maria" || rest.Entries[0].Amount != "13.33" {
		t.Errorf("the last payment accrued %+v, want maria's 13.33 (20.00 in all)", rest.Entries)
	}
}

// A contact's browsers stay in time order however their identifications
// arrive (late, repeated, earlier again), with a contact of many browsers
// indexed too: browsersBefore answers as a scan of every identification
// would.
func TestBrowsersBeforeMatchesAScan(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	ids := newIdentities()
	first := map[string]int64{} // visitor -> earliest time identified as "guest"
	base := time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 2000 {
		v := fmt.Sprintf("v%d", r.Intn(3*maxHistoryBrowsers))
		at := base.Add(time.Duration(r.Intn(10000)) * time.Minute)
		ids.identify(v, "guest", at, false)
		if was, ok := first[v]; !ok || at.UnixNano() < was {
			first[v] = at.UnixNano()
		}
	}
	for range 200 {
		at := base.Add(time.Duration(r.Intn(10000)) * time.Minute).UnixNano()
		var want []int64
		for _, was := range first {
			if was < at {
				want = append(want, was)
			}
		}
		slices.Sort(want)
		left := max(0, len(want)-maxHistoryBrowsers)
		got, gotLeft := ids.browsersBefore(digest("guest"), at-1) // identified before at
		var gotAt []int64
		for _, b := range got {
			gotAt = append(gotAt, b.at)
		}
		if gotLeft != left || !slices.Equal(gotAt, want[left:]) {
			t.Fatalf("before %d: %d browsers (%d left out), want %d (%d left out)", at, len(got), gotLeft, len(want)-left, left)
		}
	}
}

// An identification at the order's own instant counts for it, as one
// logged before it always did; the one an order makes itself by giving
// both ids never does, not even when a late referral has it decided again.
func TestIdentificationsAtTheOrdersInstant(t *testing.T) {
	policy := `{"tracking":"referral-history-and-cookies","cookie_days":30}`
	h := newHistory(t, policy)
	h.click("k1", "maria-scm", "v1", "2017-01-01T00:00:00Z") // its cookie expired long before the orders
	h.add("contact.identified", "2017-06-02T00:00:00Z", `{"visitor_id":"v1","contact_id":"katie"}`)
	if got := who(t, h.order("o1", "v1", "katie", "scm", "100.00", "2017-06-02T00:00:00Z")); got != "maria 20.00 referral-history k1" {
		t.Errorf("an identification at the order's instant: %s, want the history's k1", got)
	}

	h = newHistory(t, policy)
	h.click("k1", "maria-scm", "v2", "2017-01-01T00:00:00Z")
	if got := who(t, h.order("o2", "v2", "ann", "scm", "100.00", "2017-06-02T00:00:00Z")); got != "none" {
		t.Errorf("an order's own identification: %s, want none", got)
	}
	// A late manual referral of someone else has o2 decided again: the
	// order's own identification still does not count for it.
	out := h.add("referral.assigned", "2017-06-01T00:00:00Z", `{"contact_id":"ann","partner_id":"roger"}`)
	if got := who(t, out); got != "roger 20.00 manual " {
		t.Errorf("decided again: %s, want roger's manual referral alone", got)
	}
	for _, c := range out.Attributions[0].Candidates {
		if c.ClickID == "k1" && c.Source == SourceHistory {
			t.Errorf("decided again, the order counts the identification it made itself: %+v", c)
		}
	}
}

// An adjusting entry is dated, and payable at the earliest, when the fact
// log received the fact that caused it (events.Fact.Arrived), never by the
// latest event time the engine saw: one fact stamped 2199 does not carry
// every later adjustment into 2199. Nor is one dated before the order it
// adjusts. A fact stored before arrivals were kept has none, and its
// adjustments are dated as they were then, by the latest fact time.
func TestAdjustmentsAreDatedByArrival(t *testing.T) {
	const policy = `{"tracking":"cookies-only","credit":"last","holding_days":30}`
	cases := []struct {
		name, arrived string // "" for none
		at, payable   string
	}{
		{"arrived after the hold", "2017-07-10T08:00:00.5Z", "2017-07-10T08:00:00.5Z", "2017-07-10T08:00:00.5Z"},
		{"arrived within the hold", "2017-06-03T00:00:00Z", "2017-06-03T00:00:00Z", "2017-07-02T00:00:00Z"},
		{"arrived before the order's time", "2017-06-01T00:00:00Z", "2017-06-02T00:00:00Z", "2017-07-02T00:00:00Z"},
		{"stored before arrivals were kept", "", "2199-12-31T00:00:00Z", "2199-12-31T00:00:00Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHistory(t, policy)
			h.click("k1", "roger-event", "v1", "2017-05-20T00:00:00Z")
			h.order("o", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z")
			h.add("contact.identified", "2199-12-31T00:00:00Z", `{"visitor_id":"v9","contact_id":"someone"}`)
			late := lateFact(t, "click.recorded", "2017-06-01T00:00:00Z", `{"click_id":"k2","link_code":"maria-scm","visitor_id":"v1"}`)
			if c.arrived != "" {
				late.Arrived = mustTime(t, c.arrived)
			}
			out := h.e.Apply(late, events.EncodeStored(late))
			if got := adjustments(out); got != "maria t1 20.00, roger t1 -20.00" {
				t.Fatalf("adjustments %q", got)
			}
			for _, e := range out.Entries {
				if !e.Time.Equal(mustTime(t, c.at)) || !e.PayableAt.Equal(mustTime(t, c.payable)) {
					t.Errorf("%s dated %s, payable %s: want %s, payable %s", e.EntryID, e.Time.Format(time.RFC3339Nano), e.PayableAt.Format(time.RFC3339Nano), c.at, c.payable)
				}
			}
		})
	}
}

// The engine's record of the facts it folded ignores their arrival, as
// ingestion does: the same fact again, arrived at another time or stored
// before arrivals were kept, is a duplicate that changes nothing; another
// payload under its key is refused.
func TestFactsRepeatedAtAnotherArrivalAreDuplicates(t *testing.T) {
	h := newHistory(t, "")
	f := lateFact(t, "referral.assigned", "2017-06-01T00:00:00Z", `{"contact_id":"katie","partner_id":"maria"}`)
	stored := func(f events.Fact, arrived string) []byte {
		if arrived != "" {
			f.Arrived = mustTime(t, arrived)
		}
		return events.EncodeStored(f)
	}
	h.e.Apply(f, stored(f, "2017-06-01T00:00:01Z"))
	for _, again := range []string{"2017-06-05T00:00:00Z", ""} {
		if out := h.e.Apply(f, stored(f, again)); !out.Empty() {
			t.Errorf("the same fact, arrived %q: %+v, want nothing", again, out)
		}
	}
	changed := lateFact(t, "referral.assigned", "2017-06-01T00:00:00Z", `{"contact_id":"katie","partner_id":"roger"}`)
	if out := h.e.Apply(changed, stored(changed, "2017-06-05T00:00:00Z")); len(out.Refusals) != 1 {
		t.Errorf("another payload under the key: %+v, want it refused", out)
	}
}

// timeOrderNets folds facts in time order, as an import appends them (by
// moment: the referrals of an instant before its orders,
// events.AppendRank), and returns every share's net.
func timeOrderNets(facts []events.Fact) map[ShareNet]int64 {
	ordered := slices.Clone(facts)
	slices.SortStableFunc(ordered, func(a, b events.Fact) int {
		return events.MomentOf(a.Type, a.Time.UnixNano()).Compare(events.MomentOf(b.Type, b.Time.UnixNano()))
	})
	inTime, _ := foldAll(ordered, nil)
	return nets(inTime)
}
