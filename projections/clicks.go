package projections

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"
)

// Click is one click in a partner's history, with the exact link clicked
// and that link's program.
type Click struct {
	ClickID   string    `json:"click_id"`
	Time      time.Time `json:"time"`
	LinkCode  string    `json:"link_code"`
	ProgramID string    `json:"program_id"`
	PartnerID string    `json:"partner_id"`
	VisitorID string    `json:"visitor_id"`
	ContactID string    `json:"contact_id"`
	IP        string    `json:"ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	Referrer  string    `json:"referrer,omitempty"`
}

// Clicks is the read model of click history. Clicks are kept by link code
// and joined to the link when read, so a click on a link that is created
// later still lands in the right history.
type Clicks struct {
	mu           sync.RWMutex
	links        map[string]events.LinkCreated
	partnerLinks map[string][]string
	byLink       map[string][]Click
	byVisitor    map[string][]clickRef
	byContact    map[string][]clickRef // clicks that carried the contact id
	visitorsOf   map[string][]string   // contact -> identified visitors
	manual       map[string][]Referral
}

// clickRef points at a click: its link and its index there.
type clickRef struct {
	link string
	i    int
}

// NewClicks returns an empty click history.
func NewClicks() *Clicks {
	return &Clicks{
		links: map[string]events.LinkCreated{}, partnerLinks: map[string][]string{}, byLink: map[string][]Click{},
		byVisitor: map[string][]clickRef{}, byContact: map[string][]clickRef{}, visitorsOf: map[string][]string{},
		manual: map[string][]Referral{},
	}
}

// ApplyFacts adds the clicks and links of one fact commit.
func (c *Clicks) ApplyFacts(fc FactCommit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range fc.Facts {
		switch d := f.Data.(type) {
		case *events.LinkCreated:
			if old, ok := c.links[d.LinkCode]; ok && old.PartnerID != d.PartnerID {
				continue // the ledger refuses a link that changes hands
			} else if !ok {
				c.partnerLinks[d.PartnerID] = append(c.partnerLinks[d.PartnerID], d.LinkCode)
			}
			c.links[d.LinkCode] = *d
		case *events.ClickRecorded:
			ref := clickRef{link: d.LinkCode, i: len(c.byLink[d.LinkCode])}
			c.byLink[d.LinkCode] = append(c.byLink[d.LinkCode], Click{
				ClickID: d.ClickID, Time: f.Time, LinkCode: d.LinkCode, VisitorID: d.VisitorID,
				ContactID: d.ContactID, IP: d.IP, UserAgent: d.UserAgent, Referrer: d.Referrer,
			})
			c.byVisitor[d.VisitorID] = append(c.byVisitor[d.VisitorID], ref)
			if d.ContactID != "" {
				c.byContact[d.ContactID] = append(c.byContact[d.ContactID], ref)
			}
		case *events.ContactIdentified:
			c.identify(d.VisitorID, d.ContactID)
		case *events.OrderPlaced:
			if d.VisitorID != "" && d.ContactID != "" {
				c.identify(d.VisitorID, d.ContactID)
			}
		case *events.ReferralAssigned:
			c.manual[d.ContactID] = append(c.manual[d.ContactID], Referral{Source: "manual", Time: f.Time, PartnerID: d.PartnerID, Note: d.Note})
		}
	}
}

func (c *Clicks) identify(visitor, contact string) {
	if !contains(c.visitorsOf[contact], visitor) {
		c.visitorsOf[contact] = append(c.visitorsOf[contact], visitor)
	}
}

// Referral is one entry of a contact's referral history.
type Referral struct {
	Source    string    `json:"source"` // click (by an identified browser or carrying the contact) or manual
	Time      time.Time `json:"time"`
	PartnerID string    `json:"partner_id"`
	ClickID   string    `json:"click_id,omitempty"`
	LinkCode  string    `json:"link_code,omitempty"`
	ProgramID string    `json:"program_id,omitempty"`
	VisitorID string    `json:"visitor_id,omitempty"`
	Note      string    `json:"note,omitempty"`
}

// Referrals lists a contact's referral history in time order: clicks that
// carried the contact id, clicks by every browser identified as the contact,
// and manual referrals.
func (c *Clicks) Referrals(contact string) []Referral {
	c.mu.RLock()
	defer c.mu.RUnlock()
	seen := map[clickRef]bool{}
	out := []Referral{}
	addClick := func(ref clickRef) {
		if seen[ref] {
			return
		}
		seen[ref] = true
		k, link := c.byLink[ref.link][ref.i], c.links[ref.link]
		out = append(out, Referral{Source: "click", Time: k.Time, PartnerID: link.PartnerID, ClickID: k.ClickID, LinkCode: k.LinkCode, ProgramID: link.ProgramID, VisitorID: k.VisitorID})
	}
	for _, ref := range c.byContact[contact] {
		addClick(ref)
	}
	for _, v := range c.visitorsOf[contact] {
		for _, ref := range c.byVisitor[v] {
			addClick(ref)
		}
	}
	out = append(out, c.manual[contact]...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// OfPartner lists a partner's clicks in time order (log order on ties).
func (c *Clicks) OfPartner(partnerID string) []Click {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := []Click{}
	for _, code := range c.partnerLinks[partnerID] {
		link := c.links[code]
		for _, k := range c.byLink[code] {
			k.PartnerID, k.ProgramID = link.PartnerID, link.ProgramID
			out = append(out, k)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// LoadClicks reads the whole fact log into a click history.
func LoadClicks(ctx context.Context, facts store.Log) (*Clicks, error) {
	c := NewClicks()
	err := ReadFacts(ctx, facts, 1, 0, func(fc FactCommit) error { c.ApplyFacts(fc); return nil })
	return c, err
}

// LoadLedger reads the whole ledger log into a read model.
func LoadLedger(ctx context.Context, ledgerLog store.Log) (*Ledger, error) {
	return LoadInto(ctx, ledgerLog, NewLedger(ledgerLog))
}

// LoadInto reads the whole ledger log into l.
func LoadInto(ctx context.Context, ledgerLog store.Log, l *Ledger) (*Ledger, error) {
	err := ledgerLog.Read(ctx, 1, func(s store.Stored) error {
		for _, e := range s.Commit.Events {
			if err := l.ApplyLedger(s.Position, recordOf(e)); err != nil {
				return err
			}
		}
		return nil
	})
	return l, err
}
