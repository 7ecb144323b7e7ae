package ledger

import (
	"slices"
	"time"

	"github.com/refledger/refledger/events"
)

// Sources of a referral.
const (
	SourceCookie   = "cookie"
	SourceHistory  = "referral-history"
	SourceManual   = "manual"
	OutcomeWon     = "won"
	OutcomeLost    = "lost"
	DecisionCredit = "credited"
	DecisionNone   = "none"
)

const day = 24 * time.Hour

// Candidate is one referral that could have earned an order.
type Candidate struct {
	PartnerID string    `json:"partner_id"`
	ClickID   string    `json:"click_id"`
	LinkCode  string    `json:"link_code"`
	ProgramID string    `json:"program_id"`
	Source    string    `json:"source"`
	Time      time.Time `json:"time"`
	Outcome   string    `json:"outcome"`
	Reason    Reason    `json:"reason"`

	qualifies bool
}

// Decision is who earns an order and why: the winner (if any) and every
// candidate with its outcome and reason. It is a value, never an error.
type Decision struct {
	Winner     *Candidate  `json:"winner,omitempty"`
	Candidates []Candidate `json:"candidates"`
	Notes      []string    `json:"notes,omitempty"`
}

// Buyer is what an order says about who bought.
type Buyer struct {
	OrderTime time.Time
	VisitorID string // the rl_vid presented at checkout
	ContactID string // the contact, given or identified from the visitor
}

// Decide attributes an order under a policy. It reads the state and changes
// nothing: same state, buyer and policy give the same decision.
func (s *State) Decide(b Buyer, p Policy) Decision {
	var d Decision
	// One array holds both kinds: the cookies first, then the history.
	all := s.cookieCandidates(nil, b, p, &d)
	nCookies := len(all)
	all = s.historyCandidates(all, b, p, &d)
	cookies, history := all[:nCookies:nCookies], all[nCookies:]
	if w := pick(cookies, p.Credit); w >= 0 {
		settle(cookies, w, p.Credit)
		for i := range history {
			if history[i].qualifies {
				history[i].Outcome, history[i].Reason = OutcomeLost, Reason{code: reasonCookiePrecedes}
			}
		}
	} else if p.Tracking == events.TrackingHistoryAndCookies {
		if w := pick(history, p.Credit); w >= 0 {
			settle(history, w, p.Credit)
		}
	} else {
		for i := range history {
			if history[i].qualifies {
				history[i].Outcome, history[i].Reason = OutcomeLost, Reason{code: reasonCookiesOnly}
			}
		}
	}
	d.Candidates = all
	for i := range d.Candidates {
		if d.Candidates[i].Outcome == OutcomeWon {
			d.Winner = &d.Candidates[i]
		}
	}
	return d
}

// settle marks candidate w as the winner and the other qualifying ones as
// losers to it.
func settle(cands []Candidate, w int, credit string) {
	won, lost := Reason{code: reasonWonLast}, Reason{code: reasonLostLater}
	if credit == events.CreditFirst {
		won, lost = Reason{code: reasonWonFirst}, Reason{code: reasonLostEarlier}
	}
	for i := range cands {
		switch {
		case i == w:
			cands[i].Outcome, cands[i].Reason = OutcomeWon, won
		case cands[i].qualifies:
			cands[i].Outcome, cands[i].Reason = OutcomeLost, lost
		}
	}
}

// pick returns the index of the qualifying candidate that the credit rule
// chooses, or -1. Candidates are in time order; ties go to log order.
func pick(cands []Candidate, credit string) int {
	best := -1
	for i, c := range cands {
		if !c.qualifies {
			continue
		}
		switch {
		case best < 0:
			best = i
		case credit == events.CreditFirst && c.Time.Before(cands[best].Time):
			best = i
		case credit != events.CreditFirst && !c.Time.Before(cands[best].Time):
			best = i
		}
	}
	return best
}

// cookieCandidates appends the clicks of the visitor presented at
// checkout to out.
func (s *State) cookieCandidates(out []Candidate, b Buyer, p Policy, d *Decision) []Candidate {
	if b.VisitorID == "" {
		d.Notes = append(d.Notes, "no cookie was presented: the order has no visitor_id")
		return out
	}
	clicks := s.clicks.ofVisitor(digest(b.VisitorID))
	if out == nil {
		out = make([]Candidate, 0, len(clicks)+4)
	}
	before := 0
	for _, i := range clicks {
		c, partner := s.clickCandidate(i, SourceCookie)
		if !c.Time.After(b.OrderTime) {
			before++
		}
		days := p.CookieDays
		if partner != nil && partner.CookieDays != nil {
			days = *partner.CookieDays // the partner's cookie lifetime overrides the policy's
		}
		judge(&c, partner, b, p, days, "cookie", "cookie_days")
		out = append(out, c)
	}
	if before == 0 {
		d.Notes = append(d.Notes, "no cookie click was presented: visitor "+b.VisitorID+" has no clicks before the order")
	}
	return out
}

// historyCandidates appends the contact's referral history to out, in
// time order.
func (s *State) historyCandidates(out []Candidate, b Buyer, p Policy, d *Decision) []Candidate {
	if b.ContactID == "" {
		d.Notes = append(d.Notes, "no contact is known for the order, so it has no referral history")
		return out
	}
	contact := digest(b.ContactID)
	var clickIdx []int32
	for _, v := range s.ids.visitorsOf[contact] {
		clickIdx = append(clickIdx, s.clicks.ofVisitor(v)...)
	}
	clickIdx = append(clickIdx, s.clicks.byContact[contact]...)
	slices.Sort(clickIdx) // click numbers are log order
	clickIdx = slices.Compact(clickIdx)
	manual := s.ids.manual[contact]
	start := len(out)
	out = slices.Grow(out, len(clickIdx)+len(manual))
	for _, i := range clickIdx {
		c, partner := s.clickCandidate(i, SourceHistory)
		judge(&c, partner, b, p, p.ReferralDays, "referral", "referral_days")
		out = append(out, c)
	}
	for _, m := range manual {
		c := Candidate{PartnerID: m.partner, Source: SourceManual, Time: m.at, Outcome: OutcomeLost}
		judge(&c, s.cat.partners[m.partner], b, p, p.ReferralDays, "referral", "referral_days")
		out = append(out, c)
	}
	slices.SortStableFunc(out[start:], func(a, b Candidate) int { return a.Time.Compare(b.Time) })
	return out
}

// clickCandidate makes click i a candidate, with the partner its link
// belongs to (nil if none is registered).
func (s *State) clickCandidate(i int32, source string) (Candidate, *Partner) {
	link := &s.cat.links[s.clicks.link[i]]
	return Candidate{
		PartnerID: link.PartnerID, ClickID: s.clicks.id(i), LinkCode: link.Code,
		ProgramID: link.ProgramID, Source: source, Time: s.clicks.time(i), Outcome: OutcomeLost,
	}, link.partner
}

// judge decides whether a candidate of a partner (nil: not registered)
// qualifies, or why not.
func judge(c *Candidate, partner *Partner, b Buyer, p Policy, lifetimeDays int, what, field string) {
	switch {
	case c.PartnerID == "":
		c.Reason = Reason{code: reasonLinkUnknown, a: c.LinkCode}
	case partner == nil:
		c.Reason = Reason{code: reasonPartnerUnknown, a: c.PartnerID}
	case c.Time.After(b.OrderTime):
		c.Reason = Reason{code: reasonAfterOrder, a: kindOf(c), at: c.Time}
	case lifetimeDays > 0 && b.OrderTime.Sub(c.Time) > time.Duration(lifetimeDays)*day:
		c.Reason = Reason{code: reasonExpired, a: what, at: c.Time.Add(time.Duration(lifetimeDays) * day), b: field, n: lifetimeDays}
	case p.SelfReferral == events.SelfReferralReject && partner.ContactID != "" && partner.ContactID == b.ContactID:
		c.Reason = Reason{code: reasonSelfReferral, a: partner.ID, b: b.ContactID}
	default:
		c.qualifies = true
	}
}

func kindOf(c *Candidate) string {
	if c.Source == SourceManual {
		return "referral"
	}
	return "click"
}
