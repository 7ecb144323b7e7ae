package replay

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/refledger/refledger/ledger"
	"github.com/refledger/refledger/money"
)

type lineKey struct{ order, line string }

// tierOne is who earns tier 1 on a line, and how much.
type tierOne struct {
	partner  *string
	amount   int64 // minor units
	currency string
}

// tierOnes returns the tier-1 earner of each of the given lines in the
// ledger and in the replay: the partner whose net is not zero (after
// adjustments the old partner's nets to zero).
func tierOnes(m *sharePairs, lines map[lineKey]bool) (ledgerSide, replaySide map[lineKey]tierOne) {
	ledgerSide, replaySide = make(map[lineKey]tierOne, len(lines)), make(map[lineKey]tierOne, len(lines))
	add := func(side map[lineKey]tierOne, lk lineKey, partner string, net int64, currency string) {
		t := side[lk]
		t.currency = currency
		if net != 0 {
			t.partner, t.amount = &partner, t.amount+net
		}
		side[lk] = t
	}
	for _, p := range m.pairs {
		k := p.key
		if k.tier != 1 {
			continue
		}
		lk := lineKey{k.order, k.line}
		if !lines[lk] {
			continue
		}
		if p.inLedger {
			add(ledgerSide, lk, k.partner, p.ledger, p.currency)
		}
		if p.inReplay {
			add(replaySide, lk, k.partner, p.replay, p.currency)
		}
	}
	return ledgerSide, replaySide
}

// compare fills Changes, Totals and Summary from both sides of every share,
// given the shares whose net differs (sharePairs.changed): a line's tier-1
// earner or amount can differ only where one of its tier-1 shares does.
func (r *Result) compare(changed []shareKey, pairs *sharePairs) {
	keys := map[lineKey]bool{}
	for _, k := range changed {
		if k.tier == 1 {
			keys[lineKey{k.order, k.line}] = true
		}
	}
	before, after := tierOnes(pairs, keys)
	r.Changes = []Change{}
	orders := map[string]bool{}
	for k := range keys {
		b, a := before[k], after[k]
		cur := b.currency
		if cur == "" {
			cur = a.currency
		}
		c, _ := money.Lookup(cur)
		if samePartner(b.partner, a.partner) && b.amount == a.amount {
			continue
		}
		r.Changes = append(r.Changes, Change{
			OrderID: k.order, LineID: k.line, PartnerBefore: b.partner, PartnerAfter: a.partner,
			AmountBefore: money.FormatMinor(b.amount, c), AmountAfter: money.FormatMinor(a.amount, c), Currency: cur,
		})
		orders[k.order] = true
	}
	sort.Slice(r.Changes, func(i, j int) bool {
		x, y := r.Changes[i], r.Changes[j]
		return x.OrderID < y.OrderID || x.OrderID == y.OrderID && x.LineID < y.LineID
	})
	r.totals(pairs)
	r.Summary.OrdersChanged = len(orders)
}

func samePartner(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

type partnerCurrency struct{ partner, currency string }

func (r *Result) totals(pairs *sharePairs) {
	type pair struct{ before, after money.Sum } // 128 bits: totals over many orders can pass 2^63
	by := map[partnerCurrency]*pair{}
	for _, s := range pairs.pairs {
		pc := partnerCurrency{s.key.partner, s.currency}
		p := by[pc]
		if p == nil {
			p = &pair{}
			by[pc] = p
		}
		p.before.Add(s.ledger)
		p.after.Add(s.replay)
	}
	keys := make([]partnerCurrency, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].partner < keys[j].partner || keys[i].partner == keys[j].partner && keys[i].currency < keys[j].currency
	})
	r.Totals = []Total{}
	net := map[string]*money.Sum{}
	affected := 0
	for _, k := range keys {
		p := by[k]
		c, _ := money.Lookup(k.currency)
		delta := p.after
		delta.SubSum(p.before)
		r.Totals = append(r.Totals, Total{PartnerID: k.partner, Currency: k.currency, Before: money.FormatSum(p.before, c), After: money.FormatSum(p.after, c), Delta: money.FormatSum(delta, c)})
		if delta.Sign() != 0 {
			affected++
		}
		if net[k.currency] == nil {
			net[k.currency] = &money.Sum{}
		}
		net[k.currency].AddSum(delta)
	}
	r.Summary.PartnersAffected = affected
	r.Summary.NetDelta = []NetDelta{}
	for _, cur := range sortedKeys(net) {
		c, _ := money.Lookup(cur)
		r.Summary.NetDelta = append(r.Summary.NetDelta, NetDelta{Currency: cur, Delta: money.FormatSum(*net[cur], c)})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (m shareSums) net(k shareKey) int64 { return m[k].net }

func (k shareKey) less(o shareKey) bool {
	if k.order != o.order {
		return k.order < o.order
	}
	if k.line != o.line {
		return k.line < o.line
	}
	if k.tier != o.tier {
		return k.tier < o.tier
	}
	return k.partner < o.partner
}

// adjustments are the entries that move the ledger from before to after:
// one per changed share, copying a sample entry of the share (the
// replay's, where it has one; else the ledger's). They take effect when
// applied; they become payable no earlier than the replayed commission
// would.
func (r *Result) adjustments(keys []shareKey, after, before map[shareKey]ledger.Entry, appliedAt time.Time) ([]ledger.Entry, error) {
	var out []ledger.Entry
	for _, k := range keys {
		delta := r.after.net(k) - r.before.net(k)
		e, ok := after[k]
		if !ok {
			e, ok = before[k]
		}
		if !ok {
			return nil, fmt.Errorf("replay %s: no entry of order %s line %s tier %d was found again: are the logs the ones the what-if read?", r.ReplayID, k.order, k.line, k.tier)
		}
		c, _ := money.Lookup(e.Currency)
		e.EntryID = ledger.JoinID(e.OrderID, e.LineID, "t"+strconv.Itoa(k.tier), k.partner, ledger.KindAdjusted, r.ReplayID)
		e.Kind, e.Amount, e.Net = ledger.KindAdjusted, money.FormatMinor(delta, c), money.FormatMinor(delta, c)
		e.Time, e.ReplayID, e.RefundID, e.PaymentID = appliedAt, r.ReplayID, "", ""
		if e.PayableAt.Before(appliedAt) {
			e.PayableAt = appliedAt
		}
		e.Fact = "replay/" + r.ReplayID
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].EntryID < out[j].EntryID })
	return out, nil
}
