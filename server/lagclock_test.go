package server

import (
	"testing"
	"time"
)

// The ledger's lag in facts and seconds: commits read wait until the
// ledger folds through them; the oldest waiting one gives the age; past
// lagMarksMax marks, commits join the newest mark and the age stays right.
func TestLagClock(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var c lagClock
	if c.facts(0) != 0 || c.age(0, t0) != 0 {
		t.Fatal("an empty clock lags")
	}
	c.saw(1, 3, 0, t0)
	c.saw(2, 5, 0, t0.Add(time.Second))
	c.saw(3, 1, 0, t0.Add(2*time.Second))
	for _, tt := range []struct {
		folded uint64
		facts  uint64
		age    time.Duration
	}{
		{0, 9, 10 * time.Second},
		{1, 6, 9 * time.Second},
		{2, 1, 8 * time.Second},
		{3, 0, 0},
	} {
		if got := c.facts(tt.folded); got != tt.facts {
			t.Errorf("folded through %d: %d facts wait, want %d", tt.folded, got, tt.facts)
		}
		if got := c.age(tt.folded, t0.Add(10*time.Second)); got != tt.age {
			t.Errorf("folded through %d: waited %s, want %s", tt.folded, got, tt.age)
		}
	}

	var full lagClock
	for p := uint64(1); p <= lagMarksMax+10; p++ {
		full.saw(p, 1, 0, t0.Add(time.Duration(p)*time.Millisecond))
	}
	if len(full.marks) != lagMarksMax {
		t.Fatalf("%d marks, want at most %d", len(full.marks), lagMarksMax)
	}
	if got := full.facts(0); got != lagMarksMax+10 {
		t.Errorf("%d facts wait, want %d", got, lagMarksMax+10)
	}
	if got := full.age(lagMarksMax-1, t0.Add(time.Hour)); got != time.Hour-lagMarksMax*time.Millisecond {
		t.Errorf("the newest mark's age: %s", got)
	}
	if got := full.facts(lagMarksMax + 10); got != 0 {
		t.Errorf("folded through all: %d facts wait", got)
	}
}
