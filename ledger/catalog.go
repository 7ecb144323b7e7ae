package ledger

import (
	"sort"
	"strings"

	"github.com/refledger/refledger/internal/digestmap"
	"github.com/refledger/refledger/money"
)

// Partner is a registered referral partner.
type Partner struct {
	ID         string
	Name       string
	Parent     string
	ContactID  string
	CookieDays *int // overrides the policy's cookie lifetime
	Programs   []string

	// enrolled is the programs of Programs, in their order: pricing an
	// order reads each of them, and a map lookup of every one cost an
	// order about half a microsecond at ten million facts. A program's
	// record is updated in place, never replaced.
	enrolled []*Program
	// account is the partner's account in accountCurrency, once an
	// accrual it won moved it (State.accountOf): the next finds it
	// without a map lookup, which at ten million facts is a few cache
	// misses.
	account         *account
	accountCurrency string
}

// Program is a commission program.
type Program struct {
	ID           string
	Name         string
	Priority     int
	DefaultRate  *money.Rate
	ProductRates map[string]money.Rate
	TierRates    []money.Rate
	Cycles       int // commissionable subscription payments; 0 = all
}

// rateFor returns the program's rate for a product, if it covers it.
func (p *Program) rateFor(product string) (money.Rate, bool) {
	if r, ok := p.ProductRates[product]; ok {
		return r, true
	}
	if p.DefaultRate != nil {
		return *p.DefaultRate, true
	}
	return money.Rate{}, false
}

// Link is a partner's tracking link.
type Link struct {
	Code       string
	PartnerID  string
	ProgramID  string
	LandingURL string

	partner *Partner // the registered partner; a partner's record is updated in place
	// cookieDays is the partner's CookieDays, -1 for none: deciding an
	// order reads it for every click of the buyer, and the partner's
	// record is a cache miss further (Catalog.partnerChanged keeps it).
	cookieDays int32
}

// InEffect reports whether the link counts: its partner is registered and
// its program, if it names one, defined. A link that is not is unknown
// (a code only clicks named) or held (held.go).
func (l Link) InEffect() bool { return l.partner != nil }

// withPartner is the link with its partner's record and what it copies
// from it. Its PartnerID becomes the record's own string (the same id):
// a credit takes it from the link, and pricing compares it with the
// shares' partner, which the record gave them; strings sharing their bytes
// compare without reading them.
func (l Link) withPartner(p *Partner) Link {
	l.partner, l.cookieDays = p, -1
	if p != nil {
		l.PartnerID = p.ID
		if p.CookieDays != nil {
			l.cookieDays = int32(*p.CookieDays)
		}
	}
	return l
}

// effectivePartner is the record of link l's partner while the link is in
// effect (its partner registered, its program, if it names one, defined),
// else nil: a held link (held.go) counts for nothing.
func (c *Catalog) effectivePartner(l Link) *Partner {
	if l.ProgramID != "" && c.programs[l.ProgramID] == nil {
		return nil
	}
	return c.partners[l.PartnerID]
}

// partnerChanged refreshes what the links of partner p copy from its
// record, which has changed.
func (c *Catalog) partnerChanged(p *Partner) {
	for i := range c.links {
		if c.links[i].partner == p {
			c.links[i] = c.links[i].withPartner(p)
		}
	}
}

// Catalog holds partners, programs, enrollments and links. Later
// definitions of the same id replace earlier ones.
type Catalog struct {
	partners map[string]*Partner
	programs map[string]*Program
	links    []Link // index = link number held by clicks
	// linkNum finds a link's number by the digest of its code, in one
	// probe of a flat table: every click asks it, and a map keyed by the
	// code took a tenth of a fold of ten million facts (hashing, then
	// reading the key's bytes again to compare). Codes are digested as
	// visitors and contacts are (a collision needs billions of codes).
	linkNum *digestmap.Map[int32]
}

func newCatalog() *Catalog {
	return &Catalog{partners: map[string]*Partner{}, programs: map[string]*Program{}, linkNum: digestmap.New[int32](0)}
}

// Partner returns a partner by id.
func (c *Catalog) Partner(id string) (*Partner, bool) {
	p, ok := c.partners[id]
	return p, ok
}

// Program returns a program by id.
func (c *Catalog) Program(id string) (*Program, bool) {
	p, ok := c.programs[id]
	return p, ok
}

// Link returns a link by code.
func (c *Catalog) Link(code string) (Link, bool) {
	n, ok := c.linkNum.Get(digest(code))
	if !ok {
		return Link{}, false
	}
	return c.links[n], true
}

// linkNumber returns the number of a link code, registering an unknown code
// (a click may name a link that is not created yet) so clicks stay compact.
func (c *Catalog) linkNumber(code string) int32 {
	n, held := c.linkNum.Ref(digest(code))
	if held {
		return *n
	}
	// The code is kept: a copy, since a click's strings may share the
	// stored bytes of its commit (events.StoredDecoder.TransientClicks).
	*n = int32(len(c.links))
	c.links = append(c.links, Link{Code: strings.Clone(code)}.withPartner(nil))
	return *n
}

func (c *Catalog) setLink(l Link) {
	c.links[c.linkNumber(l.Code)] = l
}

// Partners lists partners sorted by id.
func (c *Catalog) Partners() []*Partner {
	out := make([]*Partner, 0, len(c.partners))
	for _, p := range c.partners {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// bestProgram picks, among the partner's enrolled programs that cover the
// product, the one with the lowest priority number (ties: lowest id).
func (c *Catalog) bestProgram(partner *Partner, product string) (*Program, money.Rate, bool) {
	var best *Program
	var bestRate money.Rate
	for _, p := range partner.enrolled {
		r, ok := p.rateFor(product)
		if !ok {
			continue
		}
		if best == nil || p.Priority < best.Priority || (p.Priority == best.Priority && p.ID < best.ID) {
			best, bestRate = p, r
		}
	}
	return best, bestRate, best != nil
}
