package ledger

import (
	"math"
	"slices"
	"strings"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/internal/snapshot"
)

// Definitions that arrive early. Facts from different publishers, or an
// import, may bring a definition before one it names: a link before its
// partner or its program, an enrollment before its partner or program, a
// manual referral before its partner. Such a fact is held, not refused:
// it is listed among the refusals as held (Refusal.Held), saying what it
// waits for, and takes effect when that arrives (a Release names it
// then). Until then it counts for nothing: a held link's clicks lose
// ("partner ann is not registered"), a held enrollment prices nothing.
// A link claims its code from its first definition, held or not, so
// another partner's link on that code is refused.
//
// When a held definition takes effect, or a link whose code clicks already
// named is created, the orders decided while it was missing are decided
// again by the late-referral machinery (late.go), with adjusting entries
// caused by the definition that completed it:
//   - a link: the orders its clicks concern, as if each click came late;
//   - a manual referral: the contact's orders from its time on;
//   - an enrollment: the orders credited to the partner from the
//     enrollment's time on, priced again;
//   - a partner registered after a partner naming it as parent: the
//     orders credited to that partner and those below it, priced again.
//
// A definition of something already known (a program's new rates, a
// partner's new cookie lifetime) still applies to later orders only.

// heldKind says what a held fact defines.
type heldKind uint8

const (
	heldLink heldKind = iota + 1
	heldEnrollment
	heldReferral
	heldParent // not a held fact: a registered partner whose parent is not (nothing is listed)
)

// heldDef is a fact waiting for the partner or program it names.
type heldDef struct {
	kind      heldKind
	fact, typ string // the fact's source/id and type
	at        int64  // the fact's time, Unix nanoseconds
	// partner and program are what it names (program "" for none);
	// contact is a referral's, code a link's.
	partner, program, contact, code string
}

// heldDefs is what waits, by what it waits for (a fact missing both its
// partner and its program waits for the partner first), and the clicks
// made on links not in effect. Each list is bounded by the facts held;
// orphans by the clicks on links not in effect (an unknown code, a held
// link), which the redirect never records for an unknown code.
type heldDefs struct {
	byPartner map[string][]heldDef
	byProgram map[string][]heldDef
	orphans   map[int32][]orphanClick // link number -> clicks on it while not in effect
}

// orphanClick is what a click on a link not in effect concerns, should the
// link take effect: its buyer and the earliest order time it counts for.
type orphanClick struct {
	from             int64
	visitor, contact string
}

func newHeldDefs() heldDefs {
	return heldDefs{byPartner: map[string][]heldDef{}, byProgram: map[string][]heldDef{}, orphans: map[int32][]orphanClick{}}
}

// missing says what a definition naming partner and program (program ""
// for none) waits for, or "" when both are known.
func (s *State) missing(partner, program string) string {
	var out []string
	if _, ok := s.cat.partners[partner]; !ok {
		out = append(out, "partner "+partner+" is not registered")
	}
	if program != "" && s.cat.programs[program] == nil {
		out = append(out, "program "+program+" is not defined")
	}
	return strings.Join(out, "; ")
}

// hold puts h in the list of what it waits for.
func (s *State) hold(h heldDef) {
	if _, ok := s.cat.partners[h.partner]; !ok {
		s.held.byPartner[h.partner] = append(s.held.byPartner[h.partner], h)
		return
	}
	s.held.byProgram[h.program] = append(s.held.byProgram[h.program], h)
}

// what names a held fact in words.
func (h *heldDef) what() string {
	switch h.kind {
	case heldLink:
		return "link " + h.code
	case heldEnrollment:
		return "enrollment of " + h.partner + " in " + h.program
	}
	return "referral of " + h.contact + " to " + h.partner
}

// holdFact holds h, which waits for missing, and lists it as held.
func (s *State) holdFact(f *events.Fact, h heldDef, missing string, out *Output) {
	h.fact, h.typ, h.at = f.Source+"/"+f.ID, f.Type, f.Time.UnixNano()
	s.hold(h)
	out.Refusals = append(out.Refusals, Refusal{Fact: h.fact, Type: f.Type, Time: f.Time, Reason: h.what() + " is held: " + missing, Held: true})
}

// dropHeldLink removes the held definition of link code, which a later
// definition replaces, and lists it as released by f.
func (s *State) dropHeldLink(code string, f *events.Fact, out *Output) {
	for _, lists := range []map[string][]heldDef{s.held.byPartner, s.held.byProgram} {
		for k, list := range lists {
			i := slices.IndexFunc(list, func(h heldDef) bool { return h.kind == heldLink && h.code == code })
			if i < 0 {
				continue
			}
			out.Released = append(out.Released, Release{Fact: list[i].fact, Type: list[i].typ, By: f.Source + "/" + f.ID})
			if list = slices.Delete(list, i, i+1); len(list) == 0 {
				delete(lists, k)
			} else {
				lists[k] = list
			}
			return // a code has one held definition at most
		}
	}
}

// redo gathers the orders that one fact has decided again: those a late
// referral (or a link taking effect) concerns, and those priced again
// with the same decision (reprice).
type redo struct {
	positions []int32
	from      int64 // the earliest order time concerned
	reprice   map[int32]bool
}

// concern adds the orders a referral of visitor and contact counts for
// from from on.
func (s *State) concern(r *redo, visitor, contact string, from int64) {
	if from > s.late.lastOrderAt {
		return
	}
	s.buildLate()
	if len(r.positions) == 0 || from < r.from {
		r.from = from
	}
	r.positions = append(r.positions, s.ordersConcerning(visitor, contact, from)...)
}

// repriceCredited adds, to be priced again, the orders placed from since
// on whose credited partner is one that credited says yes to. It reads
// every order: it runs only when a definition arrives after orders it is
// older than, which a history in time order never has.
func (s *State) repriceCredited(r *redo, since int64, credited func(partner string) bool) {
	if since > s.late.lastOrderAt {
		return
	}
	for i, o := range s.orders.list {
		if o.at < since || o.winner.partner == "" || !credited(o.winner.partner) {
			continue
		}
		if r.reprice == nil {
			r.reprice = map[int32]bool{}
		}
		if len(r.positions) == 0 || o.at < r.from {
			r.from = o.at
		}
		r.positions = append(r.positions, int32(i))
		r.reprice[int32(i)] = true
	}
}

// redoOrders decides again the orders r gathered, for fact f.
func (e *Engine) redoOrders(r *redo, f *events.Fact, out *Output) {
	if len(r.positions) == 0 {
		return
	}
	slices.Sort(r.positions)
	e.decideAgainAt(slices.Compact(r.positions), r.from, r.reprice, f, out)
}

// linkTookEffect has the orders that the clicks on link n made while it
// was not in effect concern decided again.
func (s *State) linkTookEffect(n int32, r *redo) {
	for _, k := range s.held.orphans[n] {
		s.concern(r, k.visitor, k.contact, k.from)
	}
	delete(s.held.orphans, n)
}

// noteClick remembers a click on link n while the link is not in effect.
func (s *State) noteClick(n int32, f *events.Fact, d *events.ClickRecorded) {
	if s.cat.links[n].partner != nil {
		return
	}
	// Copies: a click's strings may share its commit's stored bytes.
	s.held.orphans[n] = append(s.held.orphans[n], orphanClick{from: lateFrom(f), visitor: strings.Clone(d.VisitorID), contact: strings.Clone(d.ContactID)})
}

// release gives effect to the held definitions list, which waited for
// what fact f defined, or holds again those still waiting for something.
func (e *Engine) release(list []heldDef, f *events.Fact, r *redo, out *Output) {
	s := e.state
	for _, h := range list {
		if h.kind == heldParent {
			s.repriceCredited(r, math.MinInt64, func(p string) bool { return s.descends(p, h.partner) })
			continue
		}
		if s.missing(h.partner, h.program) != "" {
			s.hold(h)
			continue
		}
		out.Released = append(out.Released, Release{Fact: h.fact, Type: h.typ, By: f.Source + "/" + f.ID})
		switch h.kind {
		case heldLink:
			n := s.cat.linkNumber(h.code)
			s.cat.links[n] = s.cat.links[n].withPartner(s.cat.partners[h.partner])
			s.linkTookEffect(n, r)
		case heldEnrollment:
			if s.addEnrollment(h.partner, h.program) {
				s.repriceCredited(r, h.at, func(p string) bool { return p == h.partner })
			}
		case heldReferral:
			s.concern(r, "", h.contact, h.at)
		}
	}
}

// descends reports whether partner is ancestor or below it, within the
// tiers that earn.
func (s *State) descends(partner, ancestor string) bool {
	for hops := 0; partner != "" && hops < maxTiers; hops++ {
		if partner == ancestor {
			return true
		}
		p, ok := s.cat.partners[partner]
		if !ok {
			return false
		}
		partner = p.Parent
	}
	return false
}

// partnerRegistered folds a partner.registered: a partner seen for the
// first time releases what waited for it.
func (e *Engine) partnerRegistered(f *events.Fact, d *events.PartnerRegistered, out *Output) string {
	s := e.state
	_, known := s.cat.partners[d.PartnerID]
	if reason := s.registerPartner(d); reason != "" {
		return reason
	}
	if parent := d.ParentPartnerID; parent != "" && s.cat.partners[parent] == nil {
		child := heldDef{kind: heldParent, partner: d.PartnerID}
		if !slices.Contains(s.held.byPartner[parent], child) {
			s.held.byPartner[parent] = append(s.held.byPartner[parent], child)
		}
	}
	if known {
		return ""
	}
	list := s.held.byPartner[d.PartnerID]
	delete(s.held.byPartner, d.PartnerID)
	var r redo
	e.release(list, f, &r, out)
	e.redoOrders(&r, f, out)
	return ""
}

// programDefined folds a program.defined: a program seen for the first
// time releases what waited for it.
func (e *Engine) programDefined(f *events.Fact, d *events.ProgramDefined, out *Output) string {
	s := e.state
	_, known := s.cat.programs[d.ProgramID]
	if reason := s.defineProgram(d); reason != "" || known {
		return reason
	}
	list := s.held.byProgram[d.ProgramID]
	delete(s.held.byProgram, d.ProgramID)
	var r redo
	e.release(list, f, &r, out)
	e.redoOrders(&r, f, out)
	return ""
}

// enrolled folds a partner.enrolled: held until its partner and program
// are known; one older than orders already decided has those credited to
// the partner priced again.
func (e *Engine) enrolled(f *events.Fact, d *events.PartnerEnrolled, out *Output) string {
	s := e.state
	if missing := s.missing(d.PartnerID, d.ProgramID); missing != "" {
		s.holdFact(f, heldDef{kind: heldEnrollment, partner: d.PartnerID, program: d.ProgramID}, missing, out)
		return ""
	}
	if s.addEnrollment(d.PartnerID, d.ProgramID) {
		var r redo
		s.repriceCredited(&r, f.Time.UnixNano(), func(p string) bool { return p == d.PartnerID })
		e.redoOrders(&r, f, out)
	}
	return ""
}

// addEnrollment enrolls a registered partner in a defined program, and
// reports whether it was not yet.
func (s *State) addEnrollment(partnerID, programID string) bool {
	partner := s.cat.partners[partnerID]
	if slices.Contains(partner.Programs, programID) {
		return false
	}
	partner.Programs = append(partner.Programs, programID)
	partner.enrolled = append(partner.enrolled, s.cat.programs[programID])
	return true
}

// linkCreated folds a link.created: held until its partner and its
// program (if it names one) are known. A link that takes effect on a code
// clicks named while it was not in effect has their orders decided again.
func (e *Engine) linkCreated(f *events.Fact, d *events.LinkCreated, out *Output) string {
	s := e.state
	if old, ok := s.cat.Link(d.LinkCode); ok && old.PartnerID != "" && old.PartnerID != d.PartnerID {
		return "link " + d.LinkCode + " already belongs to partner " + old.PartnerID
	}
	n := s.cat.linkNumber(d.LinkCode)
	inEffect := s.cat.links[n].partner != nil
	s.dropHeldLink(d.LinkCode, f, out)
	l := Link{Code: d.LinkCode, PartnerID: d.PartnerID, ProgramID: d.ProgramID, LandingURL: d.LandingURL}
	if missing := s.missing(d.PartnerID, d.ProgramID); missing != "" {
		s.cat.links[n] = l.withPartner(nil) // the code is the partner's, but counts for nothing yet
		s.holdFact(f, heldDef{kind: heldLink, partner: d.PartnerID, program: d.ProgramID, code: l.Code}, missing, out)
		return ""
	}
	s.cat.links[n] = l.withPartner(s.cat.partners[d.PartnerID])
	if !inEffect {
		var r redo
		s.linkTookEffect(n, &r)
		e.redoOrders(&r, f, out)
	}
	return ""
}

// referralAssigned folds a referral.assigned: it counts from its time on,
// and is held while its partner is not registered.
func (e *Engine) referralAssigned(f *events.Fact, d *events.ReferralAssigned, out *Output) {
	s := e.state
	c := digest(d.ContactID)
	s.ids.manual[c] = append(s.ids.manual[c], manualReferral{at: f.Time, partner: d.PartnerID, note: d.Note})
	if missing := s.missing(d.PartnerID, ""); missing != "" {
		s.holdFact(f, heldDef{kind: heldReferral, partner: d.PartnerID, contact: d.ContactID}, missing, out)
	}
	e.decideAgain(f, "", d.ContactID, out)
}

// sameShares reports whether the lines' shares are those of before: the
// same partners at the same tiers, programs, rates and commissions.
func (o *order) sameShares(before [][]share) bool {
	for i := range o.lines {
		now := o.lines[i].shares
		if len(now) != len(before[i]) {
			return false
		}
		for j := range now {
			a, b := &now[j], &before[i][j]
			if a.tier != b.tier || a.partner != b.partner || a.program != b.program || a.rate != b.rate || a.full != b.full {
				return false
			}
		}
	}
	return true
}

// sharesNow is the order's shares by line, as they are before it is
// priced again (pricing gives each line new ones).
func (o *order) sharesNow() [][]share {
	out := make([][]share, len(o.lines))
	for i := range o.lines {
		out[i] = o.lines[i].shares
	}
	return out
}

// encodeHeld writes what waits, in key order.
func encodeHeld(w *snapshot.Encoder, h *heldDefs) {
	for _, lists := range []map[string][]heldDef{h.byPartner, h.byProgram} {
		w.Uvarint(uint64(len(lists)))
		for _, k := range snapshot.SortedKeys(lists) {
			w.String(k)
			w.Uvarint(uint64(len(lists[k])))
			for _, d := range lists[k] {
				w.Uvarint(uint64(d.kind))
				for _, s := range []string{d.fact, d.typ, d.partner, d.program, d.contact, d.code} {
					w.String(s)
				}
				w.Varint(d.at)
			}
		}
	}
	w.Uvarint(uint64(len(h.orphans)))
	for _, n := range snapshot.SortedKeys(h.orphans) {
		w.Int(int(n))
		w.Uvarint(uint64(len(h.orphans[n])))
		for _, k := range h.orphans[n] {
			w.Varint(k.from)
			w.String(k.visitor)
			w.String(k.contact)
		}
	}
}

// decodeHeld reads what encodeHeld wrote, for a catalog of links links.
func decodeHeld(r *snapshot.Decoder, links int) heldDefs {
	h := newHeldDefs()
	for _, lists := range []map[string][]heldDef{h.byPartner, h.byProgram} {
		for range r.Count(2) {
			k := r.String()
			list := make([]heldDef, r.Count(8))
			for i := range list {
				d := heldDef{kind: heldKind(r.Uvarint()), fact: r.String(), typ: r.String(), partner: r.String(), program: r.String(), contact: r.String(), code: r.String()}
				d.at = r.Varint()
				if d.kind < heldLink || d.kind > heldParent {
					r.Fail("held fact %s is of kind %d", d.fact, d.kind)
				}
				list[i] = d
			}
			lists[k] = list
		}
	}
	for range r.Count(2) {
		n := int32(r.Int())
		if n < 0 || int(n) >= links {
			r.Fail("clicks held for link %d of %d", n, links)
		}
		list := make([]orphanClick, r.Count(3))
		for i := range list {
			list[i] = orphanClick{from: r.Varint(), visitor: r.String(), contact: r.String()}
		}
		h.orphans[n] = list
	}
	return h
}
