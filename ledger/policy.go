package ledger

import (
	"fmt"
	"sort"
	"time"

	"github.com/refledger/refledger/events"
)

// Policy is a validated attribution policy (CONTRACT §2).
type Policy struct {
	Tracking       string `json:"tracking"`
	Credit         string `json:"credit"`
	CookieDays     int    `json:"cookie_days"`
	ReferralDays   int    `json:"referral_days"`
	ProgramBinding string `json:"program_binding"`
	SelfReferral   string `json:"self_referral"`
	HoldingDays    int    `json:"holding_days"`
	PayoutBasis    string `json:"payout_basis"`
}

// PolicyFrom turns a validated policy document into a Policy, filling the
// fields it leaves out with the defaults.
func PolicyFrom(doc events.Policy) (Policy, error) {
	if err := events.ValidatePolicy(&doc); err != nil {
		return Policy{}, err
	}
	return Policy{
		Tracking: doc.Tracking, Credit: doc.Credit,
		CookieDays: *doc.CookieDays, ReferralDays: *doc.ReferralDays,
		ProgramBinding: doc.ProgramBinding, SelfReferral: doc.SelfReferral,
		HoldingDays: *doc.HoldingDays, PayoutBasis: doc.PayoutBasis,
	}, nil
}

// DefaultPolicy is in force before the first policy change.
func DefaultPolicy() Policy {
	p, err := PolicyFrom(events.DefaultPolicy())
	if err != nil {
		panic(err) // the default policy is valid by construction
	}
	return p
}

// Document is the policy as a document again, for policy.changed events.
func (p Policy) Document() events.Policy {
	cd, rd, hd := p.CookieDays, p.ReferralDays, p.HoldingDays
	return events.Policy{
		Tracking: p.Tracking, Credit: p.Credit, CookieDays: &cd, ReferralDays: &rd,
		ProgramBinding: p.ProgramBinding, SelfReferral: p.SelfReferral, HoldingDays: &hd,
		PayoutBasis: p.PayoutBasis,
	}
}

// PolicyVersion is a policy with where it came from and when it starts.
type PolicyVersion struct {
	// Version names the policy: "default", "v3" for the third policy change
	// in the log, or the replay id for a candidate.
	Version     string    `json:"version"`
	EffectiveAt time.Time `json:"effective_at"`
	Policy
}

// Timeline is the sequence of policies in force over time. A change with
// effective time E replaces whatever the timeline held from E on; that is
// how a later change, even one back-dated, wins.
type Timeline struct {
	versions []PolicyVersion // sorted by EffectiveAt
	changes  int             // policy changes applied, to number versions
}

// NewTimeline starts with the default policy in force since forever.
func NewTimeline() *Timeline {
	return &Timeline{versions: []PolicyVersion{{Version: "default", Policy: DefaultPolicy()}}}
}

// Change applies a policy change effective at 'at'; version "" numbers it.
func (t *Timeline) Change(version string, at time.Time, p Policy) PolicyVersion {
	t.changes++
	if version == "" {
		version = fmt.Sprintf("v%d", t.changes)
	}
	// The default version stands at the zero time, so only a change at the
	// zero time itself replaces it.
	keep := sort.Search(len(t.versions), func(i int) bool { return !t.versions[i].EffectiveAt.Before(at) })
	t.versions = append(t.versions[:keep:keep], PolicyVersion{Version: version, EffectiveAt: at, Policy: p})
	return t.versions[len(t.versions)-1]
}

// At returns the policy in force at time at.
func (t *Timeline) At(at time.Time) PolicyVersion {
	i := sort.Search(len(t.versions), func(i int) bool { return t.versions[i].EffectiveAt.After(at) })
	if i == 0 {
		return t.versions[0]
	}
	return t.versions[i-1]
}

// Versions lists the timeline, oldest first.
func (t *Timeline) Versions() []PolicyVersion {
	return append([]PolicyVersion(nil), t.versions...)
}

// Clone copies the timeline.
func (t *Timeline) Clone() *Timeline {
	return &Timeline{versions: t.Versions(), changes: t.changes}
}

// SamePolicies reports whether two timelines put the same policies in force
// from the same times, whatever their version names.
func (t *Timeline) SamePolicies(o *Timeline) bool {
	if len(t.versions) != len(o.versions) {
		return false
	}
	for i, v := range t.versions {
		w := o.versions[i]
		if !v.EffectiveAt.Equal(w.EffectiveAt) || v.Policy != w.Policy {
			return false
		}
	}
	return true
}
