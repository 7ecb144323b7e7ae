package money

import (
	"math"
	"testing"
)

// TestMinorMatchesDecimal holds the minor-unit helpers to the decimal ones.
func TestMinorMatchesDecimal(t *testing.T) {
	for _, c := range []Currency{{"JPY", 0}, {"USD", 2}, {"BHD", 3}} {
		for _, n := range []int64{0, 1, 5, 99, 100, 12345, -7, -12345, math.MaxInt64 / 10} {
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
