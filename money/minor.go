package money

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"

	"github.com/shopspring/decimal"
)

// Minor units: the ledger's hot path keeps amounts as int64 counts of the
// currency's minor unit (cents for USD, yen for JPY, fils for BHD), which
// cost no allocation. Decimals stay at the edges: parsing, rates, and the
// one rounding of each commission.

// ToMinor converts an amount with no more decimals than the currency allows
// (a parsed or rounded amount) into minor units.
func ToMinor(d decimal.Decimal, c Currency) int64 {
	return d.Shift(c.MinorUnits).IntPart()
}

// FromMinor is the decimal amount of n minor units.
func FromMinor(n int64, c Currency) decimal.Decimal {
	return decimal.New(n, -c.MinorUnits)
}

// FormatMinor renders n minor units with exactly the currency's digits,
// as Format does. It makes one allocation, the string itself.
func FormatMinor(n int64, c Currency) string {
	var buf [40]byte // "-9223372036854775808" with any point and leading zeros fits
	return string(AppendMinor(buf[:0], n, c))
}

// AppendMinor appends FormatMinor(n, c) to b.
func AppendMinor(b []byte, n int64, c Currency) []byte {
	places := int(c.MinorUnits)
	u := uint64(n)
	if n < 0 {
		b = append(b, '-')
		u = -u // the two's complement of MinInt64 is its own magnitude
	}
	var digits [32]byte // the decimal digits of u, at least places+1 of them (a currency has at most 4 places)
	i := len(digits)
	for u > 0 || i > len(digits)-places-1 {
		i--
		digits[i] = byte('0' + u%10)
		u /= 10
	}
	whole := len(digits) - places
	b = append(b, digits[i:whole]...)
	if places > 0 {
		b = append(b, '.')
		b = append(b, digits[whole:]...)
	}
	return b
}

// ShareMinor is total × part / whole rounded half-even, for amounts that
// are not negative: the proportional part of total that part of whole
// stands for. A zero whole gives zero. It multiplies in 128 bits, so no
// product overflows.
func ShareMinor(total, part, whole int64) int64 {
	if whole <= 0 || total <= 0 || part <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(total), uint64(part))
	if hi >= uint64(whole) {
		return shareBig(total, part, whole)
	}
	q, r := bits.Div64(hi, lo, uint64(whole))
	// Half-even: compare twice the remainder with the divisor.
	twice := r << 1
	if r>>63 == 1 || twice > uint64(whole) || (twice == uint64(whole) && q&1 == 1) {
		q++
	}
	return int64(q)
}

// shareBig is ShareMinor for quotients past 64 bits (never for real money,
// but the arithmetic must hold anyway).
func shareBig(total, part, whole int64) int64 {
	p := new(big.Int).Mul(big.NewInt(total), big.NewInt(part))
	q, r := new(big.Int).QuoRem(p, big.NewInt(whole), new(big.Int))
	r.Lsh(r, 1)
	if c := r.Cmp(big.NewInt(whole)); c > 0 || (c == 0 && q.Bit(0) == 1) {
		q.Add(q, bigOne)
	}
	return q.Int64()
}

// CommissionMinor is Commission on minor units: the line's amount and
// quantity in, the rounded commission out. It is the same rounding
// (half-even, once) done in integers: a percentage coef×10^exp of an
// amount in minor units is amount×coef / 10^(2-exp); a fixed rate per unit
// is coef×quantity×10^(exp+minor units). Whatever does not fit takes the
// decimal path.
func (r Rate) CommissionMinor(amountMinor, quantity int64, c Currency) int64 {
	if r.exact {
		if r.Percent && amountMinor >= 0 {
			if n, ok := scaleHalfEven(amountMinor, r.coef, 2-int(r.exp)); ok {
				return n
			}
		} else if !r.Percent && quantity >= 0 {
			if n, ok := scaleHalfEven(r.coef, quantity, -int(r.exp)-int(c.MinorUnits)); ok {
				return n
			}
		}
	}
	return ToMinor(r.Commission(FromMinor(amountMinor, c), quantity, c), c)
}

// powersOf10 holds 10^0 .. 10^18.
var powersOf10 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// scaleHalfEven is a×b / 10^k rounded half-even (a×b×10^-k when k is
// negative), for a and b not negative; ok is false when it does not fit.
func scaleHalfEven(a, b int64, k int) (int64, bool) {
	switch {
	case a == 0 || b == 0:
		return 0, true
	case k >= 0 && k < len(powersOf10):
		if hi, _ := bits.Mul64(uint64(a), uint64(b)); hi >= uint64(powersOf10[k]) {
			return 0, false // the quotient would not fit
		}
		return ShareMinor(a, b, powersOf10[k]), true
	case k < 0 && -k < len(powersOf10):
		hi, lo := bits.Mul64(uint64(a), uint64(b))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		hi, lo = bits.Mul64(lo, uint64(powersOf10[-k]))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		return int64(lo), true
	}
	return 0, false
}

// ParseMinor is ToMinor(ParseAmount(s, c)): the amount in minor units,
// read straight from the digits when s is plain ("497.00", "-3.10"), and
// through ParseAmount (with its errors) otherwise.
func ParseMinor(s string, c Currency) (int64, error) {
	if len(s) > 1 && s[0] == '-' && s[1] != '-' {
		n, err := ParseMinor(s[1:], c)
		return -n, err
	}
	places := int(c.MinorUnits)
	var n int64
	digits, frac, dot := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch >= '0' && ch <= '9' && digits < 18:
			n = n*10 + int64(ch-'0')
			digits++
			if dot {
				frac++
			}
		case ch == '.' && !dot && digits > 0 && i < len(s)-1:
			dot = true
		default:
			return parseMinorSlowly(s, c)
		}
	}
	if digits == 0 || frac > places || (digits-frac > 1 && s[0] == '0') {
		return parseMinorSlowly(s, c)
	}
	if pow := powersOf10[places-frac]; n > math.MaxInt64/pow {
		return parseMinorSlowly(s, c) // it does not fit: the error says so
	}
	return n * powersOf10[places-frac], nil
}

var (
	maxMinor = decimal.NewFromInt(math.MaxInt64)
	minMinor = decimal.NewFromInt(math.MinInt64)
)

func parseMinorSlowly(s string, c Currency) (int64, error) {
	d, err := ParseAmount(s, c)
	if err != nil {
		return 0, err
	}
	if m := d.Shift(c.MinorUnits); m.GreaterThan(maxMinor) || m.LessThan(minMinor) {
		// Validation bounds every amount far below this; an amount stored
		// before the bounds existed must still never wrap.
		return 0, fmt.Errorf("%q is too large for %s minor units", s, c.Code)
	}
	return ToMinor(d, c), nil
}
