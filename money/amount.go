package money

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/shopspring/decimal"
)

// maxIntegerDigits bounds the integer part of any amount we accept: 18
// digits is more than any real order and keeps arithmetic cheap.
const maxIntegerDigits = 18

// maxFractionDigits bounds the fraction of rates and unscaled decimals.
const maxFractionDigits = 8

// ErrNotDecimal is returned when a string is not a plain decimal.
var ErrNotDecimal = errors.New("is not a decimal amount")

// ParseDecimal parses a plain decimal string: an optional minus sign,
// 1..18 integer digits, and optionally a dot and 1..8 fraction digits.
// Exponents, signs other than a leading minus, spaces, NaN and infinities
// are all rejected, so no input can make the parser allocate without bound.
func ParseDecimal(s string) (decimal.Decimal, error) {
	return parseBounded(s, maxFractionDigits)
}

// ParseAmount parses an amount of the currency: a plain decimal with at most
// the currency's minor-unit digits after the dot ("497.00" in USD, "500" in
// JPY). More digits than the currency allows is an error, never a rounding.
func ParseAmount(s string, c Currency) (decimal.Decimal, error) {
	return parseBounded(s, int(c.MinorUnits))
}

func parseBounded(s string, fractionMax int) (decimal.Decimal, error) {
	if err := checkPlainDecimal(s, fractionMax); err != nil {
		return decimal.Decimal{}, err
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%q %w", s, ErrNotDecimal)
	}
	return d, nil
}

func checkPlainDecimal(s string, fractionMax int) error {
	i := 0
	if len(s) > 0 && s[0] == '-' {
		i = 1
	}
	intDigits, fracDigits, dot := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9' && !dot:
			intDigits++
		case c >= '0' && c <= '9':
			fracDigits++
		case c == '.' && !dot:
			dot = true
		default:
			return fmt.Errorf("%q %w", s, ErrNotDecimal)
		}
	}
	switch {
	case intDigits == 0 || (dot && fracDigits == 0):
		return fmt.Errorf("%q %w", s, ErrNotDecimal)
	case intDigits > maxIntegerDigits:
		return fmt.Errorf("%q has more than %d integer digits", s, maxIntegerDigits)
	case fracDigits > fractionMax:
		return fmt.Errorf("%q has %d decimals, more than the %d allowed", s, fracDigits, fractionMax)
	}
	return nil
}

// Round rounds half-even (banker's rounding) to the currency's minor unit.
// It is the only rounding applied to ledger amounts: once per entry. It
// works on the coefficient with cached powers of ten; shopspring's RoundBank
// gives the same results (a test holds them to it) at several times the cost.
func Round(d decimal.Decimal, c Currency) decimal.Decimal {
	places := c.MinorUnits
	if d.Exponent() >= -places {
		return d // no digits below the minor unit: exact already
	}
	pow := pow10(int(-d.Exponent() - places))
	q, r := new(big.Int).QuoRem(d.Coefficient(), pow, new(big.Int))
	r.Abs(r).Lsh(r, 1) // compare twice the remainder with the divisor
	if cmp := r.Cmp(pow); cmp > 0 || (cmp == 0 && q.Bit(0) == 1) {
		if d.Sign() < 0 {
			q.Sub(q, bigOne)
		} else {
			q.Add(q, bigOne)
		}
	}
	return decimal.NewFromBigInt(q, -places)
}

// Format renders an amount rounded half-even with exactly the currency's
// minor-unit digits, the form amounts travel in ("99.40", "500", "1.250").
func Format(d decimal.Decimal, c Currency) string {
	d = Round(d, c)
	places := int(c.MinorUnits)
	coef := d.Coefficient()
	if shift := int(d.Exponent()) + places; shift > 0 {
		coef.Mul(coef, pow10(shift))
	}
	digits := coef.Abs(coef).String()
	if len(digits) <= places {
		digits = strings.Repeat("0", places-len(digits)+1) + digits
	}
	sign := ""
	if d.Sign() < 0 {
		sign = "-"
	}
	if places == 0 {
		return sign + digits
	}
	return sign + digits[:len(digits)-places] + "." + digits[len(digits)-places:]
}

var (
	bigOne = big.NewInt(1)
	// powers holds 10^0 .. 10^63; they are read-only once built.
	powers = func() []*big.Int {
		p := make([]*big.Int, 64)
		p[0] = big.NewInt(1)
		for i := 1; i < len(p); i++ {
			p[i] = new(big.Int).Mul(p[i-1], big.NewInt(10))
		}
		return p
	}()
)

func pow10(n int) *big.Int {
	if n < len(powers) {
		return powers[n]
	}
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// Share returns total × part / whole rounded half-even to the currency: the
// proportional part of total that part of whole stands for. A zero whole
// gives zero. Callers that split a total into several shares should give the
// last share what is left instead (see Split), so that no cent drifts.
func Share(total, part, whole decimal.Decimal, c Currency) decimal.Decimal {
	if whole.IsZero() {
		return decimal.Zero
	}
	// Multiply first so that the only inexact step is the final rounding.
	return Round(total.Mul(part).DivRound(whole, c.MinorUnits+16), c)
}

// Split divides total into parts proportional to weights, each rounded
// half-even, with the last part taking exactly what is left. The parts
// always add up to total. Zero or empty weights give all zeros except that
// the last part takes the whole total.
func Split(total decimal.Decimal, weights []decimal.Decimal, c Currency) []decimal.Decimal {
	parts := make([]decimal.Decimal, len(weights))
	if len(weights) == 0 {
		return parts
	}
	whole := decimal.Zero
	for _, w := range weights {
		whole = whole.Add(w)
	}
	left := total
	for i := 0; i < len(weights)-1; i++ {
		parts[i] = Share(total, weights[i], whole, c)
		left = left.Sub(parts[i])
	}
	parts[len(parts)-1] = left
	return parts
}
