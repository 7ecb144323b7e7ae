package ledger

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
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
	var sc scratch
	d := s.decide(&b, &p, &sc)
	return s.explain(&d, &b)
}

// Kinds of referral a ref stands for.
const (
	refCookie  uint8 = iota // a click by the browser presented at checkout
	refHistory              // a click in the contact's referral history
	refManual               // a manual referral of the contact
)

// ref is one referral considered for an order, held compactly while the
// order is decided: nothing in it points into the heap, so deciding an
// order allocates nothing, and words are made only for explanations.
type ref struct {
	at        int64 // Unix nanoseconds (fact times lie in 1970..2200), a click's too
	n         int32 // click number, or index among the contact's manual referrals
	days      int32 // the lifetime it was judged by; 0 = forever
	kind      uint8
	why       reasonCode // why it qualifies or not; then why it won or lost
	qualifies bool
}

// decision is an order's decision in the making: the referrals considered,
// cookie clicks first and then the referral history, and the winner.
type decision struct {
	refs    []ref
	cookies int // refs[:cookies] are cookie clicks, in log order; the rest history, in time order
	winner  int // index into refs; -1 for none
	manual  []manualReferral

	noVisitor, noCookieBefore, noContact bool
	// browsersLeft counts the buyer's browsers past maxHistoryBrowsers,
	// whose clicks the history leaves out.
	browsersLeft int
}

// scratch is memory a decider reuses from one order to the next.
type scratch struct {
	refs   []ref
	clicks []int32
}

// decide attributes an order under a policy into sc's memory, which the
// decision borrows until the next call.
func (s *State) decide(b *Buyer, p *Policy, sc *scratch) decision {
	d := decision{winner: -1}
	order := b.OrderTime.UnixNano()
	refs := sc.refs[:0]
	if b.VisitorID == "" {
		d.noVisitor = true
	} else {
		sc.clicks = s.clicks.appendOfVisitor(sc.clicks[:0], digest(b.VisitorID))
		before := 0
		for _, i := range sc.clicks {
			k := s.clicks.get(i)
			link := &s.cat.links[k.link]
			r := ref{at: k.at, n: i, kind: refCookie, days: int32(p.CookieDays)}
			if link.cookieDays >= 0 { // -1 without a partner, or when it sets none
				r.days = link.cookieDays // the partner's cookie lifetime overrides the policy's
			}
			if r.at <= order {
				before++
			}
			r.judge(link.PartnerID, link.partner, b, order, p)
			refs = append(refs, r)
		}
		d.noCookieBefore = before == 0
	}
	d.cookies = len(refs)
	if b.ContactID == "" {
		d.noContact = true
	} else {
		contact := digest(b.ContactID)
		idx := sc.clicks[:0]
		browsers, left := s.ids.browsersBefore(contact, order)
		d.browsersLeft = left
		for _, v := range browsers {
			idx = s.clicks.appendOfVisitor(idx, v.visitor)
		}
		idx = append(idx, s.clicks.byContact[contact]...)
		slices.Sort(idx) // click numbers are log order
		idx = slices.Compact(idx)
		sc.clicks = idx
		for _, i := range idx {
			k := s.clicks.get(i)
			link := &s.cat.links[k.link]
			r := ref{at: k.at, n: i, kind: refHistory, days: int32(p.ReferralDays)}
			r.judge(link.PartnerID, link.partner, b, order, p)
			refs = append(refs, r)
		}
		d.manual = s.ids.manual[contact]
		for j, m := range d.manual {
			r := ref{at: m.at.UnixNano(), n: int32(j), kind: refManual, days: int32(p.ReferralDays)}
			r.judge(m.partner, s.cat.partners[m.partner], b, order, p)
			refs = append(refs, r)
		}
		slices.SortStableFunc(refs[d.cookies:], func(a, b ref) int { return cmp.Compare(a.at, b.at) })
	}
	sc.refs, d.refs = refs, refs
	cookies, history := refs[:d.cookies:d.cookies], refs[d.cookies:]
	if w := pick(cookies, p.Credit); w >= 0 {
		settle(cookies, w, p.Credit)
		d.winner = w
		lose(history, reasonCookiePrecedes)
	} else if p.Tracking == events.TrackingHistoryAndCookies {
		if w := pick(history, p.Credit); w >= 0 {
			settle(history, w, p.Credit)
			d.winner = d.cookies + w
		}
	} else {
		lose(history, reasonCookiesOnly)
	}
	return d
}

// lose marks the qualifying referrals as losing for a reason.
func lose(refs []ref, why reasonCode) {
	for i := range refs {
		if refs[i].qualifies {
			refs[i].why = why
		}
	}
}

// settle marks referral w as the winner and the other qualifying ones as
// losers to it.
func settle(refs []ref, w int, credit string) {
	won, lost := reasonWonLast, reasonLostLater
	if credit == events.CreditFirst {
		won, lost = reasonWonFirst, reasonLostEarlier
	}
	lose(refs, lost)
	refs[w].why = won
}

// pick returns the index of the qualifying referral that the credit rule
// chooses, or -1. Ties in time go to log order: the earlier for first
// credit, the later for last credit.
func pick(refs []ref, credit string) int {
	best := -1
	for i, r := range refs {
		if !r.qualifies {
			continue
		}
		switch {
		case best < 0:
			best = i
		case credit == events.CreditFirst && r.at < refs[best].at:
			best = i
		case credit != events.CreditFirst && r.at >= refs[best].at:
			best = i
		}
	}
	return best
}

// judge decides whether the referral of a partner (nil: not registered)
// qualifies for an order placed at order (Unix nanoseconds), or why not.
func (r *ref) judge(partnerID string, partner *Partner, b *Buyer, order int64, p *Policy) {
	switch {
	case partnerID == "":
		r.why = reasonLinkUnknown
	case partner == nil:
		r.why = reasonPartnerUnknown
	case r.at > order:
		r.why = reasonAfterOrder
	case r.days > 0 && order-r.at > int64(r.days)*int64(day):
		r.why = reasonExpired
	case p.SelfReferral == events.SelfReferralReject && partner.ContactID != "" && partner.ContactID == b.ContactID:
		r.why = reasonSelfReferral
	default:
		r.qualifies = true
	}
}

// explain puts a decision into words: every referral as a candidate with
// its outcome and reason, and notes on what the order did not present.
func (s *State) explain(d *decision, b *Buyer) Decision {
	var out Decision
	if d.noVisitor {
		out.Notes = append(out.Notes, "no cookie was presented: the order has no visitor_id")
	} else if d.noCookieBefore {
		out.Notes = append(out.Notes, "no cookie click was presented: visitor "+b.VisitorID+" has no clicks before the order")
	}
	if d.noContact {
		out.Notes = append(out.Notes, "no contact is known for the order, so it has no referral history")
	}
	if d.browsersLeft > 0 {
		out.Notes = append(out.Notes, fmt.Sprintf("contact %s has %d more browsers than the %d identified last, whose clicks the history counts (a contact id many people share?)", b.ContactID, d.browsersLeft, maxHistoryBrowsers))
	}
	var listed []int // the indexes of the listed refs, when not all are
	n := len(d.refs)
	if n > maxCandidatesListed {
		listed = d.listed()
		out.Notes = append(out.Notes, fmt.Sprintf("%d earlier candidates are not listed (at most %d are)", len(d.refs)-len(listed), maxCandidatesListed))
		n = len(listed)
	}
	out.Candidates = fresh(s, &s.reuse.candidates, n)
	ref := func(j int) int {
		if listed == nil {
			return j // nearly always: every referral is listed
		}
		return listed[j]
	}
	// The listed clicks' ids share one string: an explanation is put into
	// words for nearly every order, and a string each was most of its
	// allocations.
	size := 0
	for j := range out.Candidates {
		if r := &d.refs[ref(j)]; r.kind != refManual {
			size += len(s.clicks.idBytes(r.n))
		}
	}
	var ids strings.Builder
	ids.Grow(size)
	for j := range out.Candidates {
		if r := &d.refs[ref(j)]; r.kind != refManual {
			ids.Write(s.clicks.idBytes(r.n))
		}
	}
	all := ids.String()
	for j := range out.Candidates {
		i := ref(j)
		c := &out.Candidates[j]
		s.candidateInto(c, d, i, b)
		if r := &d.refs[i]; r.kind != refManual {
			n := len(s.clicks.idBytes(r.n))
			c.ClickID, all = all[:n], all[n:]
		}
		if i == d.winner {
			out.Winner = c
		}
	}
	return out
}

// maxCandidatesListed bounds the candidates an explanation lists. A
// browser that clicked thousands of times (a bot, a kiosk) would otherwise
// make one order's explanation larger than a ledger commit may be, and no
// reader needs them all: the winner is always listed, then the latest of
// the others.
const maxCandidatesListed = 50

// listed is the indexes of the referrals an explanation of a decision of
// more than maxCandidatesListed lists, in the decision's order: the winner
// and the latest others.
func (d *decision) listed() []int {
	latest := make([]int, len(d.refs))
	for i := range latest {
		latest[i] = i
	}
	slices.SortStableFunc(latest, func(a, b int) int {
		switch {
		case a == d.winner:
			return -1
		case b == d.winner:
			return 1
		}
		return cmp.Compare(d.refs[b].at, d.refs[a].at) // latest first; ties in the decision's order
	})
	keep := latest[:maxCandidatesListed]
	slices.Sort(keep)
	return keep
}

// origin is where referral r of a decision came from: its partner, its
// source, and for a click the link and the link's program (the click id
// is left to the caller, which copies it where it needs it).
func (s *State) origin(d *decision, r *ref) credit {
	if r.kind == refManual {
		return credit{partner: d.manual[r.n].partner, source: SourceManual}
	}
	link := &s.cat.links[s.clicks.get(r.n).link]
	source := SourceHistory
	if r.kind == refCookie {
		source = SourceCookie
	}
	// The link's partner pointer is the registered partner's record
	// (set only while the link is in effect; a partner's record is never
	// replaced), so pricing needs no lookup of it.
	return credit{partner: link.PartnerID, link: link.Code, program: link.ProgramID, source: source, who: link.partner}
}

// candidate puts referral i of a decision into words.
func (s *State) candidate(d *decision, i int, b *Buyer) Candidate {
	var c Candidate
	s.candidateInto(&c, d, i, b)
	if r := &d.refs[i]; r.kind != refManual {
		c.ClickID = s.clicks.id(r.n)
	}
	return c
}

// candidateInto puts referral i of a decision into words in c, which must
// be zero, but for a click's id, which it leaves to the caller: it is
// written in place, as a candidate is large and an explanation holds many.
func (s *State) candidateInto(c *Candidate, d *decision, i int, b *Buyer) {
	r := &d.refs[i]
	c.Outcome, c.Time = OutcomeLost, time.Unix(0, r.at).UTC()
	o := s.origin(d, r)
	c.PartnerID, c.LinkCode, c.ProgramID, c.Source = o.partner, o.link, o.program, o.source
	what, field := "referral", "referral_days"
	switch r.kind {
	case refManual:
		c.Time = d.manual[r.n].at
	case refCookie:
		what, field = "cookie", "cookie_days"
	}
	if i == d.winner {
		c.Outcome = OutcomeWon
	}
	c.Reason.code = r.why
	switch r.why {
	case reasonLinkUnknown:
		c.Reason.a = c.LinkCode
	case reasonPartnerUnknown:
		c.Reason.a = c.PartnerID
		if _, ok := s.cat.partners[c.PartnerID]; ok && c.LinkCode != "" {
			// A link held for its program (held.go): its partner is known.
			c.Reason = Reason{code: reasonLinkHeld, a: c.LinkCode, b: c.ProgramID}
		}
	case reasonAfterOrder:
		c.Reason.a, c.Reason.at = kindOf(c), r.at
	case reasonExpired:
		c.Reason.a, c.Reason.at, c.Reason.b, c.Reason.n = what, c.Time.Add(time.Duration(r.days)*day).UnixNano(), field, r.days
	case reasonSelfReferral:
		c.Reason.a, c.Reason.b = c.PartnerID, b.ContactID
	}
}

func kindOf(c *Candidate) string {
	if c.Source == SourceManual {
		return "referral"
	}
	return "click"
}
