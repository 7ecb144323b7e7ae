package money

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

// TestBoundsProof checks the proof in limits.go with exact arithmetic: the
// worst case of every amount the engine holds in one int64 stays below
// 2^63 with room, for the currency with the most minor-unit digits.
func TestBoundsProof(t *testing.T) {
	for code, units := range currencies {
		if units > MaxMinorUnits {
			t.Errorf("%s has %d minor-unit digits, more than MaxMinorUnits (%d) the bounds are proved for", code, units, MaxMinorUnits)
		}
	}
	const maxLines = 1000 // events' maxLines
	minor := decimal.New(1, MaxMinorUnits)
	limit := decimal.NewFromInt(math.MaxInt64)
	for _, c := range []struct {
		what string
		v    decimal.Decimal
	}{
		{"a line amount", MaxLineAmount.Mul(minor)},
		{"an order's total", MaxLineAmount.Mul(minor).Mul(decimal.NewFromInt(maxLines))},
		{"a payment", MaxPayment.Mul(minor)},
		{"a payout", MaxPayout.Mul(minor)},
		{"a percentage commission (100 % of a line)", MaxLineAmount.Mul(minor)},
		{"a fixed commission", MaxFixedRate.Mul(decimal.NewFromInt(MaxQuantity)).Mul(minor)},
	} {
		// Room: each is at least 9 times below 2^63.
		if c.v.Mul(decimal.NewFromInt(9)).GreaterThan(limit) {
			t.Errorf("%s can reach %s minor units: not 9 times below 2^63", c.what, c.v)
		}
	}
	if MaxPayment.LessThan(MaxLineAmount.Mul(decimal.NewFromInt(maxLines))) {
		t.Error("a payment of an order's largest total would be rejected")
	}
}

func TestParseMinorNeverWraps(t *testing.T) {
	usd, _ := Lookup("USD")
	for _, s := range []string{"92233720368547758.08", "184467440737095517.16", "999999999999999999", "-92233720368547758.09"} {
		if n, err := ParseMinor(s, usd); err == nil {
			t.Errorf("ParseMinor(%q) = %d, want an error: it does not fit", s, n)
		}
	}
	if n, err := ParseMinor("92233720368547758.07", usd); err != nil || n != math.MaxInt64 {
		t.Errorf("the largest amount that fits: %d, %v", n, err)
	}
}

func TestFixedRateBound(t *testing.T) {
	if _, err := ParseRate("1000000000"); err != nil {
		t.Error(err)
	}
	if _, err := ParseRate("1000000000.00000001"); err == nil {
		t.Error("a fixed rate past the bound was accepted")
	}
}

// TestSumIsExact holds Sum to big.Int over seeded runs of amounts at the
// extremes of int64, where int64 sums wrap.
func TestSumIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 4))
	usd, _ := Lookup("USD")
	for run := range 200 {
		var s Sum
		want := new(big.Int)
		for range r.IntN(50) {
			n := r.Int64()
			switch r.IntN(4) {
			case 0:
				n = -n
			case 1:
				n = math.MaxInt64
			case 2:
				n = math.MinInt64
			}
			if r.IntN(3) == 0 {
				s.Sub(n)
				want.Sub(want, big.NewInt(n))
			} else {
				s.Add(n)
				want.Add(want, big.NewInt(n))
			}
		}
		if s.Big().Cmp(want) != 0 {
			t.Fatalf("run %d: sum %s, want %s", run, s.Big(), want)
		}
		if s.Sign() != want.Sign() {
			t.Fatalf("run %d: sign %d, want %d", run, s.Sign(), want.Sign())
		}
		n, ok := s.Int64()
		if ok != want.IsInt64() || ok && n != want.Int64() {
			t.Fatalf("run %d: Int64 %d %v, want %s", run, n, ok, want)
		}
		if got, want := FormatSum(s, usd), Format(decimal.NewFromBigInt(want, -2), usd); got != want {
			t.Fatalf("run %d: FormatSum %s, want %s", run, got, want)
		}
		var d Sum
		d.AddSum(s)
		d.SubSum(s)
		if d.Sign() != 0 {
			t.Fatalf("run %d: s - s = %s", run, d.Big())
		}
	}
}
