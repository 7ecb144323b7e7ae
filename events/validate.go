package events

import (
	"fmt"
	"net/url"
	"unicode/utf8"

	"github.com/refledger/refledger/money"
	"github.com/shopspring/decimal"
)

// Bounds on what one event may hold. They are far above real use and keep a
// hostile event from costing unbounded memory or time.
const (
	MaxEventBytes = 64 << 10
	maxIDBytes    = 256
	maxTextBytes  = 2048
	maxLines      = 1000
	maxQuantity   = money.MaxQuantity
	maxRates      = 10_000
	maxTiers      = 10
	maxCycles     = 10_000
	maxPriority   = 1_000_000
)

// required checks an id field (the envelope's id and source, every *_id
// and link_code, a product_rates key): present, and of the id grammar.
func required(errs *fieldErrs, field, v string) {
	if v == "" {
		errs.add(field, "is required")
		return
	}
	if rule := idRule(v); rule != "" {
		errs.add(field, "%s", rule)
	}
}

// optional checks an id field that may be absent.
func optional(errs *fieldErrs, field, v string) {
	if v != "" {
		required(errs, field, v)
	}
}

// The id grammar (README, "Ids"): an id is 1 to maxIDBytes bytes of
// UTF-8 with no control character (C0, DEL, C1) and no U+FFFD. U+FFFD is
// what encoding/json puts in place of invalid UTF-8 and of a lone
// surrogate escape ("\ud800"): an id holding it may have been another id
// before it was replaced, so two distinct ids could become one. Ids may
// hold anything else, "/" and "%" included: entry ids escape them
// (ledger.EscapeIDPart).
func idRule(v string) string {
	if len(v) > maxIDBytes {
		return fmt.Sprintf("is %d bytes long, more than the %d allowed", len(v), maxIDBytes)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 0x20 && c < 0x7f {
			continue // printable ASCII: nearly every id, byte by byte
		}
		if c < 0x80 {
			return fmt.Sprintf("holds the control character U+%04X at byte %d: ids hold no control characters", c, i)
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Sprintf("is not valid UTF-8 at byte %d", i)
		case r == utf8.RuneError:
			return fmt.Sprintf("holds U+FFFD at byte %d, the mark of invalid UTF-8 or of a lone surrogate: ids hold neither", i)
		case r >= 0x80 && r <= 0x9f:
			return fmt.Sprintf("holds the control character U+%04X at byte %d: ids hold no control characters", r, i)
		}
		i += size - 1
	}
	return ""
}

// requiredText checks a text field that must be present (a name): it is
// no id, but as short as one.
func requiredText(errs *fieldErrs, field, v string) {
	switch {
	case v == "":
		errs.add(field, "is required")
	case len(v) > maxIDBytes:
		errs.add(field, "is %d bytes long, more than the %d allowed", len(v), maxIDBytes)
	}
}

func text(errs *fieldErrs, field, v string) {
	if len(v) > maxTextBytes {
		errs.add(field, "is %d bytes long, more than the %d allowed", len(v), maxTextBytes)
	}
}

// amount checks a Money field: a JSON string holding a decimal that is not
// negative and at most 10^boundExp (one of money's Max bounds), with no more
// decimals than the currency allows (when known).
func amount(errs *fieldErrs, field string, m Money, cur *money.Currency, boundExp int) (decimal.Decimal, bool) {
	if m.notStr != "" {
		errs.add(field, "want a decimal in a JSON string (\"497.00\"), got %s", m.notStr)
		return decimal.Zero, false
	}
	var (
		d   decimal.Decimal
		err error
	)
	if cur != nil {
		d, err = money.ParseAmount(m.Text, *cur)
	} else {
		d, err = money.ParseDecimal(m.Text)
	}
	switch {
	case m.Text == "":
		errs.add(field, "is required")
	case err != nil:
		errs.add(field, "%s", err.Error())
	case d.IsNegative():
		errs.add(field, "%q is negative", m.Text)
	case money.AtMost(m.Text, d, boundExp, cur) != nil:
		errs.add(field, "%s", money.AtMost(m.Text, d, boundExp, cur).Error())
	default:
		return d, true
	}
	return decimal.Zero, false
}

func currency(errs *fieldErrs, field, code string) *money.Currency {
	if code == "" {
		errs.add(field, "is required")
		return nil
	}
	c, err := money.Lookup(code)
	if err != nil {
		errs.add(field, "%s", err.Error())
		return nil
	}
	return &c
}

func rate(errs *fieldErrs, field, r string) {
	if _, err := money.ParseRate(r); err != nil {
		errs.add(field, "%s", err.Error())
	}
}

func (d *PartnerRegistered) validate(errs *fieldErrs) {
	required(errs, "data.partner_id", d.PartnerID)
	requiredText(errs, "data.name", d.Name)
	text(errs, "data.name", d.Name)
	optional(errs, "data.parent_partner_id", d.ParentPartnerID)
	if d.ParentPartnerID != "" && d.ParentPartnerID == d.PartnerID {
		errs.add("data.parent_partner_id", "a partner cannot be its own parent")
	}
	optional(errs, "data.contact_id", d.ContactID)
	if d.CookieDays != nil {
		days(errs, "data.cookie_days", *d.CookieDays)
	}
}

func (d *ProgramDefined) validate(errs *fieldErrs) {
	required(errs, "data.program_id", d.ProgramID)
	requiredText(errs, "data.name", d.Name)
	text(errs, "data.name", d.Name)
	switch {
	case d.Priority == nil:
		errs.add("data.priority", "is required")
	case *d.Priority < 0 || *d.Priority > maxPriority:
		errs.add("data.priority", "%d is out of range: want 0 to %d", *d.Priority, maxPriority)
	}
	if d.DefaultRate != "" {
		rate(errs, "data.default_rate", d.DefaultRate)
	}
	if len(d.ProductRates) == 0 {
		d.ProductRates = nil // {} and absent are the same payload
	}
	if len(d.TierRates) == 0 {
		d.TierRates = nil
	}
	if len(d.ProductRates) > maxRates {
		errs.add("data.product_rates", "has %d rates, more than the %d allowed", len(d.ProductRates), maxRates)
	}
	for _, product := range sortedKeys(d.ProductRates) {
		required(errs, "data.product_rates key", product)
		rate(errs, "data.product_rates."+product, d.ProductRates[product])
	}
	if len(d.TierRates) > maxTiers {
		errs.add("data.tier_rates", "has %d tiers, more than the %d allowed", len(d.TierRates), maxTiers)
	}
	for i, r := range d.TierRates {
		rate(errs, fmt.Sprintf("data.tier_rates[%d]", i), r)
	}
	if d.Cycles < 0 || d.Cycles > maxCycles {
		errs.add("data.cycles", "%d is out of range: want 0 (all) to %d", d.Cycles, maxCycles)
	}
}

func (d *PartnerEnrolled) validate(errs *fieldErrs) {
	required(errs, "data.partner_id", d.PartnerID)
	required(errs, "data.program_id", d.ProgramID)
}

func (d *LinkCreated) validate(errs *fieldErrs) {
	required(errs, "data.link_code", d.LinkCode)
	required(errs, "data.partner_id", d.PartnerID)
	optional(errs, "data.program_id", d.ProgramID)
	if d.LandingURL == "" {
		errs.add("data.landing_url", "is required")
		return
	}
	text(errs, "data.landing_url", d.LandingURL)
	u, err := url.Parse(d.LandingURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs.add("data.landing_url", "%q is not an absolute http or https URL", d.LandingURL)
	}
}

func (d *ClickRecorded) validate(errs *fieldErrs) {
	required(errs, "data.click_id", d.ClickID)
	required(errs, "data.link_code", d.LinkCode)
	required(errs, "data.visitor_id", d.VisitorID)
	optional(errs, "data.contact_id", d.ContactID)
	text(errs, "data.ip", d.IP)
	text(errs, "data.user_agent", d.UserAgent)
	text(errs, "data.referrer", d.Referrer)
}

func (d *ContactIdentified) validate(errs *fieldErrs) {
	required(errs, "data.visitor_id", d.VisitorID)
	required(errs, "data.contact_id", d.ContactID)
}

func (d *ReferralAssigned) validate(errs *fieldErrs) {
	required(errs, "data.contact_id", d.ContactID)
	required(errs, "data.partner_id", d.PartnerID)
	text(errs, "data.note", d.Note)
}

func (d *OrderPlaced) validate(errs *fieldErrs) {
	required(errs, "data.order_id", d.OrderID)
	optional(errs, "data.contact_id", d.ContactID)
	optional(errs, "data.visitor_id", d.VisitorID)
	cur := currency(errs, "data.currency", d.Currency)
	switch {
	case len(d.Lines) == 0:
		errs.add("data.lines", "is required: an order has at least one line")
	case len(d.Lines) > maxLines:
		errs.add("data.lines", "has %d lines, more than the %d allowed", len(d.Lines), maxLines)
	}
	seen := make(map[string]bool, len(d.Lines))
	for i, l := range d.Lines {
		p := fmt.Sprintf("data.lines[%d].", i)
		lineID(errs, p, l.LineID, seen, "order")
		required(errs, p+"product_id", l.ProductID)
		if l.Quantity < 1 || l.Quantity > maxQuantity {
			errs.add(p+"quantity", "%d is out of range: want a whole number from 1 to %d", l.Quantity, maxQuantity)
		}
		amount(errs, p+"amount", l.Amount, cur, money.LineAmountExp)
	}
	optional(errs, "data.subscription_id", d.SubscriptionID)
	if d.Cycle < 0 || d.Cycle > maxCycles*100 {
		errs.add("data.cycle", "%d is out of range: want 1 for the first payment", d.Cycle)
	}
	if d.Cycle > 0 && d.SubscriptionID == "" {
		errs.add("data.subscription_id", "is required when cycle is given")
	}
}

// lineID checks a line id: present, and not seen before in the same event.
func lineID(errs *fieldErrs, prefix, id string, seen map[string]bool, in string) {
	required(errs, prefix+"line_id", id)
	if seen[id] {
		errs.add(prefix+"line_id", "%q appears twice in the %s", id, in)
	}
	seen[id] = true
}

func (d *PaymentReceived) validate(errs *fieldErrs) {
	required(errs, "data.order_id", d.OrderID)
	required(errs, "data.payment_id", d.PaymentID)
	amount(errs, "data.amount", d.Amount, nil, money.PaymentExp)
}

func (d *OrderRefunded) validate(errs *fieldErrs) {
	required(errs, "data.order_id", d.OrderID)
	required(errs, "data.refund_id", d.RefundID)
	switch {
	case len(d.Lines) == 0:
		errs.add("data.lines", "is required: a refund names at least one line")
	case len(d.Lines) > maxLines:
		errs.add("data.lines", "has %d lines, more than the %d allowed", len(d.Lines), maxLines)
	}
	seen := make(map[string]bool, len(d.Lines))
	for i, l := range d.Lines {
		p := fmt.Sprintf("data.lines[%d].", i)
		lineID(errs, p, l.LineID, seen, "refund")
		amount(errs, p+"amount", l.Amount, nil, money.LineAmountExp)
	}
}

func (d *PolicyChanged) validate(errs *fieldErrs) {
	d.validatePolicy(errs, "data.")
	if d.EffectiveAt != nil && (d.EffectiveAt.Year() < minYear || d.EffectiveAt.Year() > maxYear) {
		errs.add("data.effective_at", "is outside the years %d to %d", minYear, maxYear)
	}
}

func (d *PayoutRecorded) validate(errs *fieldErrs) {
	required(errs, "data.payout_id", d.PayoutID)
	required(errs, "data.partner_id", d.PartnerID)
	cur := currency(errs, "data.currency", d.Currency)
	if a, ok := amount(errs, "data.amount", d.Amount, cur, money.PayoutExp); ok && a.IsZero() {
		errs.add("data.amount", "a payout must be more than zero")
	}
}
