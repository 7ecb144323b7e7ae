package money

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/shopspring/decimal"
)

func mustCurrency(t testing.TB, code string) Currency {
	t.Helper()
	c, err := Lookup(code)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLookupMinorUnits(t *testing.T) {
	for code, want := range map[string]int32{"USD": 2, "EUR": 2, "JPY": 0, "BHD": 3, "KWD": 3, "KRW": 0} {
		if got := mustCurrency(t, code).MinorUnits; got != want {
			t.Errorf("%s minor units = %d, want %d", code, got, want)
		}
	}
	if len(Codes()) < 30 {
		t.Errorf("only %d currencies, want at least 30", len(Codes()))
	}
	for _, bad := range []string{"usd", "XXX", "", "US"} {
		if _, err := Lookup(bad); err == nil {
			t.Errorf("Lookup(%q) succeeded", bad)
		}
	}
}

func TestParseAmount(t *testing.T) {
	usd, jpy, bhd := mustCurrency(t, "USD"), mustCurrency(t, "JPY"), mustCurrency(t, "BHD")
	tests := []struct {
		in      string
		cur     Currency
		want    string
		wantErr string
	}{
		{"497.00", usd, "497", ""},
		{"497", usd, "497", ""},
		{"0.5", usd, "0.5", ""},
		{"-3.25", usd, "-3.25", ""},
		{"500", jpy, "500", ""},
		{"1.250", bhd, "1.25", ""},
		{"497.001", usd, "", "3 decimals, more than the 2 allowed"},
		{"5.5", jpy, "", "1 decimals, more than the 0 allowed"},
		{"1e400", usd, "", "is not a decimal amount"},
		{"1E2", usd, "", "is not a decimal amount"},
		{"NaN", usd, "", "is not a decimal amount"},
		{"Infinity", usd, "", "is not a decimal amount"},
		{"", usd, "", "is not a decimal amount"},
		{" 1.00", usd, "", "is not a decimal amount"},
		{"+1.00", usd, "", "is not a decimal amount"},
		{"1.", usd, "", "is not a decimal amount"},
		{".5", usd, "", "is not a decimal amount"},
		{"1.2.3", usd, "", "is not a decimal amount"},
		{"12.5x", usd, "", "is not a decimal amount"},
		{"-", usd, "", "is not a decimal amount"},
		{"1234567890123456789", usd, "", "more than 18 integer digits"},
	}
	for _, tt := range tests {
		got, err := ParseAmount(tt.in, tt.cur)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseAmount(%q, %s) error = %v, want %q", tt.in, tt.cur.Code, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !got.Equal(decimal.RequireFromString(tt.want)) {
			t.Errorf("ParseAmount(%q, %s) = %v, %v; want %s", tt.in, tt.cur.Code, got, err, tt.want)
		}
	}
}

// TestRoundHalfEven names the rounding used for every ledger entry.
func TestRoundHalfEven(t *testing.T) {
	usd, jpy := mustCurrency(t, "USD"), mustCurrency(t, "JPY")
	tests := []struct {
		in   string
		cur  Currency
		want string
	}{
		{"0.125", usd, "0.12"},
		{"0.135", usd, "0.14"},
		{"0.145", usd, "0.14"},
		{"-0.125", usd, "-0.12"},
		{"2.5", jpy, "2"},
		{"3.5", jpy, "4"},
		{"99.4049", usd, "99.40"},
	}
	for _, tt := range tests {
		got := Format(Round(decimal.RequireFromString(tt.in), tt.cur), tt.cur)
		if got != tt.want {
			t.Errorf("Round(%s, %s) = %s, want %s", tt.in, tt.cur.Code, got, tt.want)
		}
	}
}

func TestParseRateAndCommission(t *testing.T) {
	usd, jpy := mustCurrency(t, "USD"), mustCurrency(t, "JPY")
	tests := []struct {
		rate   string
		amount string
		qty    int64
		cur    Currency
		want   string
	}{
		{"20%", "497.00", 1, usd, "99.40"},
		{"10%", "100.00", 1, usd, "10.00"},
		{"12.5%", "0.20", 1, usd, "0.02"}, // 0.025 half-even -> 0.02
		{"12.5%", "0.28", 1, usd, "0.04"}, // 0.035 half-even -> 0.04
		{"25.00", "999.00", 3, usd, "75.00"},
		{"7.5%", "1000", 1, jpy, "75"},
		{"3.3%", "15", 1, jpy, "0"}, // 0.495 -> 0
	}
	for _, tt := range tests {
		r, err := ParseRate(tt.rate)
		if err != nil {
			t.Fatalf("ParseRate(%q): %v", tt.rate, err)
		}
		got := Format(r.Commission(decimal.RequireFromString(tt.amount), tt.qty, tt.cur), tt.cur)
		if got != tt.want {
			t.Errorf("%s of %s × %d = %s, want %s", tt.rate, tt.amount, tt.qty, got, tt.want)
		}
		back, err := ParseRate(r.String())
		if err != nil || back.Percent != r.Percent || !back.Value.Equal(r.Value) {
			t.Errorf("rate %q does not survive String(): %q, %v", tt.rate, r.String(), err)
		}
	}
	for _, bad := range []string{"", "%", "abc%", "101%", "-1%", "-5.00", "1e3", "12.5 %"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) succeeded", bad)
		}
	}
}

func TestShareAndSplitAddUp(t *testing.T) {
	usd := mustCurrency(t, "USD")
	d := decimal.RequireFromString
	if got := Share(d("99.40"), d("248.50"), d("497.00"), usd); !got.Equal(d("49.70")) {
		t.Errorf("half of 99.40 = %s, want 49.70", got)
	}
	if got := Share(d("10"), d("1"), d("0"), usd); !got.IsZero() {
		t.Errorf("share of zero whole = %s, want 0", got)
	}
	total := d("100.00")
	parts := Split(total, []decimal.Decimal{d("1"), d("1"), d("1")}, usd)
	sum := decimal.Zero
	for _, p := range parts {
		sum = sum.Add(p)
	}
	if !sum.Equal(total) || !parts[0].Equal(d("33.33")) || !parts[2].Equal(d("33.34")) {
		t.Errorf("Split(100, 1:1:1) = %v (sum %s)", parts, sum)
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"497.00", "1e9", "-0.01", "NaN", "99999999999999999.99", "0.000"} {
		f.Add(s)
	}
	usd := Currency{Code: "USD", MinorUnits: 2}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseAmount(s, usd)
		if err != nil {
			return
		}
		// Whatever parses must survive a round trip through its wire form.
		back, err := ParseAmount(Format(d, usd), usd)
		if err != nil || !back.Equal(d) {
			t.Fatalf("round trip of %q: %v, %v", s, back, err)
		}
	})
}

// TestRoundAndFormatMatchShopspring holds the fast rounding to shopspring's
// RoundBank and StringFixedBank over many amounts and scales.
func TestRoundAndFormatMatchShopspring(t *testing.T) {
	cases := []string{"0", "0.5", "1.5", "2.5", "-2.5", "0.125", "0.135", "-0.125", "99.4049", "99.405", "99.415", "1e3", "123456789.123456789", "-0.004", "0.005", "0.015", "10", "1E-20", "5E-3"}
	for _, cur := range []Currency{{"JPY", 0}, {"USD", 2}, {"BHD", 3}} {
		for _, s := range cases {
			d := decimal.RequireFromString(s)
			if got, want := Round(d, cur), d.RoundBank(cur.MinorUnits); !got.Equal(want) {
				t.Errorf("Round(%s, %s) = %s, want %s", s, cur.Code, got, want)
			}
			if got, want := Format(d, cur), d.StringFixedBank(cur.MinorUnits); got != want {
				t.Errorf("Format(%s, %s) = %q, want %q", s, cur.Code, got, want)
			}
		}
	}
}

func FuzzRoundMatchesShopspring(f *testing.F) {
	f.Add(int64(12345), int32(-3), uint8(2))
	f.Add(int64(-25), int32(-1), uint8(0))
	f.Fuzz(func(t *testing.T, coef int64, exp int32, places uint8) {
		if exp < -30 || exp > 30 {
			return
		}
		cur := Currency{Code: "X", MinorUnits: int32(places % 4)}
		d := decimal.New(coef, exp)
		if got, want := Round(d, cur), d.RoundBank(cur.MinorUnits); !got.Equal(want) {
			t.Fatalf("Round(%s, %d) = %s, want %s", d, cur.MinorUnits, got, want)
		}
		if got, want := Format(d, cur), d.StringFixedBank(cur.MinorUnits); got != want {
			t.Fatalf("Format(%s, %d) = %q, want %q", d, cur.MinorUnits, got, want)
		}
	})
}

// Lookup hands out the table's own code: not the caller's bytes, and the
// same bytes for every lookup of one code.
func TestLookupKeepsNoCallersBytes(t *testing.T) {
	given := []byte("EUR")
	a, err := Lookup(string(given))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Lookup(string([]byte("EUR")))
	if a.Code != "EUR" || unsafe.StringData(a.Code) != unsafe.StringData(b.Code) {
		t.Errorf("two lookups of EUR gave codes at %p and %p", unsafe.StringData(a.Code), unsafe.StringData(b.Code))
	}
}
