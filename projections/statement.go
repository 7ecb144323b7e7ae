package projections

import (
	"sort"
	"time"

	"github.com/refledger/refledger/ledger"
	"github.com/refledger/refledger/money"
)

// Statement is a partner's account in one currency over [From, To): what
// was owed at the start, what moved, and what is owed at the end. Owed is
// commission earned net of reversals and adjustments, less payouts. A
// statement with no start (From nil, JSON null) runs from the partner's
// first entry: its opening is zero.
type Statement struct {
	PartnerID string         `json:"partner_id"`
	Currency  string         `json:"currency"`
	From      *time.Time     `json:"from"`
	To        time.Time      `json:"to"`
	Opening   string         `json:"opening"`
	Accrued   string         `json:"accrued"`
	Reversed  string         `json:"reversed"`
	Adjusted  string         `json:"adjusted"`
	Paid      string         `json:"paid"`
	Closing   string         `json:"closing"`
	Entries   []ledger.Entry `json:"entries"`
}

// Statements returns one statement per currency the partner has entries
// in; a zero from means from the first entry.
func (l *Ledger) Statements(partner string, from, to time.Time) []Statement {
	l.mu.RLock()
	defer l.mu.RUnlock()
	type acc struct {
		opening, accrued, reversed, adjusted, paid money.Sum // minor units, in 128 bits
		entries                                    []ledger.Entry
	}
	by := map[string]*acc{}
	for _, i := range l.byPartner[partner] {
		e := l.entries.At(i)
		if !e.Time.Before(to) {
			continue
		}
		a := by[e.Currency]
		if a == nil {
			a = &acc{}
			by[e.Currency] = a
		}
		net := minorOf(e.Net, e.Currency)
		if e.Time.Before(from) {
			a.opening.Add(net)
			continue
		}
		a.entries = append(a.entries, e)
		switch e.Kind {
		case ledger.KindAccrued:
			a.accrued.Add(net)
		case ledger.KindReversed:
			a.reversed.Sub(net)
		case ledger.KindAdjusted:
			a.adjusted.Add(net)
		case ledger.KindPaid:
			a.paid.Sub(net)
		}
	}
	var start *time.Time
	if !from.IsZero() {
		start = &from
	}
	out := []Statement{}
	for cur, a := range by {
		c, err := money.Lookup(cur)
		if err != nil {
			c = money.Currency{Code: cur} // never written by the engine; its amounts counted as nothing
		}
		f := func(n money.Sum) string { return money.FormatSum(n, c) }
		closing := a.opening
		closing.AddSum(a.accrued)
		closing.SubSum(a.reversed)
		closing.AddSum(a.adjusted)
		closing.SubSum(a.paid)
		if a.entries == nil {
			a.entries = []ledger.Entry{}
		}
		out = append(out, Statement{
			PartnerID: partner, Currency: cur, From: start, To: to, Opening: f(a.opening), Accrued: f(a.accrued),
			Reversed: f(a.reversed), Adjusted: f(a.adjusted), Paid: f(a.paid), Closing: f(closing), Entries: a.entries,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out
}
