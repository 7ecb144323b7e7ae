package money

import (
	"fmt"
	"sort"
)

// Currency is an ISO 4217 currency and the number of digits of its minor unit.
type Currency struct {
	Code       string
	MinorUnits int32
}

// currencies lists ISO 4217 codes with their minor units. It covers the
// most traded currencies and the three-decimal dinars; add to it freely,
// never change an existing minor unit (stored amounts depend on it).
var currencies = map[string]int32{
	"AED": 2, "ARS": 2, "AUD": 2, "BGN": 2, "BHD": 3, "BRL": 2, "CAD": 2,
	"CHF": 2, "CLP": 0, "CNY": 2, "COP": 2, "CZK": 2, "DKK": 2, "EGP": 2,
	"EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2,
	"ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "LYD": 3, "MXN": 2,
	"MYR": 2, "NGN": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PEN": 2, "PHP": 2,
	"PKR": 2, "PLN": 2, "QAR": 2, "RON": 2, "RUB": 2, "SAR": 2, "SEK": 2,
	"SGD": 2, "THB": 2, "TND": 3, "TRY": 2, "TWD": 2, "UAH": 2, "USD": 2,
	"VND": 0, "ZAR": 2,
}

// byCode is currencies with each Code the table's own string.
var byCode = func() map[string]Currency {
	m := make(map[string]Currency, len(currencies))
	for code, units := range currencies {
		m[code] = Currency{Code: code, MinorUnits: units}
	}
	return m
}()

// Lookup returns the currency for an ISO 4217 code. Codes are case
// sensitive: "usd" is not a currency code. The Code it returns is the
// table's own string, never the one given: it keeps no caller's memory
// alive (a decoded fact's), and two currencies of one code share their
// bytes, so comparing them never reads memory.
func Lookup(code string) (Currency, error) {
	c, ok := byCode[code]
	if !ok {
		return Currency{}, fmt.Errorf("%q is not a known ISO 4217 currency code", code)
	}
	return c, nil
}

// Codes returns every known currency code, sorted.
func Codes() []string {
	codes := make([]string, 0, len(currencies))
	for c := range currencies {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	return codes
}
