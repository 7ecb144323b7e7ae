package projections

import (
	"sort"
	"time"

	"github.com/refledger/refledger/ledger"
	"github.com/refledger/refledger/money"
)

// Statement is a partner's account in one currency over [From, To): what
// was owed at the start, what moved, and what is owed at the end. Owed is
// commission earned net of reversals and adjustments, less payouts.
type Statement struct {
	PartnerID string         `json:"partner_id"`
	Currency  string         `json:"currency"`
	From      time.Time      `json:"from"`
	To        time.Time      `json:"to"`
	Opening   string         `json:"opening"`
	Accrued   string         `json:"accrued"`
	Reversed  string         `json:"reversed"`
	Adjusted  string         `json:"adjusted"`
	Paid      string         `json:"paid"`
	Closing   string         `json:"closing"`
	Entries   []ledger.Entry `json:"entries"`
}

// Statements returns one statement per currency the partner has entries in.
func (l *Ledger) Statements(partner string, from, to time.Time) []Statement {
	l.mu.RLock()
	defer l.mu.RUnlock()
	type acc struct {
		opening, accrued, reversed, adjusted, paid int64 // minor units
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
			a.opening += net
			continue
		}
		a.entries = append(a.entries, e)
		switch e.Kind {
		case ledger.KindAccrued:
			a.accrued += net
		case ledger.KindReversed:
			a.reversed -= net
		case ledger.KindAdjusted:
			a.adjusted += net
		case ledger.KindPaid:
			a.paid -= net
		}
	}
	out := []Statement{}
	for cur, a := range by {
		c, err := money.Lookup(cur)
		if err != nil {
			c = money.Currency{Code: cur} // never written by the engine; its amounts counted as nothing
		}
		f := func(n int64) string { return money.FormatMinor(n, c) }
		closing := a.opening + a.accrued - a.reversed + a.adjusted - a.paid
		if a.entries == nil {
			a.entries = []ledger.Entry{}
		}
		out = append(out, Statement{
			PartnerID: partner, Currency: cur, From: from, To: to, Opening: f(a.opening), Accrued: f(a.accrued),
			Reversed: f(a.reversed), Adjusted: f(a.adjusted), Paid: f(a.paid), Closing: f(closing), Entries: a.entries,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out
}
