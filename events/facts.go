package events

import (
	"bytes"
	"encoding/json"
	"time"
)

// Fact type names: the `type` attribute of the CloudEvents envelope. They are
// part of the public contract and of stored history: never rename one.
const (
	TypePartnerRegistered = "partner.registered"
	TypeProgramDefined    = "program.defined"
	TypePartnerEnrolled   = "partner.enrolled"
	TypeLinkCreated       = "link.created"
	TypeClickRecorded     = "click.recorded"
	TypeContactIdentified = "contact.identified"
	TypeReferralAssigned  = "referral.assigned"
	TypeOrderPlaced       = "order.placed"
	TypePaymentReceived   = "payment.received"
	TypeOrderRefunded     = "order.refunded"
	TypePolicyChanged     = "policy.changed"
	TypePayoutRecorded    = "payout.recorded"
)

// Data is the typed payload of a fact.
type Data interface {
	// EventType is the fact's type name, one of the Type constants.
	EventType() string
	// validate appends a field error for every rule the payload breaks,
	// with paths below "data.".
	validate(errs *fieldErrs)
}

// Fact is one validated inbound event: what happened outside refledger.
type Fact struct {
	ID     string
	Source string
	Type   string
	// Time is when the fact happened; attribution uses it, never arrival.
	Time time.Time
	Data Data
	// Arrived is when the fact log received the fact: the ingester sets
	// it, and the stored form keeps it (version 2). It is zero for facts
	// stored before it was kept, and for facts not yet appended. It is
	// not part of what the fact says: the wire form does not carry it,
	// and idempotency ignores it (StoredContent), so the same fact sent
	// again later is a duplicate. The ledger dates what a late fact
	// changes by it, never by the fact's own time.
	Arrived time.Time
}

// Key is the fact's idempotency key: source and id.
func (f Fact) Key() string { return f.Source + "\x00" + f.ID }

// Money is a decimal amount as it travels: a JSON string ("497.00"). A JSON
// number is kept aside so that validation can name the field it came in.
type Money struct {
	Text   string
	notStr string // the JSON kind that came instead of a string
}

// NewMoney wraps a decimal string for encoding.
func NewMoney(text string) Money { return Money{Text: text} }

// UnmarshalJSON accepts any JSON value and remembers whether it was a string.
func (m *Money) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &m.Text)
	}
	m.notStr = jsonKind(b)
	return nil
}

// MarshalJSON writes the amount as a JSON string.
func (m Money) MarshalJSON() ([]byte, error) { return json.Marshal(m.Text) }

func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return "nothing"
	case b[0] == '{':
		return "an object"
	case b[0] == '[':
		return "an array"
	case b[0] == 't' || b[0] == 'f':
		return "a boolean"
	case b[0] == 'n':
		return "null"
	}
	return "a number"
}

// PartnerRegistered: a referral partner exists.
type PartnerRegistered struct {
	PartnerID       string `json:"partner_id"`
	Name            string `json:"name"`
	ParentPartnerID string `json:"parent_partner_id,omitempty"`
	ContactID       string `json:"contact_id,omitempty"`
	CookieDays      *int   `json:"cookie_days,omitempty"`
}

// ProgramDefined: a commission program and its rates.
type ProgramDefined struct {
	ProgramID    string            `json:"program_id"`
	Name         string            `json:"name"`
	Priority     *int              `json:"priority"`
	DefaultRate  string            `json:"default_rate,omitempty"`
	ProductRates map[string]string `json:"product_rates,omitempty"`
	TierRates    []string          `json:"tier_rates,omitempty"`
	Cycles       int               `json:"cycles,omitempty"`
}

// PartnerEnrolled: a partner joined a program.
type PartnerEnrolled struct {
	PartnerID string `json:"partner_id"`
	ProgramID string `json:"program_id"`
}

// LinkCreated: a partner's tracking link, optionally bound to a program.
type LinkCreated struct {
	LinkCode   string `json:"link_code"`
	PartnerID  string `json:"partner_id"`
	ProgramID  string `json:"program_id,omitempty"`
	LandingURL string `json:"landing_url"`
}

// ClickRecorded: a browser followed a tracking link.
type ClickRecorded struct {
	ClickID   string `json:"click_id"`
	LinkCode  string `json:"link_code"`
	VisitorID string `json:"visitor_id"`
	ContactID string `json:"contact_id,omitempty"`
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Referrer  string `json:"referrer,omitempty"`
}

// ContactIdentified: a browser became a known contact.
type ContactIdentified struct {
	VisitorID string `json:"visitor_id"`
	ContactID string `json:"contact_id"`
}

// ReferralAssigned: a manual referral of a contact to a partner.
type ReferralAssigned struct {
	ContactID string `json:"contact_id"`
	PartnerID string `json:"partner_id"`
	Note      string `json:"note,omitempty"`
}

// OrderLine is one line of an order; Amount is the line total.
type OrderLine struct {
	LineID    string `json:"line_id"`
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
	Amount    Money  `json:"amount"`
}

// OrderPlaced: a buyer placed an order.
type OrderPlaced struct {
	OrderID        string      `json:"order_id"`
	ContactID      string      `json:"contact_id,omitempty"`
	VisitorID      string      `json:"visitor_id,omitempty"`
	Currency       string      `json:"currency"`
	Lines          []OrderLine `json:"lines"`
	SubscriptionID string      `json:"subscription_id,omitempty"`
	Cycle          int         `json:"cycle,omitempty"`
}

// PaymentReceived: money arrived for an order.
type PaymentReceived struct {
	OrderID   string `json:"order_id"`
	PaymentID string `json:"payment_id"`
	Amount    Money  `json:"amount"`
}

// RefundLine is the refunded amount of one order line.
type RefundLine struct {
	LineID string `json:"line_id"`
	Amount Money  `json:"amount"`
}

// OrderRefunded: part or all of an order was refunded.
type OrderRefunded struct {
	OrderID  string       `json:"order_id"`
	RefundID string       `json:"refund_id"`
	Lines    []RefundLine `json:"lines"`
}

// PolicyChanged: the attribution policy in force from EffectiveAt on.
type PolicyChanged struct {
	Policy
	// EffectiveAt defaults to the event's time when absent.
	EffectiveAt *time.Time `json:"effective_at,omitempty"`
}

// PayoutRecorded: commission was paid out to a partner.
type PayoutRecorded struct {
	PayoutID  string `json:"payout_id"`
	PartnerID string `json:"partner_id"`
	Currency  string `json:"currency"`
	Amount    Money  `json:"amount"`
}

func (*PartnerRegistered) EventType() string { return TypePartnerRegistered }
func (*ProgramDefined) EventType() string    { return TypeProgramDefined }
func (*PartnerEnrolled) EventType() string   { return TypePartnerEnrolled }
func (*LinkCreated) EventType() string       { return TypeLinkCreated }
func (*ClickRecorded) EventType() string     { return TypeClickRecorded }
func (*ContactIdentified) EventType() string { return TypeContactIdentified }
func (*ReferralAssigned) EventType() string  { return TypeReferralAssigned }
func (*OrderPlaced) EventType() string       { return TypeOrderPlaced }
func (*PaymentReceived) EventType() string   { return TypePaymentReceived }
func (*OrderRefunded) EventType() string     { return TypeOrderRefunded }
func (*PolicyChanged) EventType() string     { return TypePolicyChanged }
func (*PayoutRecorded) EventType() string    { return TypePayoutRecorded }

// newData returns an empty payload for a fact type, or nil for an unknown
// type. It is an explicit table, not a registry filled by init().
func newData(typ string) Data {
	switch typ {
	case TypePartnerRegistered:
		return &PartnerRegistered{}
	case TypeProgramDefined:
		return &ProgramDefined{}
	case TypePartnerEnrolled:
		return &PartnerEnrolled{}
	case TypeLinkCreated:
		return &LinkCreated{}
	case TypeClickRecorded:
		return &ClickRecorded{}
	case TypeContactIdentified:
		return &ContactIdentified{}
	case TypeReferralAssigned:
		return &ReferralAssigned{}
	case TypeOrderPlaced:
		return &OrderPlaced{}
	case TypePaymentReceived:
		return &PaymentReceived{}
	case TypeOrderRefunded:
		return &OrderRefunded{}
	case TypePolicyChanged:
		return &PolicyChanged{}
	case TypePayoutRecorded:
		return &PayoutRecorded{}
	}
	return nil
}

// IsDefinition reports whether facts of a type define what later facts
// are judged by (partners, programs, enrollments, links, policy) rather
// than record what happened to them.
func IsDefinition(typ string) bool {
	switch typ {
	case TypePartnerRegistered, TypeProgramDefined, TypePartnerEnrolled, TypeLinkCreated, TypePolicyChanged:
		return true
	}
	return false
}

// FactTypes lists every fact type name.
var FactTypes = []string{
	TypePartnerRegistered, TypeProgramDefined, TypePartnerEnrolled, TypeLinkCreated,
	TypeClickRecorded, TypeContactIdentified, TypeReferralAssigned, TypeOrderPlaced,
	TypePaymentReceived, TypeOrderRefunded, TypePolicyChanged, TypePayoutRecorded,
}
