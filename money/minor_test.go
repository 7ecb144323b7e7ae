package money

import (
	"math"
	"testing"
)

// TestMinorMatchesDecimal holds the minor-unit helpers to the decimal ones.
func TestMinorMatchesDecimal(t *testing.T) {
	for _, c := range []Currency{{"JPY", 0}, {"USD", 2}, {"BHD", 3}} {
		for _, n := range []int64{0, 1, 5, 99, 100, 12345, -7, -12345, math.MaxInt64 / 10, math.MaxInt64, math.MinInt64 + 1, 10, 1000} {
			if got, want := FormatMinor(n, c), Format(FromMinor(n, c), c); got != want {
				t.Errorf("FormatMinor(%d, %s) = %q, want %q", n, c.Code, got, want)
			}
			if back := ToMinor(FromMinor(n, c), c); back != n {
				t.Errorf("ToMinor(FromMinor(%d)) = %d", n, back)
			}
		}
	}
	usd := Currency{"USD", 2}
	for _, tc := range [][3]int64{{9940, 24850, 49700}, {2000, 3333, 10000}, {1, 1, 2}, {3, 1, 2}, {5, 1, 2}, {1000, 0, 5}, {7, 3, 0}, {math.MaxInt64 / 2, math.MaxInt64 / 3, 7}} {
		total, part, whole := tc[0], tc[1], tc[2]
		want := ToMinor(Share(FromMinor(total, usd), FromMinor(part, usd), FromMinor(whole, usd), usd), usd)
		if whole == 0 {
			want = 0
		}
		if got := ShareMinor(total, part, whole); got != want {
			t.Errorf("ShareMinor(%d, %d, %d) = %d, want %d", total, part, whole, got, want)
		}
	}
}

// FuzzFormatMinor holds FormatMinor to the decimal Format for every
// amount and scale a currency may have.
func FuzzFormatMinor(f *testing.F) {
	f.Add(int64(12345), uint8(2))
	f.Add(int64(-7), uint8(3))
	f.Add(int64(math.MinInt64), uint8(0))
	f.Fuzz(func(t *testing.T, n int64, places uint8) {
		c := Currency{"XXX", int32(places % 5)}
		if got, want := FormatMinor(n, c), Format(FromMinor(n, c), c); got != want {
			t.Fatalf("FormatMinor(%d, %d places) = %q, want %q", n, c.MinorUnits, got, want)
		}
	})
}

func FuzzShareMinor(f *testing.F) {
	f.Add(int64(9940), int64(24850), int64(49700))
	f.Fuzz(func(t *testing.T, total, part, whole int64) {
		if total <= 0 || part <= 0 || whole <= 0 || total > 1e15 || part > 1e15 || whole > 1e15 {
			return
		}
		usd := Currency{"USD", 2}
		want := ToMinor(Share(FromMinor(total, usd), FromMinor(part, usd), FromMinor(whole, usd), usd), usd)
		if got := ShareMinor(total, part, whole); got != want {
			t.Fatalf("ShareMinor(%d, %d, %d) = %d, want %d", total, part, whole, got, want)
		}
	})
}

// commissionByDecimal is CommissionMinor the slow way, for comparison.
func commissionByDecimal(r Rate, amountMinor, quantity int64, c Currency) int64 {
	return ToMinor(r.Commission(FromMinor(amountMinor, c), quantity, c), c)
}

func TestCommissionMinorMatchesDecimal(t *testing.T) {
	rates := []string{"0%", "100%", "12.5%", "7%", "33.33333333%", "0.00000001%", "0", "25.00", "0.005", "3", "1234567.12345678", "0.00000001"}
	amounts := []int64{0, 1, 5, 15, 25, 35, 99, 100, 12345, 49700, 1e12, math.MaxInt64 / 100}
	for _, c := range []Currency{{"JPY", 0}, {"USD", 2}, {"BHD", 3}} {
		for _, text := range rates {
			r, err := ParseRate(text)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range amounts {
				for _, q := range []int64{0, 1, 3, 1000} {
					if got, want := r.CommissionMinor(a, q, c), commissionByDecimal(r, a, q, c); got != want {
						t.Errorf("%s of %d (×%d) in %s = %d, want %d", text, a, q, c.Code, got, want)
					}
				}
			}
		}
	}
}

func FuzzCommissionMinor(f *testing.F) {
	f.Add("12.5%", int64(49700), int64(1), uint8(2))
	f.Add("0.005", int64(0), int64(7), uint8(2))
	f.Fuzz(func(t *testing.T, text string, amount, quantity int64, units uint8) {
		r, err := ParseRate(text)
		if err != nil || amount < 0 || quantity < 0 || amount > 1e15 || quantity > 1e6 {
			return
		}
		c := Currency{"X", int32(units % 4)}
		if got, want := r.CommissionMinor(amount, quantity, c), commissionByDecimal(r, amount, quantity, c); got != want {
			t.Fatalf("%s of %d (×%d), %d places = %d, want %d", text, amount, quantity, c.MinorUnits, got, want)
		}
	})
}

func FuzzParseMinor(f *testing.F) {
	for _, s := range []string{"497.00", "0", "0.5", "00.5", "12.345", "-3.10", "1e3", ".5", "5.", "999999999999999999", "12345678901234567.89", ""} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, s string, units uint8) {
		c := Currency{"X", int32(units % 4)}
		got, err := ParseMinor(s, c)
		d, werr := ParseAmount(s, c)
		if werr == nil && !d.Shift(c.MinorUnits).BigInt().IsInt64() {
			// Past int64 minor units: ParseMinor says so rather than wrap.
			if err == nil {
				t.Fatalf("ParseMinor(%q, %d places) = %d, want an error: it does not fit", s, c.MinorUnits, got)
			}
			return
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("ParseMinor(%q) error %v, ParseAmount error %v", s, err, werr)
		}
		if err == nil && got != ToMinor(d, c) {
			t.Fatalf("ParseMinor(%q, %d places) = %d, want %d", s, c.MinorUnits, got, ToMinor(d, c))
		}
	})
}
