package synth

import (
	"testing"

	"github.com/refledger/refledger/events"
)

// TestGeneratedFactsAreValid checks a small history fact by fact against
// the codec's rules, and that the counts add up.
func TestGeneratedFactsAreValid(t *testing.T) {
	cfg := Standard().Scaled(20_000)
	n := 0
	types := map[string]int{}
	Generate(cfg, func(f events.Fact) {
		n++
		types[f.Type]++
		if err := events.Validate(f); err != nil {
			t.Fatalf("fact %d (%s) is invalid: %v", n, f.Type, err)
		}
	})
	if n != cfg.Total() {
		t.Errorf("generated %d facts, Total says %d", n, cfg.Total())
	}
	if types[events.TypeClickRecorded] < cfg.Clicks || types[events.TypeOrderPlaced] != cfg.Orders {
		t.Errorf("counts by type: %v for %+v", types, cfg)
	}
}
