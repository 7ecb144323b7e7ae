package replay

import (
	"sort"
	"strconv"
	"time"

	"github.com/refledger/refledger/ledger"
	"github.com/refledger/refledger/money"
	"github.com/shopspring/decimal"
)

type lineKey struct{ order, line string }

// tierOne is who earns tier 1 on a line, and how much.
type tierOne struct {
	partner  *string
	amount   decimal.Decimal
	currency string
}

// tierOnes returns the tier-1 earner of every line: the partner whose net
// is not zero (after adjustments the old partner's nets to zero).
func tierOnes(m shareSums) map[lineKey]tierOne {
	out := map[lineKey]tierOne{}
	for k, s := range m {
		if k.tier != 1 {
			continue
		}
		lk := lineKey{k.order, k.line}
		t := out[lk]
		t.currency = s.currency
		if !s.net.IsZero() {
			p := k.partner
			t.partner, t.amount = &p, t.amount.Add(s.net)
		}
		out[lk] = t
	}
	return out
}

// compare fills Changes, Totals and Summary from before and after.
func (r *Result) compare() {
	before, after := tierOnes(r.before), tierOnes(r.after)
	keys := map[lineKey]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	r.Changes = []Change{}
	orders := map[string]bool{}
	for k := range keys {
		b, a := before[k], after[k]
		cur := b.currency
		if cur == "" {
			cur = a.currency
		}
		c, _ := money.Lookup(cur)
		if samePartner(b.partner, a.partner) && b.amount.Equal(a.amount) {
			continue
		}
		r.Changes = append(r.Changes, Change{
			OrderID: k.order, LineID: k.line, PartnerBefore: b.partner, PartnerAfter: a.partner,
			AmountBefore: money.Format(b.amount, c), AmountAfter: money.Format(a.amount, c), Currency: cur,
		})
		orders[k.order] = true
	}
	sort.Slice(r.Changes, func(i, j int) bool {
		x, y := r.Changes[i], r.Changes[j]
		return x.OrderID < y.OrderID || x.OrderID == y.OrderID && x.LineID < y.LineID
	})
	r.totals()
	r.Summary.OrdersChanged = len(orders)
}

func samePartner(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

type partnerCurrency struct{ partner, currency string }

func (r *Result) totals() {
	type pair struct{ before, after decimal.Decimal }
	by := map[partnerCurrency]*pair{}
	get := func(k partnerCurrency) *pair {
		if by[k] == nil {
			by[k] = &pair{}
		}
		return by[k]
	}
	for k, s := range r.before {
		p := get(partnerCurrency{k.partner, s.currency})
		p.before = p.before.Add(s.net)
	}
	for k, s := range r.after {
		p := get(partnerCurrency{k.partner, s.currency})
		p.after = p.after.Add(s.net)
	}
	keys := make([]partnerCurrency, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].partner < keys[j].partner || keys[i].partner == keys[j].partner && keys[i].currency < keys[j].currency
	})
	r.Totals = []Total{}
	net := map[string]decimal.Decimal{}
	affected := 0
	for _, k := range keys {
		p := by[k]
		c, _ := money.Lookup(k.currency)
		delta := p.after.Sub(p.before)
		r.Totals = append(r.Totals, Total{PartnerID: k.partner, Currency: k.currency, Before: money.Format(p.before, c), After: money.Format(p.after, c), Delta: money.Format(delta, c)})
		if !delta.IsZero() {
			affected++
		}
		net[k.currency] = net[k.currency].Add(delta)
	}
	r.Summary.PartnersAffected = affected
	r.Summary.NetDelta = []NetDelta{}
	for _, cur := range sortedKeys(net) {
		c, _ := money.Lookup(cur)
		r.Summary.NetDelta = append(r.Summary.NetDelta, NetDelta{Currency: cur, Delta: money.Format(net[cur], c)})
	}
}

func sortedKeys(m map[string]decimal.Decimal) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// adjustments are the entries that move the ledger from before to after:
// one per order line, tier and partner whose net differs, over all tiers.
// They take effect when applied; they become payable no earlier than the
// replayed commission would.
func (r *Result) adjustments(appliedAt time.Time) []ledger.Entry {
	keys := map[shareKey]bool{}
	for k := range r.before {
		keys[k] = true
	}
	for k := range r.after {
		keys[k] = true
	}
	var out []ledger.Entry
	for k := range keys {
		var b, a decimal.Decimal
		var sample ledger.Entry
		if s := r.before[k]; s != nil {
			b, sample = s.net, s.sample
		}
		if s := r.after[k]; s != nil {
			a, sample = s.net, s.sample
		}
		delta := a.Sub(b)
		if delta.IsZero() {
			continue
		}
		c, _ := money.Lookup(sample.Currency)
		e := sample
		e.EntryID = e.OrderID + "/" + e.LineID + "/t" + strconv.Itoa(k.tier) + "/" + k.partner + "/adjusted/" + r.ReplayID
		e.Kind, e.Amount, e.Net = ledger.KindAdjusted, money.Format(delta, c), money.Format(delta, c)
		e.Time, e.ReplayID, e.RefundID, e.PaymentID = appliedAt, r.ReplayID, "", ""
		if e.PayableAt.Before(appliedAt) {
			e.PayableAt = appliedAt
		}
		e.Fact = "replay/" + r.ReplayID
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].EntryID < out[j].EntryID })
	return out
}
