package projections

import (
	"context"
	"encoding/binary"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/internal/digestmap"
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
//
// Each click is one row of parallel arrays: its time, symbols for the
// strings that repeat (link code, user agent, referrer), the offset of its
// other strings (click id, visitor, contact, IP) in one byte arena, and
// links to the previous click on the same link and by the same visitor.
// That is about a hundred bytes a click, and a snapshot of flat arrays.
type Clicks struct {
	mu           sync.RWMutex
	links        map[string]events.LinkCreated
	partnerLinks map[string][]string

	syms          symbols
	at            []int64  // Unix nanoseconds
	link          []uint32 // symbols
	agent         []uint32
	referrer      []uint32
	text          []uint64 // arena offset of click id, visitor, contact, IP
	arena         []byte
	prevOnLink    []int32 // previous click on the same link, -1 for none
	prevOfVisitor []int32 // previous click by the same visitor, -1 for none
	lastOnLink    map[uint32]int32
	// lastOfVisitor is keyed by a digest of the visitor id; rows hold the
	// id itself, so a digest collision is filtered out when read.
	lastOfVisitor map[uint64]int32
	byContact     map[string][]int32 // clicks that carried the contact id
	visitorsOf    map[string][]string
	manual        map[string][]Referral
}

// NewClicks returns an empty click history.
func NewClicks() *Clicks {
	return &Clicks{
		links: map[string]events.LinkCreated{}, partnerLinks: map[string][]string{}, syms: newSymbols(),
		lastOnLink: map[uint32]int32{}, lastOfVisitor: map[uint64]int32{}, byContact: map[string][]int32{},
		visitorsOf: map[string][]string{}, manual: map[string][]Referral{},
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
			c.add(f.Time, d)
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

func (c *Clicks) add(at time.Time, d *events.ClickRecorded) {
	row := int32(len(c.at))
	link := c.syms.of(d.LinkCode)
	c.at = append(c.at, at.UnixNano())
	c.link = append(c.link, link)
	c.agent = append(c.agent, c.syms.of(d.UserAgent))
	c.referrer = append(c.referrer, c.syms.of(d.Referrer))
	c.text = append(c.text, uint64(len(c.arena)))
	for _, s := range []string{d.ClickID, d.VisitorID, d.ContactID, d.IP} {
		c.arena = binary.AppendUvarint(c.arena, uint64(len(s)))
		c.arena = append(c.arena, s...)
	}
	c.prevOnLink = append(c.prevOnLink, lastOr(c.lastOnLink, link))
	c.lastOnLink[link] = row
	v := visitorDigest(d.VisitorID)
	c.prevOfVisitor = append(c.prevOfVisitor, lastOr(c.lastOfVisitor, v))
	c.lastOfVisitor[v] = row
	if d.ContactID != "" {
		c.byContact[d.ContactID] = append(c.byContact[d.ContactID], row)
	}
}

func lastOr[K comparable](m map[K]int32, k K) int32 {
	if i, ok := m[k]; ok {
		return i
	}
	return -1
}

// visitorDigest is the engine's digest (digestmap.Digest): the read
// models' snapshot holds it.
func visitorDigest(s string) uint64 { return digestmap.Digest(s) }

// click rebuilds row i.
func (c *Clicks) click(i int32) Click {
	var strs [4]string
	b := c.arena[c.text[i]:]
	for j := range strs {
		n, w := binary.Uvarint(b)
		strs[j], b = string(b[w:w+int(n)]), b[w+int(n):]
	}
	return Click{
		ClickID: strs[0], Time: time.Unix(0, c.at[i]).UTC(), LinkCode: c.syms.names[c.link[i]],
		VisitorID: strs[1], ContactID: strs[2], IP: strs[3],
		UserAgent: c.syms.names[c.agent[i]], Referrer: c.syms.names[c.referrer[i]],
	}
}

// chain lists rows from last back along prev, oldest first, keeping those
// keep accepts.
func chain(last int32, prev []int32, keep func(int32) bool) []int32 {
	var out []int32
	for i := last; i >= 0; i = prev[i] {
		if keep(i) {
			out = append(out, i)
		}
	}
	slices.Reverse(out)
	return out
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
	seen := map[int32]bool{}
	out := []Referral{}
	addClick := func(i int32) {
		if seen[i] {
			return
		}
		seen[i] = true
		k := c.click(i)
		link := c.links[k.LinkCode]
		out = append(out, Referral{Source: "click", Time: k.Time, PartnerID: link.PartnerID, ClickID: k.ClickID, LinkCode: k.LinkCode, ProgramID: link.ProgramID, VisitorID: k.VisitorID})
	}
	for _, i := range c.byContact[contact] {
		addClick(i)
	}
	for _, v := range c.visitorsOf[contact] {
		last, ok := c.lastOfVisitor[visitorDigest(v)]
		if !ok {
			continue
		}
		for _, i := range chain(last, c.prevOfVisitor, func(i int32) bool { return c.click(i).VisitorID == v }) {
			addClick(i)
		}
	}
	out = append(out, c.manual[contact]...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// OfPartner lists a partner's clicks in time order (log order on ties),
// those of [from, to) when either is set: a portal pages through a large
// partner's history by period.
func (c *Clicks) OfPartner(partnerID string, from, to time.Time) []Click {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := []Click{}
	for _, code := range c.partnerLinks[partnerID] {
		link := c.links[code]
		sym, ok := c.syms.ids[code]
		if !ok {
			continue
		}
		last, ok := c.lastOnLink[sym]
		if !ok {
			continue
		}
		inPeriod := func(i int32) bool {
			return (from.IsZero() || c.at[i] >= from.UnixNano()) && (to.IsZero() || c.at[i] < to.UnixNano())
		}
		for _, i := range chain(last, c.prevOnLink, inPeriod) {
			k := c.click(i)
			k.PartnerID, k.ProgramID = link.PartnerID, link.ProgramID
			out = append(out, k)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// symbols numbers strings that recur; 0 is "".
type symbols struct {
	ids   map[string]uint32
	names []string
}

func newSymbols() symbols { return symbols{ids: map[string]uint32{"": 0}, names: []string{""}} }

func (s *symbols) of(name string) uint32 {
	if id, ok := s.ids[name]; ok {
		return id
	}
	id := uint32(len(s.names))
	s.ids[name] = id
	s.names = append(s.names, name)
	return id
}

// LoadReadModels reads the catalog and the click history from their
// snapshot at path, then the facts appended since; without a usable
// snapshot it reads the whole fact log, and reason says why (path ""
// asks for none, and gives no reason). folded counts the facts read from
// the log; through is the position the models stand at.
func LoadReadModels(ctx context.Context, facts store.Log, path string) (cat *Catalog, clicks *Clicks, through store.Position, folded int, reason, err error) {
	cat, clicks = NewCatalog(), NewClicks()
	if path != "" {
		through, reason = ReadReadModels(ctx, facts, path, cat, clicks)
		if reason != nil {
			cat, clicks, through = NewCatalog(), NewClicks(), 0
		}
	}
	err = ReadFacts(ctx, facts, through+1, 0, func(fc FactCommit) error {
		cat.ApplyFacts(fc)
		clicks.ApplyFacts(fc)
		through, folded = fc.Position, folded+len(fc.Facts)
		return nil
	})
	return cat, clicks, through, folded, reason, err
}

// LoadLedger reads the whole ledger log into a read model.
func LoadLedger(ctx context.Context, ledgerLog store.Log) (*Ledger, error) {
	return LoadInto(ctx, ledgerLog, NewLedger(ledgerLog))
}

// LoadInto reads the whole ledger log into l.
func LoadInto(ctx context.Context, ledgerLog store.Log, l *Ledger) (*Ledger, error) {
	return l, loadFrom(ctx, ledgerLog, 1, l)
}

// loadFrom reads the ledger log from position from on into l.
func loadFrom(ctx context.Context, ledgerLog store.Log, from store.Position, l *Ledger) error {
	return ledgerLog.Read(ctx, from, func(s store.Stored) error {
		for _, e := range s.Commit.Events {
			if err := l.ApplyLedger(s.Position, recordOf(e)); err != nil {
				return err
			}
		}
		return nil
	})
}
