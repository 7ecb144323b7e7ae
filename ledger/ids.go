package ledger

import "strings"

// Entry ids are their parts joined by "/": ORDER/LINE/tTIER/accrued,
// ORDER/LINE/tTIER/accrued/PAYMENT, ORDER/LINE/tTIER/reversed/REFUND,
// ORDER/LINE/tTIER/PARTNER/adjusted/SOURCE/ID (a late fact's),
// ORDER/LINE/tTIER/PARTNER/adjusted/REPLAY, payout/PAYOUT. Ids may hold
// "/" (events' id grammar allows it), so each part is escaped first: "%"
// becomes "%25" and "/" becomes "%2F". No escaped part holds "/", so an
// id splits back into its parts, and the count of parts and the words
// among them (accrued, reversed, adjusted, payout) tell the forms apart:
// distinct parts give distinct ids. A part holding neither "/" nor "%"
// is left as it is, so every id made before the escaping keeps its bytes.

// EscapeIDPart escapes one part of an entry id.
func EscapeIDPart(p string) string {
	if !strings.ContainsAny(p, "/%") {
		return p // nearly every id: no allocation
	}
	var b strings.Builder
	b.Grow(len(p) + 8)
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '%':
			b.WriteString("%25")
		case '/':
			b.WriteString("%2F")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// JoinID escapes each part and joins them with "/".
func JoinID(parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	var b strings.Builder
	b.Grow(n)
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(EscapeIDPart(p))
	}
	return b.String()
}
