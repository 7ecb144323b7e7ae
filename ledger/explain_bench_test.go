package ledger

import (
	"testing"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/internal/synth"
)

// BenchmarkExplain decides the orders of a synthetic history (a fortieth
// of the standard one) again and again over the state the whole history
// leaves, and puts each decision into words: explain-ns/order is the cost
// of the words alone, beside decide-ns/order, the decision they describe,
// measured in the same run. It isolates what the full fold spends on
// explanations from the noise of a fold of millions of facts.
func BenchmarkExplain(b *testing.B) {
	e := NewEngine(nil)
	e.StateOnly()
	var buyers []Buyer
	synth.Generate(synth.Standard().Scaled(40), func(f events.Fact) {
		e.Apply(f, nil)
		if d, ok := f.Data.(*events.OrderPlaced); ok {
			buyers = append(buyers, Buyer{OrderTime: f.Time, VisitorID: d.VisitorID, ContactID: d.ContactID})
		}
	})
	s, p := e.State(), DefaultPolicy()
	var sc scratch
	decideOnly, words := 0.0, 0.0
	for b.Loop() {
		start := b.Elapsed()
		for _, by := range buyers {
			s.decide(&by, &p, &sc)
		}
		mid := b.Elapsed()
		for _, by := range buyers {
			d := s.decide(&by, &p, &sc)
			s.explain(&d, &by)
		}
		decideOnly += float64(mid - start)
		words += float64(b.Elapsed() - mid - (mid - start))
	}
	n := float64(b.N * len(buyers))
	b.ReportMetric(decideOnly/n, "decide-ns/order")
	b.ReportMetric(words/n, "explain-ns/order")
}
