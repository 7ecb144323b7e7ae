package projections

import (
	"sort"
	"sync"

	"github.com/refledger/refledger/events"
)

// Catalog is the read model of partners, programs, enrollments and links,
// for the API and the click redirect. Later definitions replace earlier
// ones, as in the engine; a link never changes partner.
type Catalog struct {
	mu       sync.RWMutex
	partners map[string]events.PartnerRegistered
	programs map[string]events.ProgramDefined
	enrolled map[string][]string // partner -> programs
	links    map[string]events.LinkCreated
}

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog {
	return &Catalog{
		partners: map[string]events.PartnerRegistered{}, programs: map[string]events.ProgramDefined{},
		enrolled: map[string][]string{}, links: map[string]events.LinkCreated{},
	}
}

// ApplyFacts adds the catalog facts of one commit.
func (c *Catalog) ApplyFacts(fc FactCommit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range fc.Facts {
		switch d := f.Data.(type) {
		case *events.PartnerRegistered:
			c.partners[d.PartnerID] = *d
		case *events.ProgramDefined:
			c.programs[d.ProgramID] = *d
		case *events.PartnerEnrolled:
			if !contains(c.enrolled[d.PartnerID], d.ProgramID) {
				c.enrolled[d.PartnerID] = append(c.enrolled[d.PartnerID], d.ProgramID)
			}
		case *events.LinkCreated:
			if old, ok := c.links[d.LinkCode]; !ok || old.PartnerID == d.PartnerID {
				c.links[d.LinkCode] = *d
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Link returns a link by code.
func (c *Catalog) Link(code string) (events.LinkCreated, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	l, ok := c.links[code]
	return l, ok
}

// PartnerView is a partner with its enrolled programs.
type PartnerView struct {
	events.PartnerRegistered
	Programs []string `json:"programs"`
}

// Partners lists partners by id.
func (c *Catalog) Partners() []PartnerView {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]PartnerView, 0, len(c.partners))
	for id, p := range c.partners {
		out = append(out, PartnerView{PartnerRegistered: p, Programs: append([]string{}, c.enrolled[id]...)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PartnerID < out[j].PartnerID })
	return out
}

// Partner returns one partner.
func (c *Catalog) Partner(id string) (PartnerView, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.partners[id]
	return PartnerView{PartnerRegistered: p, Programs: append([]string{}, c.enrolled[id]...)}, ok
}

// Programs lists programs by id.
func (c *Catalog) Programs() []events.ProgramDefined {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]events.ProgramDefined, 0, len(c.programs))
	for _, p := range c.programs {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProgramID < out[j].ProgramID })
	return out
}

// Links lists links by code.
func (c *Catalog) Links() []events.LinkCreated {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]events.LinkCreated, 0, len(c.links))
	for _, l := range c.links {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LinkCode < out[j].LinkCode })
	return out
}
