package ledger

// Invariants of the engine, checked after every fact of generated
// histories, by a seeded property test in CI and by a fuzz target that
// drive the same generator:
//
//  1. For every order line and tier, accrued minus reversed stays between 0
//     and the line's full commission.
//  2. Balances equal the sum of entries: for each partner and currency, the
//     signed sum of every entry the engine emitted equals the account the
//     engine checks payouts against.
//  3. A refused fact leaves the commission state byte-identical.
//  4. The same facts give identical output, record for record and byte for
//     byte.
//  5. An engine that keeps state only (Engine.StateOnly, as a what-if runs)
//     refuses the same facts for the same reasons, ends in a byte-identical
//     state, and holds in each share (EachShare) the sum of the entries the
//     full engine emitted for it. One that explains only some orders
//     (Engine.ExplainOnly, as a replay's apply runs) writes exactly the
//     full engine's entries and explanations of those orders. A share an
//     order no longer holds, because a late referral had the order decided
//     again for another partner, is not reported, and its entries sum to
//     zero.
//  6. A line refunded in full nets exactly zero in every share: the last
//     refund reverses what is left, whatever the proportions rounded to.
//  7. On payment, once an order is paid in full, every share of a line
//     that was not refunded has accrued, and nets, exactly its full
//     commission: the last payment accrues what is left.
//
// So that 6 and 7 meet remainders, the generator refunds the first line of
// every eighth order in full, and pays the next order in full, each in
// sevenths: the proportions of such parts round, and drift, one way or the
// other, and the last part must make up the difference.

import (
	"bytes"
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/money"
	"github.com/shopspring/decimal"
)

// generate makes n random but valid facts from a seed: catalogs, clicks on
// a few visitors, identifications, orders in two currencies, payments,
// refunds (some too large), payouts (some too large) and policy changes.
func generate(seed int64, n int) []events.Fact {
	r := rand.New(rand.NewSource(seed))
	var facts []events.Fact
	day := 0
	add := func(typ, data string) {
		raw := fmt.Sprintf(`{"specversion":"1.0","id":"g-%d","source":"gen","type":%q,"time":"2017-01-%02dT%02d:00:00Z","data":%s}`, len(facts), typ, 1+day/24, day%24, data)
		f, err := events.Decode([]byte(raw))
		if err != nil {
			panic(fmt.Sprintf("generator made an invalid fact: %v\n%s", err, raw))
		}
		facts = append(facts, f)
	}
	add("partner.registered", `{"partner_id":"p0","name":"P0","contact_id":"c0"}`)
	add("partner.registered", `{"partner_id":"p1","name":"P1","parent_partner_id":"p0"}`)
	add("partner.registered", `{"partner_id":"p2","name":"P2","parent_partner_id":"p1"}`)
	add("program.defined", `{"program_id":"a","name":"A","priority":1,"product_rates":{"x":"12.5%","y":"3.00"},"tier_rates":["5%","1.5%"],"cycles":3}`)
	add("program.defined", `{"program_id":"b","name":"B","priority":2,"default_rate":"7%"}`)
	for _, e := range []string{"p0 a", "p1 a", "p1 b", "p2 b"} {
		pp := strings.Fields(e)
		add("partner.enrolled", fmt.Sprintf(`{"partner_id":%q,"program_id":%q}`, pp[0], pp[1]))
	}
	for i, l := range []string{"p0 a", "p1 b", "p2 a", "p2 "} {
		pp := strings.Fields(l + " ")
		prog := ""
		if len(pp) > 1 {
			prog = fmt.Sprintf(`,"program_id":%q`, pp[1])
		}
		add("link.created", fmt.Sprintf(`{"link_code":"l%d","partner_id":%q%s,"landing_url":"https://x.example/"}`, i, pp[0], prog))
	}
	orders := 0
	amounts := []string{"0.01", "0.99", "10.00", "33.33", "100.00", "497.00"}
	usd, _ := money.Lookup("USD")
	cents := func(a string) int64 { n, _ := money.ParseMinor(a, usd); return n }
	// Two currencies: a partner earns in both, so its accounts (and the
	// one its record holds for the next accrual, State.accountOf) alternate.
	currencies := []string{"USD", "USD", "EUR"}
	for len(facts) < n {
		day += 1 + r.Intn(30)
		if day >= 28*24 {
			day = 28*24 - 1
		}
		v, c := fmt.Sprintf("v%d", r.Intn(6)), fmt.Sprintf("c%d", r.Intn(4))
		switch k := r.Intn(10); {
		case k < 3:
			add("click.recorded", fmt.Sprintf(`{"click_id":"k%d","link_code":"l%d","visitor_id":%q}`, len(facts), r.Intn(4), v))
		case k == 3:
			add("contact.identified", fmt.Sprintf(`{"visitor_id":%q,"contact_id":%q}`, v, c))
		case k < 6:
			orders++
			sub := ""
			if r.Intn(3) == 0 {
				sub = fmt.Sprintf(`,"subscription_id":"s%d"`, r.Intn(2))
			}
			cur, a, q, b := currencies[r.Intn(len(currencies))], amounts[r.Intn(len(amounts))], 1+r.Intn(3), amounts[r.Intn(len(amounts))]
			id := fmt.Sprintf("o%d", orders)
			add("order.placed", fmt.Sprintf(`{"order_id":%q,"visitor_id":%q,"contact_id":%q,"currency":%q%s,"lines":[{"line_id":"a","product_id":"x","quantity":1,"amount":%q},{"line_id":"b","product_id":"y","quantity":%d,"amount":%q}]}`,
				id, v, c, cur, sub, a, q, b))
			switch orders % 8 {
			case 0: // line a refunded in full, in sevenths
				for _, n := range sevenths(cents(a)) {
					add("order.refunded", fmt.Sprintf(`{"order_id":%q,"refund_id":"r%d","lines":[{"line_id":"a","amount":%q}]}`, id, len(facts), money.FormatMinor(n, usd)))
				}
			case 1: // the order paid in full, in sevenths
				for _, n := range sevenths(cents(a) + cents(b)) {
					add("payment.received", fmt.Sprintf(`{"order_id":%q,"payment_id":"pay%d","amount":%q}`, id, len(facts), money.FormatMinor(n, usd)))
				}
			}
		case k < 8 && orders > 0:
			add("order.refunded", fmt.Sprintf(`{"order_id":"o%d","refund_id":"r%d","lines":[{"line_id":"%c","amount":%q}]}`,
				1+r.Intn(orders), len(facts), "ab"[r.Intn(2)], amounts[r.Intn(len(amounts))]))
		case k == 8 && orders > 0:
			add("payment.received", fmt.Sprintf(`{"order_id":"o%d","payment_id":"pay%d","amount":%q}`, 1+r.Intn(orders), len(facts), amounts[r.Intn(len(amounts))]))
		case k == 9 && r.Intn(3) == 0:
			pol := []string{`{"tracking":"cookies-only"}`, `{"credit":"first","cookie_days":7}`, `{"payout_basis":"on-payment","holding_days":0}`, `{"program_binding":"link-program","referral_days":20}`, `{"self_referral":"allow"}`}
			add("policy.changed", pol[r.Intn(len(pol))])
		default:
			add("payout.recorded", fmt.Sprintf(`{"payout_id":"po%d","partner_id":"p%d","currency":%q,"amount":%q}`, len(facts), r.Intn(3), currencies[r.Intn(len(currencies))], amounts[r.Intn(4)]))
		}
	}
	return facts
}

// sevenths splits n minor units into up to seven parts, the last taking
// what is left: 100.00 gives six of 14.28 and one of 14.32.
func sevenths(n int64) []int64 {
	k := min(n, 7)
	parts := make([]int64, 0, k)
	for i := int64(1); i < k; i++ {
		parts = append(parts, n/k)
	}
	return append(parts, n-(k-1)*(n/k))
}

// checkInvariants folds facts and checks invariants 1 to 3, 6 and 7 after
// each.
func checkInvariants(t testing.TB, facts []events.Fact) []byte {
	e := NewEngine(nil)
	lean := NewEngine(nil)
	lean.StateOnly()
	some := func(order string) bool { return digest(order)%2 == 0 }
	partial := NewEngine(nil)
	partial.ExplainOnly(some)
	sums := map[string]decimal.Decimal{}
	shareSums := map[ShareNet]int64{} // keyed with Net zero
	var all bytes.Buffer
	for i, f := range facts {
		before := commissionState(e.state)
		out := e.Apply(f, nil)
		leanOut := lean.Apply(f, nil)
		var want Output
		for _, en := range out.Entries {
			if en.Kind != KindPaid && some(en.OrderID) {
				want.Entries = append(want.Entries, en)
			}
		}
		for _, a := range out.Attributions {
			if some(a.OrderID) {
				want.Attributions = append(want.Attributions, a)
			}
		}
		want.Refusals, want.Policies = out.Refusals, out.Policies
		if got := partial.Apply(f, nil); !bytes.Equal(records(got), records(want)) {
			t.Fatalf("fact %d (%s): explaining some orders gave\n%s\nwant\n%s", i, f.Type, records(got), records(want))
		}
		if len(leanOut.Entries)+len(leanOut.Attributions) != 0 || fmt.Sprint(leanOut.Refusals) != fmt.Sprint(out.Refusals) {
			t.Fatalf("fact %d (%s): the state-only engine output %+v, the full one refused %+v", i, f.Type, leanOut, out.Refusals)
		}
		for _, en := range out.Entries {
			if en.Kind != KindPaid {
				usd, _ := money.Lookup(en.Currency)
				net, _ := money.ParseMinor(en.Net, usd)
				shareSums[ShareNet{OrderID: en.OrderID, LineID: en.LineID, PartnerID: en.PartnerID, Currency: en.Currency, Tier: en.Tier}] += net
			}
		}
		all.Write(records(out))
		if len(out.Refusals) > 0 {
			if after := commissionState(e.state); after != before {
				t.Fatalf("fact %d (%s) was refused (%s) but changed the state", i, f.Type, out.Refusals[0].Reason)
			}
		}
		for _, en := range out.Entries {
			k := en.PartnerID + "\x00" + en.Currency
			sums[k] = sums[k].Add(decimal.RequireFromString(en.Net))
		}
		for _, o := range e.state.orders.list {
			for _, l := range o.lines {
				for _, sh := range l.shares {
					left := sh.accrued - sh.reversed
					if left < 0 || left > sh.full {
						t.Fatalf("after fact %d: order %s line %s tier %d holds %d of %d minor units", i, o.id, l.id, sh.tier, left, sh.full)
					}
					if l.amount > 0 && l.refunded == l.amount && left != 0 {
						t.Fatalf("after fact %d: order %s line %s, refunded in full, still nets %d minor units at tier %d", i, o.id, l.id, left, sh.tier)
					}
					if o.policy.PayoutBasis == events.PayoutBasisOnPayment && o.paid == o.total && l.refunded == 0 && (sh.accrued != sh.full || left != sh.full) {
						t.Fatalf("after fact %d: order %s, paid in full on payment, accrued %d and nets %d of line %s tier %d's %d minor units", i, o.id, sh.accrued, left, l.id, sh.tier, sh.full)
					}
				}
			}
		}
		for k, a := range e.state.accts {
			var total int64
			for _, b := range a.buckets {
				total += b.net
			}
			usd, _ := money.Lookup("USD") // the generator's only currency
			if held := money.FromMinor(total-a.paid, usd); !held.Equal(sums[k]) {
				t.Fatalf("after fact %d: account %q holds %s, entries sum to %s", i, k, held, sums[k])
			}
		}
	}
	if !bytes.Equal(encodeEngine(t, e), encodeEngine(t, lean)) || !bytes.Equal(encodeEngine(t, e), encodeEngine(t, partial)) {
		t.Fatal("the state-only or partly explaining engine ended in another state than the full one")
	}
	lean.State().EachShare(func(sh ShareNet) {
		net := sh.Net
		sh.Net = 0
		if shareSums[sh] != net {
			t.Errorf("share %+v holds %d, its entries sum to %d", sh, net, shareSums[sh])
		}
		delete(shareSums, sh)
	})
	for sh, net := range shareSums {
		if net != 0 { // a share an order no longer holds (decided again for another partner) nets to zero
			t.Errorf("entries moved share %+v by %d, and EachShare does not report it", sh, net)
		}
	}
	return all.Bytes()
}

// commissionState renders the money-bearing state deterministically, by
// order id whatever the order of placement.
func commissionState(s *State) string {
	var b strings.Builder
	orders := slices.Clone(s.orders.list)
	slices.SortFunc(orders, func(a, b *order) int { return strings.Compare(a.id, b.id) })
	for _, o := range orders {
		id := o.id
		fmt.Fprintf(&b, "%s paid=%d refunds=%d payments=%d;", id, o.paid, len(o.refunds), len(o.payments))
		for _, l := range o.lines {
			fmt.Fprintf(&b, "%s refunded=%d;", l.id, l.refunded)
			for _, sh := range l.shares {
				fmt.Fprintf(&b, "%d %s %d %d %d;", sh.tier, sh.partner, sh.full, sh.accrued, sh.reversed)
			}
		}
	}
	keys := make([]string, 0, len(s.accts))
	for k := range s.accts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%q paid=%d buckets=%d;", k, s.accts[k].paid, len(s.accts[k].buckets))
	}
	fmt.Fprintf(&b, "partners=%d links=%d clicks=%d", len(s.cat.partners), len(s.cat.links), s.clicks.len())
	return b.String()
}

func TestInvariantsSeeded(t *testing.T) {
	for seed := int64(1); seed <= 16; seed++ {
		facts := generate(seed, 300)
		first := checkInvariants(t, facts)
		if again := checkInvariants(t, facts); !bytes.Equal(first, again) {
			t.Fatalf("seed %d: the same facts gave different output", seed)
		}
		if len(first) == 0 {
			t.Fatalf("seed %d produced no output: the generator is broken", seed)
		}
	}
}

func FuzzInvariants(f *testing.F) {
	f.Add(int64(1), uint16(200))
	f.Add(int64(99), uint16(600))
	f.Fuzz(func(t *testing.T, seed int64, n uint16) {
		facts := generate(seed, 20+int(n%800))
		if !bytes.Equal(checkInvariants(t, facts), checkInvariants(t, facts)) {
			t.Fatal("the same facts gave different output")
		}
	})
}
