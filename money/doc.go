// Package money owns currencies and amounts: the ISO 4217 table with each
// currency's minor unit, strict parsing of decimal amounts from strings,
// commission rates, half-even rounding and proportional splits whose parts
// add up exactly.
//
// Amounts are shopspring/decimal values and never floats. Every rounding in
// refledger goes through this package, so each one has a name and a test.
//
// money imports nothing of refledger's own; every other package may import it.
package money
