package money

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"

	"github.com/shopspring/decimal"
)

// The largest values refledger accepts, in major units (README, "Limits").
// They are far above what any merchant sells, and small enough that every
// amount the engine derives from them fits in int64 minor units with room.
//
// The proof, in minor units, with m ≤ MaxMinorUnits = 3 (so 10^m ≤ 10^3)
// and 2^63 - 1 ≈ 9.22 × 10^18:
//
//   - a line amount ≤ 10^12 × 10^3 = 10^15; an order of at most 1,000
//     lines (events' maxLines) totals ≤ 10^18; a payment ≤ MaxPayment
//     = 10^15 major ≤ 10^18; a refund of a line ≤ 10^15; a payout ≤ 10^16.
//   - a percentage commission is at most 100 % of its line: ≤ 10^15. Its
//     product amount × rate coefficient (≤ 10^15 × 10^10) is taken in 128
//     bits (scaleHalfEven), never in int64.
//   - a fixed commission is rate × quantity ≤ 10^9 × 10^6 = 10^15 major,
//     ≤ 10^18 minor: the largest single amount, 9.2 times below 2^63. Its
//     product is taken in 128 bits or in decimal.
//   - a proportional share (ShareMinor: a reversal, a payment's part) is
//     total × part / whole with total ≤ 10^18 and part ≤ whole: ≤ total,
//     its product taken in 128 bits.
//   - one share of a line (accrued, reversed, adjusted) never holds more
//     than its full commission, ≤ 10^18.
//
// What is not bounded is how many entries a balance sums: ten fixed
// commissions at the bound already pass 2^63. Every sum across entries
// (a partner's payable and paid in the engine, the balances, statements
// and payout coverage of the projections) therefore adds in a Sum, 128
// bits wide, which holds 2^64 entries of any int64 exactly.
const (
	MaxMinorUnits = 3         // the most digits of any currency's minor unit (a test holds the table to it)
	MaxQuantity   = 1_000_000 // units on one order line
)

// The money bounds are powers of ten, 10^Exp, which lets AtMost judge an
// amount from its digits.
const (
	LineAmountExp = 12 // one order line's amount, and one refund of a line
	FixedRateExp  = 9  // a fixed commission per unit
	PayoutExp     = 13 // one payout
	PaymentExp    = 15 // one payment: an order's largest total, 1,000 lines at MaxLineAmount
)

var (
	MaxLineAmount = decimal.New(1, LineAmountExp)
	MaxFixedRate  = decimal.New(1, FixedRateExp)
	MaxPayout     = decimal.New(1, PayoutExp)
	MaxPayment    = decimal.New(1, PaymentExp)
)

// AtMost checks d ≤ 10^exp and otherwise says so with the bound written
// as an amount of c (with its minor-unit digits), or plainly when c is
// nil. text is d as it was parsed (a plain decimal, not negative): most
// amounts are judged from its digits alone, which costs no allocation
// (decimal comparisons allocate).
func AtMost(text string, d decimal.Decimal, exp int, c *Currency) error {
	bound := decimal.New(1, int32(exp))
	if belowPow10(text, exp) || d.LessThanOrEqual(bound) {
		return nil
	}
	b := bound.String()
	if c != nil {
		b = Format(bound, *c)
	}
	return fmt.Errorf("%q is too large: at most %s", d.String(), b)
}

// belowPow10 reports whether the plain decimal text is surely below
// 10^k: it has at most k integer digits once its leading zeros are gone.
// false means "compare the decimals".
func belowPow10(text string, k int) bool {
	i := 0
	for i < len(text) && text[i] == '0' {
		i++
	}
	digits := 0
	for ; i < len(text) && text[i] >= '0' && text[i] <= '9'; i++ {
		digits++
	}
	return digits <= k && (i == len(text) || text[i] == '.')
}

// Sum adds int64 amounts in 128 bits: exact for any count of entries a
// ledger can hold (up to 2^64 of them), where int64 would wrap silently.
// The zero value is zero.
type Sum struct {
	hi int64
	lo uint64
}

// Add adds n.
func (s *Sum) Add(n int64) {
	var carry uint64
	s.lo, carry = bits.Add64(s.lo, uint64(n), 0)
	s.hi += int64(carry)
	if n < 0 {
		s.hi-- // n sign-extended to 128 bits
	}
}

// Sub subtracts n.
func (s *Sum) Sub(n int64) {
	if n == math.MinInt64 {
		s.Add(math.MaxInt64)
		s.Add(1)
		return
	}
	s.Add(-n)
}

// AddSum adds another sum.
func (s *Sum) AddSum(o Sum) {
	var carry uint64
	s.lo, carry = bits.Add64(s.lo, o.lo, 0)
	s.hi += o.hi + int64(carry)
}

// SubSum subtracts another sum.
func (s *Sum) SubSum(o Sum) {
	var borrow uint64
	s.lo, borrow = bits.Sub64(s.lo, o.lo, 0)
	s.hi -= o.hi + int64(borrow)
}

// Int64 is the sum when it fits in int64.
func (s Sum) Int64() (int64, bool) {
	n := int64(s.lo)
	return n, s.hi == n>>63 // the high half is the sign extension of the low
}

// Clamp is the sum, or the int64 nearest to it when it does not fit.
// Comparing a Clamp with any int64 gives the same answer as comparing the
// sum itself would.
func (s Sum) Clamp() int64 {
	if n, ok := s.Int64(); ok {
		return n
	}
	if s.hi < 0 {
		return math.MinInt64
	}
	return math.MaxInt64
}

// Sign is -1, 0 or +1.
func (s Sum) Sign() int {
	switch {
	case s.hi < 0:
		return -1
	case s.hi == 0 && s.lo == 0:
		return 0
	}
	return 1
}

// Big is the sum as a big.Int.
func (s Sum) Big() *big.Int {
	b := new(big.Int).SetInt64(s.hi)
	b.Lsh(b, 64)
	return b.Add(b, new(big.Int).SetUint64(s.lo))
}

// FormatSum renders a sum of minor units as FormatMinor does, whatever
// its size.
func FormatSum(s Sum, c Currency) string {
	if n, ok := s.Int64(); ok {
		return FormatMinor(n, c)
	}
	return Format(decimal.NewFromBigInt(s.Big(), -c.MinorUnits), c)
}
