package money

import (
	"math/big"
	"math/bits"
	"strconv"

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
// as Format does.
func FormatMinor(n int64, c Currency) string {
	places := int(c.MinorUnits)
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	digits := strconv.FormatUint(u, 10)
	for len(digits) <= places {
		digits = "0" + digits
	}
	out := digits
	if places > 0 {
		out = digits[:len(digits)-places] + "." + digits[len(digits)-places:]
	}
	if neg {
		return "-" + out
	}
	return out
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
// quantity in, the rounded commission out.
func (r Rate) CommissionMinor(amountMinor, quantity int64, c Currency) int64 {
	return ToMinor(r.Commission(FromMinor(amountMinor, c), quantity, c), c)
}
