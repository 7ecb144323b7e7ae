package money

import (
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// Rate is a commission rate: a percentage of a line amount ("12.5%") or a
// fixed amount per unit in the order's currency ("25.00").
type Rate struct {
	Percent bool
	Value   decimal.Decimal
	text    string // the form it was parsed from, so String costs nothing
	// Value as coef × 10^exp, when coef fits in 64 bits: CommissionMinor
	// then works in integers.
	coef  int64
	exp   int32
	exact bool
}

// withInts fills in the integer form of the rate's value.
func (r Rate) withInts() Rate {
	if c := r.Value.Coefficient(); c.IsInt64() && c.Sign() >= 0 {
		r.coef, r.exp, r.exact = c.Int64(), r.Value.Exponent(), true
	}
	return r
}

var hundred = decimal.NewFromInt(100)

// ParseRate parses "12.5%" (percent, 0..100) or "25.00" (fixed per unit, 0
// to MaxFixedRate). Neither form accepts exponents, spaces or more than 8 decimals.
func ParseRate(s string) (Rate, error) {
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		v, err := ParseDecimal(pct)
		if err != nil {
			return Rate{}, fmt.Errorf("%q is not a rate: want \"12.5%%\" or \"25.00\"", s)
		}
		if v.IsNegative() || v.GreaterThan(hundred) {
			return Rate{}, fmt.Errorf("%q is not a rate: a percentage must be between 0%% and 100%%", s)
		}
		return Rate{Percent: true, Value: v, text: s}.withInts(), nil
	}
	v, err := ParseDecimal(s)
	if err != nil {
		return Rate{}, fmt.Errorf("%q is not a rate: want \"12.5%%\" or \"25.00\"", s)
	}
	if v.IsNegative() {
		return Rate{}, fmt.Errorf("%q is not a rate: a fixed rate cannot be negative", s)
	}
	if v.GreaterThan(MaxFixedRate) {
		return Rate{}, fmt.Errorf("%q is not a rate: a fixed rate is at most %s per unit", s, MaxFixedRate)
	}
	return Rate{Value: v, text: s}.withInts(), nil
}

// String renders the rate in the form ParseRate reads: as it was written
// when it was parsed.
func (r Rate) String() string {
	if r.text != "" {
		return r.text
	}
	if r.Percent {
		return r.Value.String() + "%"
	}
	return r.Value.String()
}

// Commission applies the rate to a line: rate × amount for a percentage,
// rate × quantity for a fixed rate, rounded half-even to the currency. This
// is the one rounding of an accrued commission entry.
func (r Rate) Commission(amount decimal.Decimal, quantity int64, c Currency) decimal.Decimal {
	if r.Percent {
		// Dividing by 100 is a shift of the exponent: exact, and cheap.
		return Round(amount.Mul(r.Value).Shift(-2), c)
	}
	return Round(r.Value.Mul(decimal.NewFromInt(quantity)), c)
}
