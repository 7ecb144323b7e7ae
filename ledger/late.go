package ledger

import (
	"slices"
	"strconv"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/internal/digestmap"
	"github.com/refledger/refledger/money"
)

// Late referrals. Attribution goes by the time of the facts, never by
// when they arrived (CONTRACT §1), but the engine decides an order when
// the order reaches the log. A click, an identification or a manual
// referral that reaches it after an order it happened before (a manual
// referral keyed in the day after the sale, a tracker that publishes late,
// a second import of older facts) therefore has the engine decide that
// order again, as it would have been decided had the referral come in
// time: under the order's own policy version, seeing the clicks,
// identifications and referrals whose time is before the order's.
//
// What changes is never rewritten: an order whose credit moves gets
// adjusting entries (kind adjusted) that bring each partner's share of
// each line to what the new decision gives, and a new explanation that
// names the late fact (decided_again_by). Commission already paid out is
// not taken back silently: the adjustment shows as a negative payable
// balance. Adjustments are dated when the fact log received the fact that
// caused them (events.Fact.Arrived: the engine reads no clock), never
// before the order they adjust, and are payable then, or when the order's
// holding period ends if that is later. A fact stored before arrivals were
// kept has none: its adjustments are dated as they were then, by the
// latest fact time the engine had folded (lateIndex.knownAt).
//
// The orders of a subscription are decided again together, in the order
// they were placed: a renewal keeps the referral of the first order that
// was credited, so moving that credit moves every renewal's.

// lateIndex finds the orders a late referral may concern: chains of the
// orders of each visitor and of each contact, latest first, and the latest
// order time, so that a referral later than every order costs one
// comparison. An order is chained under the contact it gave or, when it
// gave none, the one its visitor was identified as by then; an order whose
// contact a late identification changed is listed under the new one too
// (resolvedLate). Each chain also keeps, at every order, the latest time
// of it and the orders before it, so a walk for the orders after a time
// stops where there are none: a contact with years of orders costs its
// recent ones. The chains are built the first time a referral comes late,
// from the orders, and kept from then on: a history folded in time order
// (an import, most replays) never pays for them.
type lateIndex struct {
	built     bool
	byVisitor *digestmap.Map[int32] // visitor digest -> latest order (position in the order table)
	byContact *digestmap.Map[int32] // contact digest -> latest order
	// prevOfVisitor and prevOfContact chain, by order position, the
	// previous order of the same visitor and of the same contact (-1 ends
	// a chain); latestOfVisitor and latestOfContact are the latest order
	// time of an order and those before it on its chain.
	prevOfVisitor, prevOfContact     []int32
	latestOfVisitor, latestOfContact []int64
	resolvedLate                     map[uint64][]int32 // contact digest -> orders a late identification made its
	// lastOrderAt is the latest order time folded, and knownAt the latest
	// time of any fact folded (Unix nanoseconds): the engine's now for the
	// facts that carry no arrival (adjustedAt).
	lastOrderAt, knownAt int64
}

// add notes the order at position i of the order table, whose buyer's
// contact (given or found through its visitor) was contact.
func (x *lateIndex) add(o *order, i int32, contact string) {
	x.lastOrderAt = max(x.lastOrderAt, o.at)
	if x.built {
		x.chain(o, i, contact)
	}
}

// chain links the order at position i, the next one, into its chains.
func (x *lateIndex) chain(o *order, i int32, contact string) {
	link := func(m *digestmap.Map[int32], key string, latest []int64) (int32, int64) {
		if key == "" {
			return -1, o.at
		}
		last, held := m.Ref(digest(key))
		prev := *last
		*last = i
		if !held {
			return -1, o.at
		}
		return prev, max(o.at, latest[prev])
	}
	prev, latest := link(x.byVisitor, o.visitor, x.latestOfVisitor)
	x.prevOfVisitor, x.latestOfVisitor = append(x.prevOfVisitor, prev), append(x.latestOfVisitor, latest)
	prev, latest = link(x.byContact, contact, x.latestOfContact)
	x.prevOfContact, x.latestOfContact = append(x.prevOfContact, prev), append(x.latestOfContact, latest)
}

// buildLate chains every order of the table, each under the contact its
// buyer had by its time as the state knows it now.
func (s *State) buildLate() {
	x := &s.late
	if x.built {
		return
	}
	x.built = true
	n := s.orders.len()
	x.byVisitor, x.byContact = digestmap.New[int32](n), digestmap.New[int32](n/2)
	x.prevOfVisitor, x.prevOfContact = make([]int32, 0, n), make([]int32, 0, n)
	x.latestOfVisitor, x.latestOfContact = make([]int64, 0, n), make([]int64, 0, n)
	x.resolvedLate = map[uint64][]int32{}
	for i, o := range s.orders.list {
		x.chain(o, int32(i), s.buyerOf(o).ContactID)
	}
}

// setOwnStrings gives the order its own strings in one allocation: its id,
// its fact, the visitor and contact it presented, and the id of the click
// that earned it (which may lie in bytes the caller does not own).
func (o *order) setOwnStrings(id, fact, visitor, contact string, click []byte) {
	own := id + fact + visitor + contact + string(click)
	take := func(n int) string {
		s := own[:n]
		own = own[n:]
		return s
	}
	o.id, o.fact, o.visitor, o.contact = take(len(id)), take(len(fact)), take(len(visitor)), take(len(contact))
	if len(click) > 0 {
		o.winner.click = own
	}
}

// digest sums up what a decision weighed: each referral, whether and why
// it qualified or lost, the winner, and what the order did not present.
// Two decisions of one order with the same digest explain it alike. It is
// the same in every process (snapshots keep it).
func (d *decision) digest() uint64 {
	h := uint64(14695981039346656037)
	mix := func(v uint64) { // a word at a time: FNV-1a's step, then a shift to spread the high bits
		h = (h ^ v) * 1099511628211
		h ^= h >> 29
	}
	for _, r := range d.refs {
		mix(uint64(r.at))
		mix(uint64(uint32(r.n))<<32 | uint64(uint32(r.days)))
		mix(uint64(r.kind)<<16 | uint64(r.why)<<8 | uint64(bit(r.qualifies)))
	}
	mix(uint64(int64(d.winner)))
	mix(uint64(bit(d.noVisitor))<<16 | uint64(bit(d.noCookieBefore))<<8 | uint64(bit(d.noContact)))
	mix(uint64(d.browsersLeft))
	return h
}

func bit(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// decideAgain decides again the orders that a referral fact f, about a
// visitor and a contact (either may be ""), happened before but reached
// the engine after, and adds their adjusting entries and explanations to
// out.
func (e *Engine) decideAgain(f *events.Fact, visitor, contact string, out *Output) {
	s := e.state
	from := lateFrom(f)
	if from > s.late.lastOrderAt {
		return // the usual case: nothing was ordered after it yet
	}
	s.buildLate()
	if f.Type != events.TypeClickRecorded && f.Type != events.TypeReferralAssigned {
		s.resolveLate(visitor, contact, from)
	}
	positions := s.ordersConcerning(visitor, contact, from)
	if len(positions) == 0 {
		return
	}
	e.decideAgainAt(positions, from, nil, f, out)
}

// decideAgainAt decides again, after fact f, the orders at positions (in
// placement order, each once), none placed before from, and adds their
// adjusting entries and explanations to out. Those reprice holds are
// priced again even when their decision weighs the same referrals (a
// definition they depend on took effect, held.go); they are explained
// again only if their shares change.
func (e *Engine) decideAgainAt(positions []int32, from int64, reprice map[int32]bool, f *events.Fact, out *Output) {
	s := e.state
	cause := f.Source + "/" + f.ID
	var subs []*subscription
	for _, i := range positions {
		o := s.orders.list[i]
		if o.sub != nil { // after the others, each once
			if !slices.Contains(subs, o.sub) {
				subs = append(subs, o.sub)
			}
			continue
		}
		entries, a, changed := e.decideOrderAgain(o, cause, f, reprice[i])
		if !changed {
			continue
		}
		out.Entries = append(out.Entries, entries...)
		if a != nil {
			out.Attributions = append(out.Attributions, *a)
		}
	}
	for _, sub := range subs {
		entries, as := e.decideSubscriptionAgain(sub, from, cause, f, reprice)
		out.Entries = append(out.Entries, entries...)
		out.Attributions = append(out.Attributions, as...)
	}
}

// lateFrom is the earliest order time (Unix nanoseconds) a referral fact
// can count for: a click, a manual referral or a contact.identified from
// its own instant on, to the nanosecond, and the identification an order
// that gave both ids makes for the orders after it (an order never counts
// the one it made itself).
func lateFrom(f *events.Fact) int64 {
	switch f.Type {
	case events.TypeOrderPlaced:
		return f.Time.UnixNano() + 1
	}
	return f.Time.UnixNano()
}

// ordersConcerning lists, in placement order, the orders placed at or
// after since that presented the visitor, or whose buyer is the contact
// or a contact the visitor was identified as: a superset of the orders
// whose decision the fact can change (deciding one it does not change
// changes nothing). Its work, and the deciding that follows, are bounded
// by the orders of that visitor and those contacts placed since: a
// visitor id that thousands of orders share (a bot, a default value)
// makes every late click on it decide them all again.
func (s *State) ordersConcerning(visitor, contact string, since int64) []int32 {
	x := &s.late
	var out []int32
	walk := func(i int32, ok bool, prev []int32, latest []int64) {
		for ; ok && i >= 0 && latest[i] >= since; i = prev[i] {
			if s.orders.list[i].at >= since {
				out = append(out, i)
			}
		}
	}
	walkContact := func(c string) {
		k := digest(c)
		i, ok := x.byContact.Get(k)
		walk(i, ok, x.prevOfContact, x.latestOfContact)
		for _, i := range x.resolvedLate[k] {
			if s.orders.list[i].at >= since {
				out = append(out, i)
			}
		}
	}
	if visitor != "" {
		i, ok := x.byVisitor.Get(digest(visitor))
		walk(i, ok, x.prevOfVisitor, x.latestOfVisitor)
		s.ids.eachContact(digest(visitor), func(c string) {
			if c != contact {
				walkContact(c)
			}
		})
	}
	if contact != "" {
		walkContact(contact)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// resolveLate lists under contact the orders that presented visitor and
// gave no contact, placed since, that a late identification of the visitor
// as the contact made the contact's: later referrals of the contact find
// them there.
func (s *State) resolveLate(visitor, contact string, since int64) {
	if visitor == "" || contact == "" {
		return
	}
	x := &s.late
	k := digest(contact)
	i, ok := x.byVisitor.Get(digest(visitor))
	for ; ok && i >= 0 && x.latestOfVisitor[i] >= since; i = x.prevOfVisitor[i] {
		o := s.orders.list[i]
		if o.at >= since && o.contact == "" && s.ids.contactAt(o.visitor, o.at) == contact && !slices.Contains(x.resolvedLate[k], i) {
			x.resolvedLate[k] = append(x.resolvedLate[k], i)
		}
	}
}

// decideOrderAgain decides order o again, after fact f (whose key is
// cause) reached the engine. changed is false when the decision weighs
// the same referrals alike (and, when reprice is set, the order priced
// again keeps its shares); otherwise the order takes the new credit and
// the entries adjust its shares to it, and a is its new explanation (nil
// when the engine does not record the order).
func (e *Engine) decideOrderAgain(o *order, cause string, f *events.Fact, reprice bool) (entries []Entry, a *Attribution, changed bool) {
	s := e.state
	b := s.buyerOf(o)
	dec := s.decide(&b, &o.policy.Policy, &e.scratch)
	d := dec.digest()
	if d == o.decision && !reprice {
		return nil, nil, false
	}
	same := d == o.decision
	var before [][]share
	if same {
		before = o.sharesNow()
	}
	o.decision = d
	entries, a = e.recredit(o, &dec, &b, nil, cause, f)
	if same && o.sameShares(before) {
		return nil, nil, false
	}
	return entries, a, true
}

// buyerOf is who bought order o, as the state knows it now: what the order
// presented, and for an order that gave no contact, the one its visitor
// was identified as last before the order.
func (s *State) buyerOf(o *order) Buyer {
	contact := o.contact
	if contact == "" {
		contact = s.ids.contactAt(o.visitor, o.at)
	}
	return Buyer{OrderTime: timeOf(o.at), VisitorID: o.visitor, ContactID: contact}
}

// decideSubscriptionAgain decides a subscription's orders again, in the
// order they were placed, as placeOrder decided them: each on its own
// until one is credited, and the rest as its renewals. Orders placed
// before from, which the fact cannot concern, keep their decisions.
func (e *Engine) decideSubscriptionAgain(sub *subscription, from int64, cause string, f *events.Fact, reprice map[int32]bool) (entries []Entry, as []Attribution) {
	s := e.state
	var winner *Candidate
	first := s.orders.list[sub.placed[0]].id
	for _, i := range sub.placed {
		o := s.orders.list[i]
		if o.at < from {
			if winner == nil && sub.winner != nil && sub.firstOrder == o.id {
				winner, first = sub.winner, o.id
			}
			continue
		}
		var es []Entry
		var a *Attribution
		if winner != nil {
			w := *winner
			w.Reason = Reason{code: reasonRenewal, a: sub.id, b: first}
			same := o.decision == 0 && creditOf(&w).sameReferral(o.winner)
			if same && !reprice[i] {
				continue
			}
			var before [][]share
			if same {
				before = o.sharesNow()
			}
			o.decision = 0
			es, a = e.recredit(o, nil, &Buyer{}, &w, cause, f)
			if same && o.sameShares(before) {
				continue
			}
		} else {
			b := s.buyerOf(o)
			dec := s.decide(&b, &o.policy.Policy, &e.scratch)
			if dec.winner >= 0 {
				w := s.candidate(&dec, dec.winner, &b)
				winner, first = &w, o.id
			}
			d := dec.digest()
			same := d == o.decision
			if same && !reprice[i] {
				continue
			}
			var before [][]share
			if same {
				before = o.sharesNow()
			}
			o.decision = d
			es, a = e.recredit(o, &dec, &b, nil, cause, f)
			if same && o.sameShares(before) {
				continue
			}
		}
		entries = append(entries, es...)
		if a != nil {
			as = append(as, *a)
		}
	}
	sub.winner, sub.firstOrder = winner, first
	return entries, as
}

// recredit gives order o a new credit, from a fresh decision dec of buyer
// b or, for a renewal, its subscription's referral renewal, prices it,
// and returns the entries that adjust its shares and its new explanation.
func (e *Engine) recredit(o *order, dec *decision, b *Buyer, renewal *Candidate, cause string, f *events.Fact) ([]Entry, *Attribution) {
	s := e.state
	old := o.winner
	o.winner = credit{}
	switch {
	case renewal != nil:
		o.winner = creditOf(renewal)
	case dec.winner >= 0:
		var click []byte
		o.winner, click = s.credit(dec, dec.winner)
		if len(click) > 0 {
			o.winner.click = string(click)
		}
	}
	oldShares := make([][]share, len(o.lines))
	for i := range o.lines {
		oldShares[i], o.lines[i].shares = o.lines[i].shares, nil
	}
	lines := s.priceLines(o, int(o.cycle))
	var entries []Entry
	for i := range o.lines {
		entries = append(entries, s.adjustLine(o, &o.lines[i], oldShares[i], old, cause, [2]string{f.Source, f.ID}, s.adjustedAt(o, f))...)
	}
	if !s.records(o.id) {
		return entries, nil
	}
	var explained Decision
	if renewal != nil {
		explained = s.renewalDecision(renewal)
	} else {
		explained = s.explain(dec, b)
	}
	explained.Notes = append(explained.Notes, "decided again when "+f.Type+" "+cause+" of "+f.Time.Format(time.RFC3339Nano)+
		" reached the ledger after the order")
	a := attribution(o, explained, lines)
	a.DecidedAgainBy = cause
	return entries, &a
}

// adjustedAt is when the adjustments of order o that fact f caused are
// dated (Unix nanoseconds): when the log received f, or, for a fact
// stored before arrivals were kept, the latest fact time folded; never
// before the order itself.
func (s *State) adjustedAt(o *order, f *events.Fact) int64 {
	if f.Arrived.IsZero() {
		return s.late.knownAt
	}
	return max(f.Arrived.UnixNano(), o.at)
}

// adjustLine brings line l's new shares (priced for the order's new
// credit) to what they would hold had the credit been the order's from
// the start, and returns the adjusting entries that move each partner's
// share from what old (the shares under the old credit, oldCredit) held.
// A share the new credit keeps as it was (same tier, partner and full
// commission) keeps what it accrued and what was reversed of it.
func (s *State) adjustLine(o *order, l *line, old []share, oldCredit credit, cause string, causeKey [2]string, at int64) []Entry {
	for j := range l.shares {
		sh := &l.shares[j]
		if k := findShare(old, sh); k >= 0 {
			sh.accrued, sh.reversed = old[k].accrued, old[k].reversed
			continue
		}
		sh.accrued, sh.reversed = o.shareHeld(l, sh.full)
	}
	type key struct {
		tier    int
		partner string
	}
	delta := map[key]int64{}
	var keys []key
	var samples []*share
	note := func(sh *share, net int64) {
		k := key{sh.tier, sh.partner}
		if _, ok := delta[k]; !ok {
			keys, samples = append(keys, k), append(samples, sh)
		}
		delta[k] += net
	}
	for j := range l.shares { // first, so that a partner's entry names the share it now holds
		note(&l.shares[j], l.shares[j].accrued-l.shares[j].reversed)
	}
	for j := range old {
		note(&old[j], -(old[j].accrued - old[j].reversed))
	}
	var out []Entry
	payableAt := max(o.payableAt, at)
	for n, k := range keys {
		net := delta[k]
		if net == 0 {
			continue
		}
		sh := samples[n]
		acct := s.account(k.partner, o.cur.Code)
		acct.buckets = append(acct.buckets, bucket{at: at, payableAt: payableAt, net: net})
		if !s.records(o.id) {
			continue
		}
		e := s.entry(o, l, sh, KindAdjusted, net, net, timeOf(at), timeOf(payableAt))
		e.EntryID = JoinID(o.id, l.id, "t"+strconv.Itoa(k.tier), k.partner, KindAdjusted, causeKey[0], causeKey[1])
		e.Fact = cause
		if findShare(l.shares, sh) < 0 { // a share of the old credit: name it
			e.Source, e.ClickID, e.LinkCode = oldCredit.source, oldCredit.click, oldCredit.link
		}
		out = append(out, e)
	}
	return out
}

// findShare is the index of the share in shares with sh's tier, partner
// and full commission, or -1.
func findShare(shares []share, sh *share) int {
	for i := range shares {
		if shares[i].tier == sh.tier && shares[i].partner == sh.partner && shares[i].full == sh.full {
			return i
		}
	}
	return -1
}

// shareHeld is what a share of full commission on line l holds once the
// order's payments and refunds so far are taken into account: accrued in
// full (upfront) or in proportion to what was paid (on-payment), and
// reversed in proportion to what was refunded of the line, all of it when
// the whole line was refunded. Each proportion is rounded half-even once
// (money.ShareMinor).
func (o *order) shareHeld(l *line, full int64) (accrued, reversed int64) {
	accrued = full
	if o.policy.PayoutBasis == events.PayoutBasisOnPayment && o.paid < o.total {
		accrued = money.ShareMinor(full, o.paid, o.total)
	}
	if l.amount > 0 && l.refunded == l.amount {
		return accrued, accrued
	}
	return accrued, min(money.ShareMinor(full, l.refunded, l.amount), accrued)
}
