package projections

import (
	"sort"
	"strings"
	"sync"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/ledger"
)

// Catalog is the read model of partners, programs, enrollments and links,
// for the API and the click redirect. Later definitions replace earlier
// ones, as in the engine; a link never changes partner. It holds what the
// engine holds (ledger/held.go): a link or an enrollment whose partner or
// program is not known yet is listed as held, saying what it waits for,
// and takes effect when that arrives. A held link still redirects and its
// clicks are recorded: they are facts, and count once the link does.
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
			if ledger.MakesACycle(d.PartnerID, d.ParentPartnerID, len(c.partners), c.parentOf) {
				continue // the ledger refuses it too (and lists the refusal)
			}
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

// parentOf is a registered partner's parent; the caller holds c.mu.
func (c *Catalog) parentOf(id string) (string, bool) {
	p, ok := c.partners[id]
	return p.ParentPartnerID, ok
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

// PartnerView is a partner with its enrolled programs: those in effect,
// and those held until the program is defined.
type PartnerView struct {
	events.PartnerRegistered
	Programs     []string `json:"programs"`
	HeldPrograms []string `json:"held_programs,omitempty"`
}

// partnerView is partner p's view; c.mu must be held.
func (c *Catalog) partnerView(p events.PartnerRegistered) PartnerView {
	v := PartnerView{PartnerRegistered: p, Programs: []string{}}
	for _, id := range c.enrolled[p.PartnerID] {
		if _, ok := c.programs[id]; ok {
			v.Programs = append(v.Programs, id)
		} else {
			v.HeldPrograms = append(v.HeldPrograms, id)
		}
	}
	return v
}

// Link statuses in LinkView.
const (
	LinkActive = "active"
	LinkHeld   = "held"
)

// LinkView is a link with its status: active, or held with what it
// waits for (the words of the ledger's held refusal).
type LinkView struct {
	events.LinkCreated
	Status  string `json:"status"`
	Missing string `json:"missing,omitempty"`
}

// linkView is link l's view; c.mu must be held.
func (c *Catalog) linkView(l events.LinkCreated) LinkView {
	var missing []string
	if _, ok := c.partners[l.PartnerID]; !ok {
		missing = append(missing, "partner "+l.PartnerID+" is not registered")
	}
	if _, ok := c.programs[l.ProgramID]; l.ProgramID != "" && !ok {
		missing = append(missing, "program "+l.ProgramID+" is not defined")
	}
	if len(missing) > 0 {
		return LinkView{LinkCreated: l, Status: LinkHeld, Missing: strings.Join(missing, "; ")}
	}
	return LinkView{LinkCreated: l, Status: LinkActive}
}

// Partners lists partners by id.
func (c *Catalog) Partners() []PartnerView {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]PartnerView, 0, len(c.partners))
	for _, p := range c.partners {
		out = append(out, c.partnerView(p))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PartnerID < out[j].PartnerID })
	return out
}

// Partner returns one partner.
func (c *Catalog) Partner(id string) (PartnerView, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.partners[id]
	if !ok {
		return PartnerView{}, false
	}
	return c.partnerView(p), true
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

// Links lists links by code, each with its status.
func (c *Catalog) Links() []LinkView {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]LinkView, 0, len(c.links))
	for _, l := range c.links {
		out = append(out, c.linkView(l))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LinkCode < out[j].LinkCode })
	return out
}
