package ledger

import (
	"fmt"
	"hash/crc32"
	"math"
	"strconv"
	"time"
	"unsafe"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/internal/prefetch"
	"github.com/refledger/refledger/money"
)

// Engine folds facts, in log order, into ledger output. It is deterministic
// and pure: no I/O, no clock; time comes only from the facts.
type Engine struct {
	state    *State
	timeline *Timeline
	// fixed is true when the timeline was given (replay): policy.changed
	// facts then do not move it.
	fixed   bool
	scratch scratch // reused by every order's decision
}

// NewEngine returns an engine with empty state. A nil timeline makes the
// engine follow policy.changed facts (live processing); a given timeline is
// used as is (replay under a candidate).
func NewEngine(timeline *Timeline) *Engine {
	e := &Engine{state: newState(), timeline: timeline, fixed: timeline != nil}
	if timeline == nil {
		e.timeline = NewTimeline()
	}
	return e
}

// StateOnly makes the engine keep its state, and report refusals, without
// writing ledger entries or explanations: a what-if reads the commission
// shares from the state at the end (EachShare) and needs neither. Every
// decision and every amount is the same as with them.
func (e *Engine) StateOnly() { e.ExplainOnly(func(string) bool { return false }) }

// ExplainOnly is StateOnly but for the orders explain accepts, whose
// entries and explanations the engine writes as usual (payouts it never
// writes): a replay explains the few orders it changed in a fold as fast as
// the what-if's.
func (e *Engine) ExplainOnly(explain func(orderID string) bool) { e.state.explained = explain }

// Full undoes StateOnly and ExplainOnly: the engine writes every entry and
// explanation again. The state is the same in every mode, so a writer
// rebuilds state-only over facts the ledger already holds, then goes on in
// full.
func (e *Engine) Full() { e.state.explained = nil }

// State returns the engine's state, for reads.
func (e *Engine) State() *State { return e.state }

// Timeline returns the engine's policy timeline.
func (e *Engine) Timeline() *Timeline { return e.timeline }

// Apply folds one fact. canonical is the fact's stored bytes (nil: encode
// it): the engine remembers a digest of every fact so that a repeated key
// with another payload is refused, whatever reached it.
func (e *Engine) Apply(f events.Fact, canonical []byte) Output {
	var out Output
	e.apply(&f, canonical, &out)
	return out
}

// apply is Apply on the caller's fact, into the caller's output: the
// fold's functions take both by pointer, as copying a fact (112 bytes) into
// every call, and an output (104) out of it, cost about a sixth of a fold
// whose state the caches hold.
func (e *Engine) apply(f *events.Fact, canonical []byte, out *Output) {
	if e.seen(f, canonical, out) {
		return
	}
	if reason := e.dispatch(f, out); reason != "" {
		*out = refuse(f, reason)
		return
	}
	e.state.late.knownAt = max(e.state.late.knownAt, f.Time.UnixNano())
}

// PrefetchAhead is how many facts ahead of the one it applies a caller
// hints with Prefetch: fewer leave the misses too little time, more let
// the cache drop the lines before they are used. At a quarter of the
// standard history 8 beat 4 and 16 in runs taken in turn; with it a
// replay of the whole history ran 8% faster than with no hints (the
// median of five runs of each).
const PrefetchAhead = 8

// HintAhead hints what applying the facts after facts[i] will need, for a
// caller about to apply facts[i], which it folds in order, in three
// stages: the memory of the fact 2×PrefetchAhead ahead (its decoded data,
// its id and its stored bytes); the state the fact PrefetchAhead ahead
// will look up (Prefetch), which reads that memory; and for an order
// PrefetchAhead/2 ahead, what its decision reads behind the state Prefetch
// hinted for it, which it reads (from the cache by then): the records of
// the buyer's latest clicks and the contact's browser list. raws is nil or
// holds the facts' stored bytes.
//
// A fact's own memory matters when the facts were decoded long before
// they are folded (a benchmark's history held in memory: there Prefetch
// spent about a quarter of the fold waiting for it).
func (e *Engine) HintAhead(facts []events.Fact, raws [][]byte, i int) {
	if j := i + PrefetchAhead/2; j < len(facts) {
		if d, ok := facts[j].Data.(*events.OrderPlaced); ok {
			e.state.prefetchBuyer(d)
		}
	}
	if j := i + PrefetchAhead; j < len(facts) {
		e.Prefetch(&facts[j])
	}
	if j := i + 2*PrefetchAhead; j < len(facts) {
		var raw []byte
		if j < len(raws) {
			raw = raws[j]
		}
		hintFact(&facts[j], raw)
	}
}

// prefetchBuyer hints the records of the latest clicks of an order's
// visitor, and the browser list of the contact it gives, reading the slots
// that lead to them: Prefetch hinted those a few facts before.
func (s *State) prefetchBuyer(d *events.OrderPlaced) {
	if d.VisitorID != "" {
		if recent, ok := s.clicks.byVisitor.Get(digest(d.VisitorID)); ok {
			for _, i := range recent {
				if i < 0 {
					break
				}
				prefetch.Of(s.clicks.get(i))
			}
		}
	}
	if d.ContactID != "" {
		if browsers, ok := s.ids.visitorsOf.Get(digest(d.ContactID)); ok && len(browsers) > 0 {
			prefetch.Of(&browsers[0])
		}
	}
}

// hintFact hints the memory of a fact: its stored bytes (their first two
// cache lines: a click's strings share them), its id and its data.
func hintFact(f *events.Fact, raw []byte) {
	if len(raw) > 0 {
		prefetch.Range(unsafe.Pointer(unsafe.SliceData(raw)), uintptr(min(len(raw), 128)))
	}
	if f.ID != "" {
		prefetch.Line(unsafe.Pointer(unsafe.StringData(f.ID)))
	}
	switch d := f.Data.(type) {
	case *events.ClickRecorded:
		prefetch.Of(d)
	case *events.OrderPlaced:
		prefetch.Of(d)
	case *events.ContactIdentified:
		prefetch.Of(d)
	case *events.PaymentReceived:
		prefetch.Of(d)
	case *events.OrderRefunded:
		prefetch.Of(d)
	}
}

// Prefetch hints that f will be applied soon: it starts bringing into the
// cache the state f's lookups will land on (its visitor's slot of latest
// clicks, its link, its order, its fact key, and the fresh memory an order
// or a click is written into), and changes nothing. At millions of
// visitors and orders nearly every such lookup is a cache miss; a caller
// that hints a few facts ahead of the one it applies overlaps those misses
// instead of taking them one after another. Skipping it changes no
// result.
func (e *Engine) Prefetch(f *events.Fact) {
	s := e.state
	switch d := f.Data.(type) {
	case *events.ClickRecorded:
		s.clicks.byVisitor.Prefetch(digest(d.VisitorID))
		// The record a click about as far ahead will be written into: a
		// chunk is zeroed when it is made and has left the cache long
		// before most of its clicks are added.
		if next := s.clicks.all.Spare(PrefetchAhead); next != nil {
			prefetch.Of(next)
		}
		// The link table is small, but at ten million facts the clicks
		// between two of a link's evict it: without the hint its lookup
		// cost a click about 120 ns.
		s.cat.linkNum.Prefetch(digest(d.LinkCode))
		return // clicks are not kept by key (seen)
	case *events.ContactIdentified:
		s.ids.prefetch(d.VisitorID, d.ContactID)
		return // nor are identifications
	case *events.OrderPlaced:
		s.orders.index.Prefetch(digest(d.OrderID))
		s.slab.prefetch()
		if len(d.Lines) > 0 {
			prefetch.Of(&d.Lines[0])
		}
		if d.VisitorID != "" {
			s.clicks.byVisitor.Prefetch(digest(d.VisitorID))
		}
		s.ids.prefetch(d.VisitorID, d.ContactID)
	case *events.PaymentReceived:
		s.orders.index.Prefetch(digest(d.OrderID))
	case *events.OrderRefunded:
		s.orders.index.Prefetch(digest(d.OrderID))
	}
	s.facts.Prefetch(keyDigest(f.Source, f.ID))
}

// seen remembers money-bearing facts by key and payload digest: the same
// key again is ignored, or refused when the payload differs. Clicks and
// identifications, most of the log, are left to ingestion's index (which
// admits each key once, forever): repeating one would move no money, and
// remembering them would cost the engine a map entry per click.
func (e *Engine) seen(f *events.Fact, canonical []byte, out *Output) bool {
	switch f.Type {
	case events.TypeClickRecorded, events.TypeContactIdentified:
		return false
	}
	if canonical == nil {
		canonical = events.Encode(*f)
	}
	seen, held := e.state.facts.Ref(keyDigest(f.Source, f.ID))
	payload := payloadDigest(events.StoredContent(canonical))
	switch {
	case !held:
		*seen = payload
		return false
	case *seen == payload:
		return true
	}
	*out = refuse(f, fmt.Sprintf("id %q from source %q was already seen with a different payload", f.ID, f.Source))
	return true
}

// payloadDigest is a fast 64-bit digest of what a fact says, its canonical
// bytes without its arrival (events.StoredContent, head then rest): two
// hardware-accelerated CRC-32s. It only has to tell a changed payload from
// the same one under the same key; ingestion checks conflicts first.
func payloadDigest(head, rest []byte) uint64 {
	c := crc32.Update(crc32.Checksum(head, castagnoli), castagnoli, rest)
	i := crc32.Update(crc32.ChecksumIEEE(head), crc32.IEEETable, rest)
	return uint64(c)<<32 | uint64(i)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func refuse(f *events.Fact, reason string) Output {
	return Output{Refusals: []Refusal{{Fact: f.Source + "/" + f.ID, Type: f.Type, Time: f.Time, Reason: reason}}}
}

// dispatch folds a fact by type into out, which is empty; a non-empty
// reason refuses it, and then nothing in the state may have changed (out
// is then replaced).
func (e *Engine) dispatch(f *events.Fact, out *Output) (reason string) {
	s := e.state
	switch d := f.Data.(type) {
	case *events.PartnerRegistered:
		return e.partnerRegistered(f, d, out)
	case *events.ProgramDefined:
		return e.programDefined(f, d, out)
	case *events.PartnerEnrolled:
		return e.enrolled(f, d, out)
	case *events.LinkCreated:
		return e.linkCreated(f, d, out)
	case *events.ClickRecorded:
		n := s.cat.linkNumber(d.LinkCode)
		s.clicks.add(d.ClickID, f.Time, n, d.VisitorID, d.ContactID)
		s.noteClick(n, f, d)
		e.decideAgain(f, d.VisitorID, d.ContactID, out)
	case *events.ContactIdentified:
		s.ids.identify(d.VisitorID, d.ContactID, f.Time, false)
		e.decideAgain(f, d.VisitorID, d.ContactID, out)
	case *events.ReferralAssigned:
		e.referralAssigned(f, d, out)
	case *events.OrderPlaced:
		reason = e.placeOrder(f, d, out)
		if reason == "" && d.VisitorID != "" && d.ContactID != "" { // it identified the visitor
			e.decideAgain(f, d.VisitorID, d.ContactID, out)
		}
	case *events.PaymentReceived:
		*out, reason = s.receivePayment(f, d)
	case *events.OrderRefunded:
		*out, reason = s.refund(f, d)
	case *events.PolicyChanged:
		if !e.fixed {
			p, err := PolicyFrom(d.Policy)
			if err != nil {
				return err.Error()
			}
			out.Policies = []PolicyVersion{e.timeline.Change("", effectiveAt(f, d), p)}
		}
	case *events.PayoutRecorded:
		*out, reason = s.payout(f, d, e.fixed)
	}
	return reason
}

func effectiveAt(f *events.Fact, d *events.PolicyChanged) time.Time {
	if d.EffectiveAt != nil {
		return *d.EffectiveAt
	}
	return f.Time
}

// MakesACycle reports whether registering partner with parent would make
// the partner its own ancestor, given parentOf (a partner's registered
// parent, and whether it is registered) over n registered partners. The
// ledger refuses such a registration; the catalog read model ignores it
// the same way.
func MakesACycle(partner, parent string, n int, parentOf func(string) (string, bool)) bool {
	for p, hops := parent, 0; p != "" && hops <= n; hops++ {
		if p == partner {
			return true
		}
		next, ok := parentOf(p)
		if !ok {
			return false
		}
		p = next
	}
	return false
}

func (s *State) registerPartner(d *events.PartnerRegistered) string {
	parentOf := func(id string) (string, bool) {
		p, ok := s.cat.partners[id]
		if !ok {
			return "", false
		}
		return p.Parent, true
	}
	if MakesACycle(d.PartnerID, d.ParentPartnerID, len(s.cat.partners), parentOf) {
		return fmt.Sprintf("parent %s would make partner %s its own ancestor", d.ParentPartnerID, d.PartnerID)
	}
	if old, ok := s.cat.partners[d.PartnerID]; ok {
		// In place: links hold the pointer.
		old.Name, old.Parent, old.ContactID, old.CookieDays = d.Name, d.ParentPartnerID, d.ContactID, d.CookieDays
		s.cat.partnerChanged(old)
		return ""
	}
	s.cat.partners[d.PartnerID] = &Partner{ID: d.PartnerID, Name: d.Name, Parent: d.ParentPartnerID, ContactID: d.ContactID, CookieDays: d.CookieDays}
	return ""
}

func (s *State) defineProgram(d *events.ProgramDefined) string {
	p := &Program{ID: d.ProgramID, Name: d.Name, Priority: *d.Priority, Cycles: d.Cycles, ProductRates: map[string]money.Rate{}}
	if d.DefaultRate != "" {
		r := mustRate(d.DefaultRate)
		p.DefaultRate = &r
	}
	for product, r := range d.ProductRates {
		p.ProductRates[product] = mustRate(r)
	}
	for _, r := range d.TierRates {
		p.TierRates = append(p.TierRates, mustRate(r))
	}
	if old, ok := s.cat.programs[d.ProgramID]; ok {
		*old = *p // in place: partners hold the pointer
		return ""
	}
	s.cat.programs[d.ProgramID] = p
	return ""
}

// mustRate parses a rate that events validation already accepted.
func mustRate(text string) money.Rate {
	r, err := money.ParseRate(text)
	if err != nil {
		panic(fmt.Sprintf("ledger: validated rate %q does not parse: %v", text, err))
	}
	return r
}

func (e *Engine) placeOrder(f *events.Fact, d *events.OrderPlaced, out *Output) string {
	s := e.state
	if prev, ok := s.orders.get(d.OrderID); ok {
		return fmt.Sprintf("order %s was already placed by fact %s", d.OrderID, prev.fact)
	}
	cur, _ := money.Lookup(d.Currency) // validated
	pv := e.timeline.At(f.Time)
	o := s.slab.order() // zero: a slab hands out each slot once
	o.at, o.cur, o.policy = f.Time.UnixNano(), cur, s.policy(pv)
	o.payableAt = f.Time.Add(time.Duration(pv.HoldingDays) * day).UnixNano()
	o.lines = s.slab.lines(len(d.Lines))
	for i, l := range d.Lines {
		minor, _ := money.ParseMinor(l.Amount.Text, cur) // validated
		o.lines[i] = line{id: s.names.Of(l.LineID), product: s.names.Of(l.ProductID), quantity: l.Quantity, amount: minor}
		o.total += minor
	}
	contact := d.ContactID
	if contact == "" {
		contact = s.ids.contactAt(d.VisitorID, o.at)
	}
	buyer := Buyer{OrderTime: f.Time, VisitorID: d.VisitorID, ContactID: contact}
	dec, cycle, renewal := s.decideOrder(d, &buyer, &pv.Policy, &e.scratch)
	o.cycle = int32(cycle)
	if d.SubscriptionID != "" {
		o.sub = s.subs[d.SubscriptionID]
		o.sub.placed = append(o.sub.placed, int32(s.orders.len()))
	}
	if renewal == nil {
		o.decision = dec.digest()
	}
	var click []byte // the winning click's id, when a fresh decision credited a click
	switch {
	case renewal != nil:
		o.winner = creditOf(renewal)
	case dec.winner >= 0:
		o.winner, click = s.credit(&dec, dec.winner)
	}
	// One allocation holds the order's own strings: its id, its fact, what
	// it presented and the click that earned it (a state of a million
	// orders is otherwise millions of small objects for the collector to
	// trace).
	o.setOwnStrings(d.OrderID, f.Source+"/"+f.ID, d.VisitorID, d.ContactID, click)
	lines := s.priceLines(o, cycle)
	s.orders.add(o)
	s.late.add(o, int32(s.orders.len()-1), contact)
	if d.VisitorID != "" && d.ContactID != "" {
		s.ids.identify(d.VisitorID, d.ContactID, f.Time, true)
	}
	if s.records(o.id) {
		var explained Decision
		if renewal != nil {
			explained = s.renewalDecision(renewal)
		} else {
			explained = s.explain(&dec, &buyer)
		}
		out.Attributions = fresh(s, &s.reuse.attributions, 1)
		out.Attributions[0] = attribution(o, explained, lines)
	}
	if pv.PayoutBasis == events.PayoutBasisUpfront {
		out.Entries = s.accrueAll(o, f)
	}
	return ""
}

// decideOrder decides an order; a renewal of a credited subscription keeps
// its first order's referral, and is returned as that referral's candidate
// instead of a decision.
func (s *State) decideOrder(d *events.OrderPlaced, b *Buyer, p *Policy, sc *scratch) (dec decision, cycle int, renewal *Candidate) {
	if d.SubscriptionID == "" {
		return s.decide(b, p, sc), 0, nil
	}
	sub, ok := s.subs[d.SubscriptionID]
	if !ok {
		sub = &subscription{id: d.SubscriptionID, firstOrder: d.OrderID}
		s.subs[d.SubscriptionID] = sub
	}
	cycle = d.Cycle
	if cycle == 0 {
		cycle = len(sub.placed) + 1 // placeOrder adds this order to placed next
	}
	if sub.winner != nil && sub.firstOrder != d.OrderID {
		w := *sub.winner
		w.Reason = Reason{code: reasonRenewal, a: d.SubscriptionID, b: sub.firstOrder}
		return decision{winner: -1}, cycle, &w
	}
	dec = s.decide(b, p, sc)
	if dec.winner >= 0 {
		w := s.candidate(&dec, dec.winner, b)
		sub.winner, sub.firstOrder = &w, d.OrderID
	}
	return dec, cycle, nil
}

// credit is what an order keeps of referral i of its decision, but for
// the click id, which it returns as the click state holds it (the caller
// copies it into the order's own strings).
func (s *State) credit(d *decision, i int) (credit, []byte) {
	r := &d.refs[i]
	if r.kind == refManual {
		return s.origin(d, r), nil
	}
	return s.origin(d, r), s.clicks.idBytes(r.n)
}

func creditOf(c *Candidate) credit {
	return credit{partner: c.PartnerID, click: c.ClickID, link: c.LinkCode, program: c.ProgramID, source: c.Source}
}

func attribution(o *order, d Decision, lines []LineExplanation) Attribution {
	a := Attribution{
		OrderID: o.id, Time: timeOf(o.at), Currency: o.cur.Code, Policy: *o.policy, Decision: DecisionNone,
		Notes: d.Notes, Candidates: d.Candidates, Lines: lines, Fact: o.fact,
		Reason: Reason{code: reasonNoQualifying},
	}
	if a.Candidates == nil {
		a.Candidates = []Candidate{}
	}
	if n := tierShares(lines); n > maxTierSharesListed {
		for i := range lines {
			lines[i].Tiers = nil
		}
		a.Notes = append(a.Notes[:len(a.Notes):len(a.Notes)], fmt.Sprintf("the %d tier shares of the lines are not listed (at most %d are): the order's entries hold each", n, maxTierSharesListed))
	}
	if w := d.Winner; w != nil {
		// The winner is the decision's own, and nothing writes to either
		// once it is explained: the pointers share its fields rather than
		// allocate two copies for every order credited.
		a.Decision, a.PartnerID, a.Source, a.ClickID, a.LinkCode, a.ProgramID, a.ReferralTime, a.Reason =
			DecisionCredit, &w.PartnerID, w.Source, w.ClickID, w.LinkCode, w.ProgramID, &w.Time, w.Reason
	}
	return a
}

// maxTierSharesListed bounds the tier shares an explanation lists line by
// line: an order of a thousand lines, each earning ten tiers, would
// otherwise make an explanation larger than a ledger commit may be.
const maxTierSharesListed = 1000

func tierShares(lines []LineExplanation) int {
	n := 0
	for i := range lines {
		n += len(lines[i].Tiers)
	}
	return n
}

// accrueAll accrues every share of an upfront order in full.
func (s *State) accrueAll(o *order, f *events.Fact) []Entry {
	var out []Entry
	if s.records(o.id) {
		n := 0
		for i := range o.lines {
			n += len(o.lines[i].shares)
		}
		out = fresh(s, &s.reuse.entries, n)[:0]
	}
	for i := range o.lines {
		l := &o.lines[i]
		for j := range l.shares {
			sh := &l.shares[j]
			if sh.full == 0 {
				continue
			}
			s.accrue(o, l, sh, sh.full, f.Time, o.payableAt, "", &out)
		}
	}
	return out
}

func accrualID(o *order, l *line, sh *share, payment string) string {
	if payment != "" {
		return JoinID(o.id, l.id, "t"+strconv.Itoa(sh.tier), KindAccrued, payment)
	}
	return JoinID(o.id, l.id, "t"+strconv.Itoa(sh.tier), KindAccrued)
}

// accrue accrues amount on a share and, unless the engine keeps state
// only, appends its entry to *out and returns where it is (nil when not).
// An entry is written in place: at 344 bytes, returning it through the
// calls copied a kilobyte for every order.
func (s *State) accrue(o *order, l *line, sh *share, amount int64, at time.Time, payableAt int64, payment string, out *[]Entry) *Entry {
	sh.accrued += amount
	a := s.shareAccount(o, sh)
	a.buckets = append(a.buckets, newBucket(at, payableAt, amount))
	if !s.records(o.id) {
		return nil
	}
	*out = append(*out, Entry{})
	e := &(*out)[len(*out)-1]
	s.entryInto(e, o, l, sh, KindAccrued, amount, amount, at, timeOf(payableAt))
	e.EntryID, e.PaymentID = accrualID(o, l, sh, payment), payment
	return e
}

func (s *State) entry(o *order, l *line, sh *share, kind string, amount, net int64, at, payableAt time.Time) Entry {
	var e Entry
	s.entryInto(&e, o, l, sh, kind, amount, net, at, payableAt)
	return e
}

// entryInto writes an entry of a share of an order line into e, which
// must be zero.
func (s *State) entryInto(e *Entry, o *order, l *line, sh *share, kind string, amount, net int64, at, payableAt time.Time) {
	e.Kind, e.OrderID, e.LineID, e.PartnerID, e.Tier = kind, o.id, l.id, sh.partner, sh.tier
	e.Amount, e.Currency = money.FormatMinor(amount, o.cur), o.cur.Code
	e.ProgramID, e.Rate, e.Time, e.PayableAt = sh.program, sh.rate, at, payableAt
	e.Policy, e.Fact = o.policy.Version, o.fact
	e.Net = e.Amount // as an accrual's is
	if net != amount {
		e.Net = money.FormatMinor(net, o.cur)
	}
	if w := o.winnerOf(); w != nil {
		e.Source, e.ClickID, e.LinkCode = w.source, w.click, w.link
	}
}

func (s *State) receivePayment(f *events.Fact, d *events.PaymentReceived) (Output, string) {
	o, ok := s.orders.get(d.OrderID)
	if !ok {
		return Output{}, fmt.Sprintf("order %s is unknown", d.OrderID)
	}
	if o.payments.has(d.PaymentID) {
		return Output{}, fmt.Sprintf("payment %s of order %s was already received", d.PaymentID, d.OrderID)
	}
	amt, err := money.ParseMinor(d.Amount.Text, o.cur)
	if err != nil {
		return Output{}, fmt.Sprintf("amount %s", err)
	}
	if left := o.total - o.paid; amt > left {
		return Output{}, fmt.Sprintf("payment of %s exceeds the %s left to pay on order %s", money.FormatMinor(amt, o.cur), money.FormatMinor(left, o.cur), d.OrderID)
	}
	o.payments = append(o.payments, d.PaymentID)
	o.paid += amt
	if o.policy.PayoutBasis != events.PayoutBasisOnPayment {
		return Output{}, ""
	}
	last := o.paid == o.total
	var out Output
	for i := range o.lines {
		l := &o.lines[i]
		if l.refunded == l.amount && l.amount > 0 {
			continue // fully refunded: nothing more to earn
		}
		for j := range l.shares {
			sh := &l.shares[j]
			part := money.ShareMinor(sh.full, amt, o.total)
			room := sh.full - sh.accrued
			if last || part > room {
				part = room
			}
			if part <= 0 {
				continue
			}
			// Pending holding_days after the order (CONTRACT §2), not
			// after the payment: a payment past that is payable at once.
			if e := s.accrue(o, l, sh, part, f.Time, o.payableAt, d.PaymentID, &out.Entries); e != nil {
				e.Fact = f.Source + "/" + f.ID // the payment earned it
			}
		}
	}
	return out, ""
}

func (s *State) refund(f *events.Fact, d *events.OrderRefunded) (Output, string) {
	o, ok := s.orders.get(d.OrderID)
	if !ok {
		return Output{}, fmt.Sprintf("order %s is unknown", d.OrderID)
	}
	if o.refunds.has(d.RefundID) {
		return Output{}, fmt.Sprintf("refund %s of order %s was already recorded", d.RefundID, d.OrderID)
	}
	amounts := make([]int64, len(d.Lines))
	for i, rl := range d.Lines {
		l := o.line(rl.LineID)
		if l == nil {
			return Output{}, fmt.Sprintf("line %s is not on order %s", rl.LineID, d.OrderID)
		}
		amt, err := money.ParseMinor(rl.Amount.Text, o.cur)
		if err != nil {
			return Output{}, fmt.Sprintf("lines[%d].amount %s", i, err)
		}
		if left := l.amount - l.refunded; amt > left {
			return Output{}, fmt.Sprintf("refund of %s on line %s exceeds the %s left to refund", money.FormatMinor(amt, o.cur), l.id, money.FormatMinor(left, o.cur))
		}
		amounts[i] = amt
	}
	o.refunds = append(o.refunds, d.RefundID)
	var out Output
	for i, rl := range d.Lines {
		l := o.line(rl.LineID)
		l.refunded += amounts[i]
		last := l.refunded == l.amount
		for j := range l.shares {
			sh := &l.shares[j]
			left := sh.accrued - sh.reversed
			rev := left
			if !last {
				rev = min(money.ShareMinor(sh.full, amounts[i], l.amount), left)
			}
			if rev <= 0 {
				continue
			}
			sh.reversed += rev
			a := s.shareAccount(o, sh)
			a.buckets = append(a.buckets, newBucket(f.Time, o.payableAt, -rev))
			if !s.records(o.id) {
				continue
			}
			e := s.entry(o, l, sh, KindReversed, rev, -rev, f.Time, timeOf(o.payableAt))
			e.EntryID = JoinID(o.id, l.id, "t"+strconv.Itoa(sh.tier), KindReversed, d.RefundID)
			e.RefundID, e.Fact = d.RefundID, f.Source+"/"+f.ID
			out.Entries = append(out.Entries, e)
		}
	}
	return out, ""
}

func (s *State) payout(f *events.Fact, d *events.PayoutRecorded, honourPayouts bool) (Output, string) {
	if _, ok := s.cat.partners[d.PartnerID]; !ok {
		return Output{}, fmt.Sprintf("partner %s is not registered", d.PartnerID)
	}
	cur, _ := money.Lookup(d.Currency)
	amt, _ := money.ParseMinor(d.Amount.Text, cur) // validated
	var payable int64
	if a, ok := s.accts[d.PartnerID+"\x00"+d.Currency]; ok {
		payable = a.payable(f.Time)
	}
	// A replay honours every payout history made: that money has left.
	if amt > payable && !honourPayouts {
		return Output{}, fmt.Sprintf("payout of %s %s exceeds the %s payable to %s on %s", money.FormatMinor(amt, cur), d.Currency, money.FormatMinor(payable, cur), d.PartnerID, f.Time.Format(time.RFC3339))
	}
	a := s.account(d.PartnerID, d.Currency)
	if a.paid > math.MaxInt64-amt {
		// Over 900 payouts at the bound to one partner: refused rather than
		// wrapped, for the account's total paid is an int64.
		return Output{}, fmt.Sprintf("payout of %s %s would take what was paid to %s past the most the ledger holds", money.FormatMinor(amt, cur), d.Currency, d.PartnerID)
	}
	a.paid += amt
	if s.explained != nil {
		return Output{}, ""
	}
	return Output{Entries: []Entry{{
		EntryID: JoinID("payout", d.PayoutID), Kind: KindPaid, PartnerID: d.PartnerID,
		Amount: money.FormatMinor(amt, cur), Net: money.FormatMinor(-amt, cur), Currency: d.Currency,
		Time: f.Time, PayableAt: f.Time, PayoutID: d.PayoutID, Fact: f.Source + "/" + f.ID,
	}}}, ""
}
