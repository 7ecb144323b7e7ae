package ledger

import (
	"fmt"
	"math/big"
	mathrand "math/rand"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/refledger/refledger/money"
	"github.com/shopspring/decimal"
)

// TestLargestAmountsDoNotWrap drives the engine at the money bounds
// (money.Max*): a fixed rate of 1,000,000,000 per unit on 1,000,000 units
// earns 10^15 BHD, 10^18 fils, on one line; ten such orders make a
// partner's payable past 2^63 fils, which must not wrap into a negative
// balance that refuses a payout of 10.000 (issue 21 item 4).
func TestLargestAmountsDoNotWrap(t *testing.T) {
	h := newHistory(t, `{"holding_days":0}`)
	h.add("program.defined", "2016-01-01T00:00:00Z", `{"program_id":"big","name":"Big","priority":0,"product_rates":{"bulk":"1000000000","whole":"100%"}}`)
	h.add("partner.enrolled", "2016-01-01T00:00:00Z", `{"partner_id":"maria","program_id":"big"}`)
	h.add("referral.assigned", "2016-01-01T00:00:00Z", `{"contact_id":"c-big","partner_id":"maria"}`)
	for i := range 10 {
		o := h.add("order.placed", "2017-06-02T00:00:00Z", fmt.Sprintf(`{"order_id":"o%d","contact_id":"c-big","currency":"BHD","lines":[{"line_id":"l1","product_id":"bulk","quantity":1000000,"amount":"1000000000000.000"},{"line_id":"l2","product_id":"whole","quantity":1,"amount":"1000000000000.000"}]}`, i))
		if len(o.Entries) != 2 || o.Entries[0].Amount != "1000000000000000.000" || o.Entries[1].Amount != "1000000000000.000" {
			t.Fatalf("order %d at the bounds: %+v", i, o.Entries)
		}
	}
	o := h.add("payout.recorded", "2017-06-03T00:00:00Z", `{"payout_id":"po","partner_id":"maria","currency":"BHD","amount":"10000000000000.000"}`)
	if len(o.Refusals) != 0 || len(o.Entries) != 1 || o.Entries[0].Kind != KindPaid {
		t.Errorf("a payout of 10^13 against 10^16 payable: %+v", o)
	}
	// Taking back what was paid leaves a payable that still does not wrap:
	// refunding every line of every order reverses all but the payout.
	for i := range 10 {
		h.add("order.refunded", "2017-06-04T00:00:00Z", fmt.Sprintf(`{"order_id":"o%d","refund_id":"r","lines":[{"line_id":"l1","amount":"1000000000000.000"},{"line_id":"l2","amount":"1000000000000.000"}]}`, i))
	}
	o = h.add("payout.recorded", "2017-06-05T00:00:00Z", `{"payout_id":"po2","partner_id":"maria","currency":"BHD","amount":"0.001"}`)
	if len(o.Refusals) != 1 || !strings.Contains(o.Refusals[0].Reason, "exceeds the -10000000000000.000 payable") {
		t.Errorf("a payout after everything was taken back: %+v", o)
	}
}

// TestMoneyAtTheBoundsIsExact is a seeded property test: amounts,
// quantities and rates at and near the bounds (money.Max*) go through
// commissions (percent and fixed rates), parent tiers, refunds and payouts,
// and each result is held to exact decimal arithmetic (shopspring/decimal,
// which has no width to overflow). A partner's payable is checked by
// paying it exactly (accepted) and then one minor unit more (refused).
func TestMoneyAtTheBoundsIsExact(t *testing.T) {
	for seed := range uint64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { boundsRun(t, seed) })
	}
}

func boundsRun(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 21))
	cur, _ := money.Lookup([]string{"USD", "JPY", "BHD"}[seed%3])
	unit := decimal.New(1, -cur.MinorUnits)
	// near picks a value of [0, max] in steps of step, at the bounds half
	// of the time.
	near := func(max, step decimal.Decimal) decimal.Decimal {
		var v decimal.Decimal
		switch r.IntN(4) {
		case 0:
			v = max
		case 1:
			v = max.Sub(step.Mul(decimal.NewFromInt(r.Int64N(1000))))
		case 2:
			v = step.Mul(decimal.NewFromInt(r.Int64N(1000)))
		default:
			v = decimal.NewFromBigInt(new(big.Int).Rand(mathrand.New(bigRand{r}), max.Div(step).BigInt().Add(max.Div(step).BigInt(), big.NewInt(1))), 0).Mul(step)
		}
		return decimal.Max(decimal.Zero, decimal.Min(v, max))
	}
	rate := func() string {
		if r.IntN(2) == 0 {
			return near(decimal.NewFromInt(100), decimal.New(1, -8)).String() + "%"
		}
		return near(money.MaxFixedRate, decimal.New(1, -8)).String()
	}
	rates := []string{rate(), rate(), rate()} // tier 1, 2, 3
	h := newHistory(t, `{"holding_days":0}`)
	h.add("partner.registered", "2016-01-01T00:00:00Z", `{"partner_id":"t3","name":"T3"}`)
	h.add("partner.registered", "2016-01-01T00:00:00Z", `{"partner_id":"t2","name":"T2","parent_partner_id":"t3"}`)
	h.add("partner.registered", "2016-01-01T00:00:00Z", `{"partner_id":"t1","name":"T1","parent_partner_id":"t2"}`)
	h.add("program.defined", "2016-01-01T00:00:00Z", fmt.Sprintf(`{"program_id":"b","name":"B","priority":0,"default_rate":%q,"tier_rates":[%q,%q]}`, rates[0], rates[1], rates[2]))
	h.add("partner.enrolled", "2016-01-01T00:00:00Z", `{"partner_id":"t1","program_id":"b"}`)
	h.add("referral.assigned", "2016-01-01T00:00:00Z", `{"contact_id":"c","partner_id":"t1"}`)

	type lineState struct {
		amount, refunded decimal.Decimal
		full, reversed   [3]decimal.Decimal
	}
	payable := map[string]decimal.Decimal{"t1": decimal.Zero, "t2": decimal.Zero, "t3": decimal.Zero}
	partnerOf := []string{"t1", "t2", "t3"}
	for o := range 12 {
		var lines []string
		state := map[string]*lineState{}
		for l := range 1 + r.IntN(3) {
			amount := near(money.MaxLineAmount, unit)
			qty := near(decimal.NewFromInt(money.MaxQuantity-1), decimal.NewFromInt(1)).IntPart() + 1
			id := fmt.Sprintf("l%d", l)
			lines = append(lines, fmt.Sprintf(`{"line_id":%q,"product_id":"p","quantity":%d,"amount":%q}`, id, qty, money.Format(amount, cur)))
			ls := &lineState{amount: amount}
			for tier, text := range rates {
				rt, _ := money.ParseRate(text)
				if rt.Percent {
					ls.full[tier] = amount.Mul(rt.Value).Div(decimal.NewFromInt(100)).RoundBank(cur.MinorUnits)
				} else {
					ls.full[tier] = rt.Value.Mul(decimal.NewFromInt(qty)).RoundBank(cur.MinorUnits)
				}
				payable[partnerOf[tier]] = payable[partnerOf[tier]].Add(ls.full[tier])
			}
			state[id] = ls
		}
		order := fmt.Sprintf("o%d", o)
		out := h.add("order.placed", "2017-06-02T00:00:00Z", fmt.Sprintf(`{"order_id":%q,"contact_id":"c","currency":%q,"lines":[%s]}`, order, cur.Code, strings.Join(lines, ",")))
		checkEntries(t, out, cur, func(e Entry) decimal.Decimal { return state[e.LineID].full[e.Tier-1] })
		// Refund each line in up to three parts; the last takes what is left.
		for k := range 3 {
			var refund []string
			want := map[[2]string]decimal.Decimal{}
			for id, ls := range state {
				left := ls.amount.Sub(ls.refunded)
				part := left
				if k < 2 && left.IsPositive() {
					part = near(left, unit)
				}
				if r.IntN(3) == 0 || !part.IsPositive() {
					continue
				}
				refund = append(refund, fmt.Sprintf(`{"line_id":%q,"amount":%q}`, id, money.Format(part, cur)))
				ls.refunded = ls.refunded.Add(part)
				for tier := range 3 {
					rev := ls.full[tier].Sub(ls.reversed[tier])
					if ls.refunded.LessThan(ls.amount) {
						rev = decimal.Min(rev, ls.full[tier].Mul(part).Div(ls.amount).RoundBank(cur.MinorUnits))
					}
					ls.reversed[tier] = ls.reversed[tier].Add(rev)
					want[[2]string{id, partnerOf[tier]}] = rev
					payable[partnerOf[tier]] = payable[partnerOf[tier]].Sub(rev)
				}
			}
			if len(refund) == 0 {
				continue
			}
			out := h.add("order.refunded", "2017-06-03T00:00:00Z", fmt.Sprintf(`{"order_id":%q,"refund_id":"r%d","lines":[%s]}`, order, k, strings.Join(refund, ",")))
			checkEntries(t, out, cur, func(e Entry) decimal.Decimal { return want[[2]string{e.LineID, e.PartnerID}] })
		}
	}
	// Pay each partner what is payable, in payouts of at most the bound,
	// then one minor unit more, which must be refused. A payable of more
	// than 20 payouts at the bound is paid down by 20 of them only.
	n := 0
	for _, p := range partnerOf {
		left := payable[p]
		for range 20 {
			if !left.IsPositive() {
				break
			}
			amt := decimal.Min(left, money.MaxPayout)
			n++
			out := h.add("payout.recorded", "2017-06-04T00:00:00Z", fmt.Sprintf(`{"payout_id":"po%d","partner_id":%q,"currency":%q,"amount":%q}`, n, p, cur.Code, money.Format(amt, cur)))
			if len(out.Entries) != 1 {
				t.Fatalf("payout of %s to %s with %s payable: %+v", amt, p, left, out)
			}
			left = left.Sub(amt)
		}
		if left.IsPositive() {
			continue
		}
		n++
		out := h.add("payout.recorded", "2017-06-04T00:00:00Z", fmt.Sprintf(`{"payout_id":"po%d","partner_id":%q,"currency":%q,"amount":%q}`, n, p, cur.Code, money.Format(unit, cur)))
		if len(out.Refusals) != 1 {
			t.Errorf("a payout of one unit past what %s had payable: %+v", p, out)
		}
	}
}

func checkEntries(t *testing.T, out Output, cur money.Currency, want func(Entry) decimal.Decimal) {
	t.Helper()
	if len(out.Refusals) > 0 {
		t.Fatalf("refused: %+v", out.Refusals)
	}
	for _, e := range out.Entries {
		if w := money.Format(want(e), cur); e.Amount != w {
			t.Errorf("%s %s: %s, want %s", e.EntryID, e.PartnerID, e.Amount, w)
		}
	}
}

// bigRand lets big.Int.Rand draw from a seeded math/rand/v2 source.
type bigRand struct{ r *rand.Rand }

func (b bigRand) Int63() int64 { return b.r.Int64() }
func (b bigRand) Seed(int64)   {}
