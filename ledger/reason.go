package ledger

import (
	"encoding/json"
	"strconv"
	"time"
)

// Reason says why a candidate won or lost, or why a line earned what it
// did. It is a value, a code with its particulars, and becomes words only
// when shown or stored: folding history under a candidate policy decides
// millions of them and reads few.
//
// An explanation holds a reason for every candidate and every line, and
// a full fold writes millions of them into fresh memory, so a reason is
// kept small: 88 bytes, where a time.Time, two ints and a string of their
// own made it 128.
type Reason struct {
	at         int64 // Unix nanoseconds, for the reasons that name a time
	n, m       int32
	code       reasonCode
	a, b, c, d string // a reason read back from a record keeps its words in a (code reasonNone)
}

// atTime is the time the reason names.
func (r Reason) atTime() time.Time { return time.Unix(0, r.at).UTC() }

type reasonCode uint8

const (
	reasonNone reasonCode = iota
	reasonWonLast
	reasonWonFirst
	reasonLostLater
	reasonLostEarlier
	reasonCookiePrecedes
	reasonCookiesOnly
	reasonLinkUnknown
	reasonPartnerUnknown
	reasonAfterOrder
	reasonExpired
	reasonSelfReferral
	reasonRenewal
	reasonNoReferral
	reasonNoQualifying
	reasonPastCycles
	reasonLinkProgramUndefined
	reasonNotInLinkProgram
	reasonNoProgram
	reasonRateFromLink
	reasonRateLowestPriority
	reasonLinkHeld
	reasonCodes // how many codes there are: keep it last
)

// String renders the reason in words.
func (r Reason) String() string {
	switch r.code {
	case reasonNone:
		return r.a
	case reasonWonLast:
		return "the last qualifying referral (credit: last)"
	case reasonWonFirst:
		return "the first qualifying referral (credit: first)"
	case reasonLostLater:
		return "a later referral wins (credit: last)"
	case reasonLostEarlier:
		return "an earlier referral wins (credit: first)"
	case reasonCookiePrecedes:
		return "a cookie click takes precedence over referral history"
	case reasonCookiesOnly:
		return "cookies-only ignores referral history"
	case reasonLinkUnknown:
		return "link " + r.a + " is not registered"
	case reasonPartnerUnknown:
		return "partner " + r.a + " is not registered"
	case reasonAfterOrder:
		return "the " + r.a + " at " + r.atTime().Format(time.RFC3339Nano) + " came after the order"
	case reasonExpired:
		return r.a + " expired on " + r.atTime().Format("2006-01-02") + " (" + r.b + " " + strconv.Itoa(int(r.n)) + ")"
	case reasonSelfReferral:
		return "self-referral: partner " + r.a + " is the buyer (contact " + r.b + ")"
	case reasonRenewal:
		return "renewal of subscription " + r.a + ", first credited on order " + r.b
	case reasonNoReferral:
		return "no referral credited"
	case reasonNoQualifying:
		return "no qualifying referral"
	case reasonPastCycles:
		return "not commissionable: subscription payment " + strconv.Itoa(int(r.n)) + " is past the " + strconv.Itoa(int(r.m)) + " commissionable cycles of program " + r.a
	case reasonLinkProgramUndefined:
		return "program " + r.a + " of link " + r.b + " is not defined"
	case reasonNotInLinkProgram:
		return "product " + r.a + " is not in program " + r.b + " of link " + r.c + " (program_binding: link-program)"
	case reasonNoProgram:
		return "not commissionable: no program of partner " + r.a + " covers product " + r.b
	case reasonRateFromLink:
		return r.a + " from program " + r.b + ", the program of link " + r.c
	case reasonLinkHeld:
		return "link " + r.a + " is held: its program " + r.b + " is not defined"
	case reasonRateLowestPriority:
		return r.a + " from program " + r.b + ", the lowest priority number among " + r.c + "'s programs covering " + r.d
	}
	return "reason " + strconv.Itoa(int(r.code))
}

// MarshalJSON writes the reason as its words.
func (r Reason) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

// UnmarshalJSON reads a recorded reason's words.
func (r *Reason) UnmarshalJSON(b []byte) error {
	*r = Reason{}
	return json.Unmarshal(b, &r.a)
}
