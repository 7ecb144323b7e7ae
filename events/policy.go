package events

// Policy is the attribution policy document of CONTRACT §2, as operators
// write it. Absent fields take the defaults of DefaultPolicy.
type Policy struct {
	Tracking       string `json:"tracking"`
	Credit         string `json:"credit"`
	CookieDays     *int   `json:"cookie_days"`
	ReferralDays   *int   `json:"referral_days"`
	ProgramBinding string `json:"program_binding"`
	SelfReferral   string `json:"self_referral"`
	HoldingDays    *int   `json:"holding_days"`
	PayoutBasis    string `json:"payout_basis"`
}

// Policy field values.
const (
	TrackingCookiesOnly       = "cookies-only"
	TrackingHistoryAndCookies = "referral-history-and-cookies"
	CreditLast                = "last"
	CreditFirst               = "first"
	BindingPartnerPrograms    = "partner-programs"
	BindingLinkProgram        = "link-program"
	SelfReferralAllow         = "allow"
	SelfReferralReject        = "reject"
	PayoutBasisUpfront        = "upfront"
	PayoutBasisOnPayment      = "on-payment"
	maxPolicyDays             = 36600 // a century: a bound, not a business rule
	defaultCookieDays         = 30
	defaultHoldingDays        = 30
	defaultReferralDays       = 0
)

// DefaultPolicy is the policy in force before any policy.changed event, and
// the source of every field a document leaves out.
func DefaultPolicy() Policy {
	return Policy{
		Tracking:       TrackingHistoryAndCookies,
		Credit:         CreditLast,
		CookieDays:     intp(defaultCookieDays),
		ReferralDays:   intp(defaultReferralDays),
		ProgramBinding: BindingPartnerPrograms,
		SelfReferral:   SelfReferralReject,
		HoldingDays:    intp(defaultHoldingDays),
		PayoutBasis:    PayoutBasisUpfront,
	}
}

func intp(n int) *int { return &n }

// withDefaults fills the fields a document leaves out.
func (p *Policy) withDefaults() {
	d := DefaultPolicy()
	if p.Tracking == "" {
		p.Tracking = d.Tracking
	}
	if p.Credit == "" {
		p.Credit = d.Credit
	}
	if p.CookieDays == nil {
		p.CookieDays = d.CookieDays
	}
	if p.ReferralDays == nil {
		p.ReferralDays = d.ReferralDays
	}
	if p.ProgramBinding == "" {
		p.ProgramBinding = d.ProgramBinding
	}
	if p.SelfReferral == "" {
		p.SelfReferral = d.SelfReferral
	}
	if p.HoldingDays == nil {
		p.HoldingDays = d.HoldingDays
	}
	if p.PayoutBasis == "" {
		p.PayoutBasis = d.PayoutBasis
	}
}

func (p *Policy) validatePolicy(errs *fieldErrs, prefix string) {
	p.withDefaults()
	oneOf(errs, prefix+"tracking", p.Tracking, TrackingCookiesOnly, TrackingHistoryAndCookies)
	oneOf(errs, prefix+"credit", p.Credit, CreditLast, CreditFirst)
	oneOf(errs, prefix+"program_binding", p.ProgramBinding, BindingPartnerPrograms, BindingLinkProgram)
	oneOf(errs, prefix+"self_referral", p.SelfReferral, SelfReferralAllow, SelfReferralReject)
	oneOf(errs, prefix+"payout_basis", p.PayoutBasis, PayoutBasisUpfront, PayoutBasisOnPayment)
	days(errs, prefix+"cookie_days", *p.CookieDays)
	days(errs, prefix+"referral_days", *p.ReferralDays)
	days(errs, prefix+"holding_days", *p.HoldingDays)
}

// ValidatePolicy checks a policy document on its own (a replay candidate),
// filling defaults; errors name the field without a "data." prefix.
func ValidatePolicy(p *Policy) error {
	var errs fieldErrs
	p.validatePolicy(&errs, "")
	return errs.err()
}

func days(errs *fieldErrs, field string, n int) {
	if n < 0 || n > maxPolicyDays {
		errs.add(field, "%d is out of range: want whole days from 0 to %d", n, maxPolicyDays)
	}
}

func oneOf(errs *fieldErrs, field, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	list := ""
	for i, a := range allowed {
		if i > 0 {
			list += ", "
		}
		list += `"` + a + `"`
	}
	errs.add(field, "%q is not allowed: want one of %s", v, list)
}
