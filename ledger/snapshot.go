package ledger

import (
	"cmp"
	"slices"
	"time"

	"github.com/refledger/refledger/internal/digestmap"
	"github.com/refledger/refledger/internal/intern"
	"github.com/refledger/refledger/internal/snapshot"
	"github.com/refledger/refledger/money"
)

// EncodeSnapshot writes the engine's whole state: the timeline, the
// catalog, the click index, identities, orders with their commission
// shares, subscriptions, accounts and fact digests. Maps are written in
// key order, so the same state always gives the same bytes.
func (e *Engine) EncodeSnapshot(w *snapshot.Encoder) {
	w.Bool(e.fixed)
	EncodeTimeline(w, e.timeline)
	s := e.state
	encodeCatalog(w, s.cat)

	c := s.clicks
	// The clicks go as parallel arrays (time in Unix nanoseconds since
	// writer snapshot version 10, link, previous click, where the id
	// starts) and one arena of every id, as they were held before
	// they became records: the format outlives the layout.
	n := c.len()
	w.Int64sFunc(n, func(i int) int64 { return c.get(int32(i)).at })
	w.Int32sFunc(n, func(i int) int32 { return c.get(int32(i)).link })
	w.Int32sFunc(n, func(i int) int32 { return c.get(int32(i)).prev })
	idBytes := 0
	w.Uint32sFunc(n, func(i int) uint32 {
		start := idBytes
		idBytes += len(c.idBytes(int32(i)))
		return uint32(start)
	})
	w.BytesFunc(idBytes, n, func(i int) []byte { return c.idBytes(int32(i)) })
	// A visitor's latest click only: the others it holds are found again
	// by prev (latestOnly).
	visitors, recent := c.byVisitor.Sorted()
	w.Uint64s(visitors)
	w.Int32sFunc(len(recent), func(i int) int32 { return recent[i][0] })
	w.Uvarint(uint64(len(c.byContact)))
	for _, k := range snapshot.SortedKeys(c.byContact) {
		w.Uvarint(k)
		w.Int32s(c.byContact[k])
	}

	ids := s.ids
	visitors, contacts := ids.contactOf.Sorted()
	w.Uvarint(uint64(len(visitors)))
	for i, k := range visitors {
		w.Uvarint(k)
		encodeIdentity(w, contacts[i])
	}
	w.Uvarint(uint64(len(ids.others)))
	for _, k := range snapshot.SortedKeys(ids.others) {
		w.Uvarint(k)
		w.Uvarint(uint64(len(ids.others[k])))
		for _, o := range ids.others[k] {
			encodeIdentity(w, o)
		}
	}
	contactKeys, visitorLists := ids.visitorsOf.Sorted()
	w.Uvarint(uint64(len(contactKeys)))
	for i, k := range contactKeys {
		w.Uvarint(k)
		w.Uvarint(uint64(len(visitorLists[i])))
		for _, v := range visitorLists[i] {
			w.Uvarint(v.visitor)
			w.Varint(v.at)
			w.Bool(v.byOrder)
		}
	}
	w.Uvarint(uint64(len(ids.manual)))
	for _, k := range snapshot.SortedKeys(ids.manual) {
		w.Uvarint(k)
		w.Uvarint(uint64(len(ids.manual[k])))
		for _, m := range ids.manual[k] {
			w.Time(m.at)
			w.String(m.partner)
			w.String(m.note)
		}
	}

	// Orders go in placement order, which the fact log fixes (no sort: a
	// second of the writer's pause at a million orders), and which a
	// restore keeps: the order in which the ledger holds their entries.
	orders := s.orders.list
	policies := policyTable{index: map[*PolicyVersion]int{}}
	for _, o := range orders {
		policies.add(o.policy)
	}
	w.Uvarint(uint64(len(policies.list)))
	for _, pv := range policies.list {
		encodePolicyVersion(w, pv)
	}
	w.Uvarint(uint64(len(orders)))
	for _, o := range orders {
		encodeOrder(w, o, policies.index)
	}

	w.Uvarint(uint64(len(s.subs)))
	for _, id := range snapshot.SortedKeys(s.subs) {
		sub := s.subs[id]
		w.String(id)
		w.String(sub.firstOrder)
		encodeCandidate(w, sub.winner)
		w.Int32s(sub.placed)
	}

	w.Uvarint(uint64(len(s.accts)))
	for _, k := range snapshot.SortedKeys(s.accts) {
		a := s.accts[k]
		w.String(k)
		w.Varint(a.paid)
		w.Uvarint(uint64(len(a.buckets)))
		for _, b := range a.buckets {
			w.Varint(b.at)
			w.Varint(b.payableAt)
			w.Varint(b.net)
		}
	}

	keys, payloads := s.facts.Sorted()
	w.Uint64s(keys)
	w.Uint64s(payloads)
	w.Varint(s.late.knownAt)
	encodeHeld(w, &s.held)
}

func encodeIdentity(w *snapshot.Encoder, l identity) {
	w.String(l.contact)
	w.Varint(l.at)
	w.Bool(l.byOrder)
}

func decodeIdentity(r *snapshot.Decoder) identity {
	return identity{contact: r.String(), at: r.Varint(), byOrder: r.Bool()}
}

// DecodeSnapshot restores an engine written by EncodeSnapshot. It checks
// what it reads enough that a damaged snapshot fails here rather than
// misbehaving later.
func DecodeSnapshot(r *snapshot.Decoder) (*Engine, error) {
	e := &Engine{state: newState(), fixed: r.Bool()}
	e.timeline = DecodeTimeline(r)
	s := e.state
	s.cat = decodeCatalog(r)

	c := s.clicks
	at, link, prev, idStart, clickIDs := r.Int64s(), r.Int32s(), r.Int32s(), r.Uint32s(), r.Bytes()
	n := len(at)
	if len(link) != n || len(prev) != n || len(idStart) != n {
		r.Fail("click arrays of different lengths")
		n = 0
	}
	for i := range n {
		if link[i] < 0 || int(link[i]) >= len(s.cat.links) || prev[i] < -1 || prev[i] >= int32(i) ||
			idStart[i] > uint32(len(clickIDs)) || (i > 0 && idStart[i] < idStart[i-1]) {
			r.Fail("click %d is out of range", i)
			n = 0
			break
		}
	}
	for i := range n {
		end := uint32(len(clickIDs))
		if i+1 < n {
			end = idStart[i+1]
		}
		k := click{at: at[i], link: link[i], prev: prev[i]}
		setClickID(c, &k, clickIDs[idStart[i]:end])
		c.all.Add(k)
	}
	validClick := func(i int32) bool {
		if i < 0 || int(i) >= n {
			r.Fail("click %d is out of range", i)
			return false
		}
		return true
	}
	visitors, last := r.Uint64s(), r.Int32s()
	if len(visitors) != len(last) {
		r.Fail("visitor arrays of different lengths")
	}
	c.byVisitor = digestmap.New[recentClicks](len(visitors))
	for i := 0; i < len(visitors) && i < len(last) && validClick(last[i]); i++ {
		c.byVisitor.Put(visitors[i], latestOnly(last[i]))
	}
	entries := r.Count(2)
	c.byContact = make(map[uint64][]int32, entries)
	for range entries {
		k, list := r.Uvarint(), r.Int32s()
		for _, i := range list {
			validClick(i)
		}
		c.byContact[k] = list
	}

	// Maps are made at their final size: growing them costs more than
	// filling them.
	ids := s.ids
	entries = r.Count(2)
	ids.contactOf = digestmap.New[identity](entries)
	for range entries {
		k := r.Uvarint()
		ids.contactOf.Put(k, decodeIdentity(r))
	}
	entries = r.Count(2)
	ids.others = make(map[uint64][]identity, entries)
	for range entries {
		k := r.Uvarint()
		list := make([]identity, r.Count(2))
		for i := range list {
			list[i] = decodeIdentity(r)
		}
		ids.others[k] = list
		if latest, ok := ids.contactOf.Get(k); ok {
			latest.more = true
			ids.contactOf.Put(k, latest)
		}
	}
	entries = r.Count(2)
	ids.visitorsOf = digestmap.New[[]identified](entries)
	for range entries {
		k := r.Uvarint()
		list := make([]identified, r.Count(3))
		for i := range list {
			list[i] = identified{visitor: r.Uvarint(), at: r.Varint(), byOrder: r.Bool()}
		}
		// Kept in time order (a snapshot writes them so; a damaged one
		// must not break the searches).
		slices.SortStableFunc(list, func(a, b identified) int { return cmp.Compare(a.at, b.at) })
		ids.visitorsOf.Put(k, list)
		if len(list) > maxHistoryBrowsers {
			ids.indexMany(k, list)
		}
	}
	entries = r.Count(2)
	ids.manual = make(map[uint64][]manualReferral, entries)
	for range entries {
		k := r.Uvarint()
		list := make([]manualReferral, r.Count(3))
		for i := range list {
			list[i] = manualReferral{at: r.Time(), partner: r.String(), note: r.String()}
		}
		ids.manual[k] = list
	}

	policies := make([]*PolicyVersion, r.Count(10))
	for i := range policies {
		policies[i] = s.policy(decodePolicyVersion(r))
	}
	norders := r.Count(8)
	s.orders = newOrderTable(norders)
	for range norders {
		o := decodeOrder(r, policies, s.names, &s.slab)
		if o == nil {
			break
		}
		if _, twice := s.orders.get(o.id); twice {
			r.Fail("order %s is held twice", o.id)
			break
		}
		s.orders.add(o)
		s.late.add(o, int32(s.orders.len()-1), "") // chains are built when first needed
	}

	for range r.Count(4) {
		id := r.String()
		sub := &subscription{id: id, firstOrder: r.String(), winner: decodeCandidate(r), placed: r.Int32s()}
		for _, i := range sub.placed {
			if i < 0 || int(i) >= s.orders.len() || s.orders.list[i].sub != nil {
				r.Fail("subscription %s: order %d is out of range or held twice", id, i)
				break
			}
			s.orders.list[i].sub = sub
		}
		s.subs[id] = sub
	}

	for range r.Count(3) {
		k := r.String()
		a := &account{paid: r.Varint()}
		a.buckets = make([]bucket, r.Count(3))
		for i := range a.buckets {
			a.buckets[i] = bucket{at: r.Varint(), payableAt: r.Varint(), net: r.Varint()}
		}
		s.accts[k] = a
	}

	keys, payloads := r.Uint64s(), r.Uint64s()
	if len(keys) != len(payloads) {
		r.Fail("%d fact keys for %d payloads", len(keys), len(payloads))
	}
	s.facts = digestmap.New[uint64](len(keys))
	for i := 0; i < len(keys) && i < len(payloads); i++ {
		s.facts.Put(keys[i], payloads[i])
	}
	s.late.knownAt = r.Varint()
	s.held = decodeHeld(r, len(s.cat.links))
	if err := r.Err(); err != nil {
		return nil, err
	}
	return e, nil
}

// EncodeTimeline writes a policy timeline into a snapshot.
func EncodeTimeline(w *snapshot.Encoder, t *Timeline) {
	w.Int(t.changes)
	w.Uvarint(uint64(len(t.versions)))
	for _, v := range t.versions {
		encodePolicyVersion(w, v)
	}
}

// DecodeTimeline reads a timeline written by EncodeTimeline.
func DecodeTimeline(r *snapshot.Decoder) *Timeline {
	t := &Timeline{changes: r.Int()}
	t.versions = make([]PolicyVersion, r.Count(10))
	for i := range t.versions {
		t.versions[i] = decodePolicyVersion(r)
		if i > 0 && t.versions[i].EffectiveAt.Before(t.versions[i-1].EffectiveAt) {
			r.Fail("policy timeline out of order")
		}
	}
	if len(t.versions) == 0 {
		r.Fail("empty policy timeline")
	}
	return t
}

func encodePolicyVersion(w *snapshot.Encoder, v PolicyVersion) {
	w.String(v.Version)
	w.Time(v.EffectiveAt)
	p := v.Policy
	for _, s := range []string{p.Tracking, p.Credit, p.ProgramBinding, p.SelfReferral, p.PayoutBasis} {
		w.String(s)
	}
	w.Int(p.CookieDays)
	w.Int(p.ReferralDays)
	w.Int(p.HoldingDays)
}

func decodePolicyVersion(r *snapshot.Decoder) PolicyVersion {
	v := PolicyVersion{Version: r.String(), EffectiveAt: r.Time()}
	p := &v.Policy
	p.Tracking, p.Credit, p.ProgramBinding, p.SelfReferral, p.PayoutBasis = r.String(), r.String(), r.String(), r.String(), r.String()
	p.CookieDays, p.ReferralDays, p.HoldingDays = r.Int(), r.Int(), r.Int()
	if r.Err() == nil {
		if _, err := PolicyFrom(p.Document()); err != nil {
			r.Fail("policy %s: %v", v.Version, err)
		}
	}
	return v
}

// policyTable numbers the distinct policy versions that orders were
// decided under, so each order stores a small index. It is keyed by the
// orders' pointers, which the state shares among equal versions (hashing
// a version, strings and all, for each of a million orders took 0.2 s of
// the writer's pause); versions that are equal under two pointers still
// get one number.
type policyTable struct {
	list  []PolicyVersion
	index map[*PolicyVersion]int
}

func (t *policyTable) add(pv *PolicyVersion) {
	if _, ok := t.index[pv]; ok {
		return
	}
	i := slices.Index(t.list, *pv)
	if i < 0 {
		i = len(t.list)
		t.list = append(t.list, *pv)
	}
	t.index[pv] = i
}

func encodeCatalog(w *snapshot.Encoder, c *Catalog) {
	w.Uvarint(uint64(len(c.partners)))
	for _, id := range snapshot.SortedKeys(c.partners) {
		p := c.partners[id]
		for _, s := range []string{p.ID, p.Name, p.Parent, p.ContactID} {
			w.String(s)
		}
		encodeOptInt(w, p.CookieDays)
		w.Uvarint(uint64(len(p.Programs)))
		for _, prog := range p.Programs {
			w.String(prog)
		}
	}
	w.Uvarint(uint64(len(c.programs)))
	for _, id := range snapshot.SortedKeys(c.programs) {
		p := c.programs[id]
		w.String(p.ID)
		w.String(p.Name)
		w.Int(p.Priority)
		w.Int(p.Cycles)
		w.Bool(p.DefaultRate != nil)
		if p.DefaultRate != nil {
			w.String(p.DefaultRate.String())
		}
		w.Uvarint(uint64(len(p.ProductRates)))
		for _, product := range snapshot.SortedKeys(p.ProductRates) {
			w.String(product)
			w.String(p.ProductRates[product].String())
		}
		w.Uvarint(uint64(len(p.TierRates)))
		for _, r := range p.TierRates {
			w.String(r.String())
		}
	}
	w.Uvarint(uint64(len(c.links)))
	for _, l := range c.links {
		for _, s := range []string{l.Code, l.PartnerID, l.ProgramID, l.LandingURL} {
			w.String(s)
		}
	}
}

func decodeCatalog(r *snapshot.Decoder) *Catalog {
	c := newCatalog()
	for range r.Count(5) {
		p := &Partner{ID: r.String(), Name: r.String(), Parent: r.String(), ContactID: r.String(), CookieDays: decodeOptInt(r)}
		p.Programs = make([]string, r.Count(1))
		for i := range p.Programs {
			p.Programs[i] = r.String()
		}
		c.partners[p.ID] = p
	}
	rate := func() money.Rate {
		text := r.String()
		rt, err := money.ParseRate(text)
		if err != nil && r.Err() == nil {
			r.Fail("rate %q: %v", text, err)
		}
		return rt
	}
	for range r.Count(6) {
		p := &Program{ID: r.String(), Name: r.String(), Priority: r.Int(), Cycles: r.Int(), ProductRates: map[string]money.Rate{}}
		if r.Bool() {
			dr := rate()
			p.DefaultRate = &dr
		}
		for range r.Count(2) {
			product := r.String()
			p.ProductRates[product] = rate()
		}
		for range r.Count(1) {
			p.TierRates = append(p.TierRates, rate())
		}
		c.programs[p.ID] = p
	}
	for _, p := range c.partners {
		for _, id := range p.Programs {
			prog, ok := c.programs[id]
			if !ok {
				r.Fail("partner %s is enrolled in program %s, which is not defined", p.ID, id)
				break
			}
			p.enrolled = append(p.enrolled, prog)
		}
	}
	c.links = make([]Link, r.Count(4))
	c.linkNum = digestmap.New[int32](len(c.links))
	for i := range c.links {
		c.links[i] = Link{Code: r.String(), PartnerID: r.String(), ProgramID: r.String(), LandingURL: r.String()}
		c.links[i] = c.links[i].withPartner(c.effectivePartner(c.links[i]))
		c.linkNum.Put(digest(c.links[i].Code), int32(i))
	}
	return c
}

func encodeOptInt(w *snapshot.Encoder, p *int) {
	w.Bool(p != nil)
	if p != nil {
		w.Int(*p)
	}
}

func decodeOptInt(r *snapshot.Decoder) *int {
	if !r.Bool() {
		return nil
	}
	v := r.Int()
	return &v
}

func encodeCandidate(w *snapshot.Encoder, c *Candidate) {
	w.Bool(c != nil)
	if c == nil {
		return
	}
	for _, s := range []string{c.PartnerID, c.ClickID, c.LinkCode, c.ProgramID, c.Source, c.Outcome} {
		w.String(s)
	}
	w.Time(c.Time)
	w.Bool(true) // the format keeps whether the candidate qualified: a subscription's winner did
	rs := c.Reason
	w.Uvarint(uint64(rs.code))
	// The format predates the compact reason: a time (zero for none), two
	// ints, and five strings, the words of a read-back reason last.
	var at time.Time
	if rs.at != 0 {
		at = rs.atTime()
	}
	w.Time(at)
	w.Int(int(rs.n))
	w.Int(int(rs.m))
	a, text := rs.a, ""
	if rs.code == reasonNone {
		a, text = "", rs.a
	}
	for _, s := range []string{a, rs.b, rs.c, rs.d, text} {
		w.String(s)
	}
}

func decodeCandidate(r *snapshot.Decoder) *Candidate {
	if !r.Bool() {
		return nil
	}
	c := &Candidate{PartnerID: r.String(), ClickID: r.String(), LinkCode: r.String(), ProgramID: r.String(), Source: r.String(), Outcome: r.String()}
	c.Time = r.Time()
	r.Bool() // whether it qualified: a winner did, and nothing reads it
	code := r.Uvarint()
	if code >= uint64(reasonCodes) {
		r.Fail("reason code %d is unknown", code)
	}
	c.Reason = Reason{code: reasonCode(code)}
	if at := r.Time(); !at.IsZero() {
		c.Reason.at = at.UnixNano()
	}
	n, m := r.Int(), r.Int()
	if n != int(int32(n)) || m != int(int32(m)) {
		r.Fail("reason numbers %d and %d are out of range", n, m)
	}
	c.Reason.n, c.Reason.m = int32(n), int32(m)
	c.Reason.a, c.Reason.b, c.Reason.c, c.Reason.d = r.String(), r.String(), r.String(), r.String()
	if text := r.String(); c.Reason.code == reasonNone && text != "" {
		c.Reason.a = text
	}
	return c
}

func encodeOrder(w *snapshot.Encoder, o *order, policies map[*PolicyVersion]int) {
	w.String(o.id)
	w.String(o.fact)
	w.String(o.visitor)
	w.String(o.contact)
	w.Varint(int64(o.cycle))
	w.Uvarint(o.decision)
	w.Time(timeOf(o.at))
	w.String(o.cur.Code)
	w.Varint(o.total)
	w.Varint(o.paid)
	w.Uvarint(uint64(policies[o.policy]))
	w.Time(timeOf(o.payableAt))
	w.Bool(o.winnerOf() != nil)
	if c := o.winnerOf(); c != nil {
		for _, s := range []string{c.partner, c.click, c.link, c.program, c.source} {
			w.String(s)
		}
	}
	w.Uvarint(uint64(len(o.lines)))
	for _, l := range o.lines {
		w.String(l.id)
		w.String(l.product)
		w.Varint(l.quantity)
		w.Varint(l.amount)
		w.Varint(l.refunded)
		w.Uvarint(uint64(len(l.shares)))
		for _, sh := range l.shares {
			w.Int(sh.tier)
			w.String(sh.partner)
			w.String(sh.program)
			w.String(sh.rate)
			w.Varint(sh.full)
			w.Varint(sh.accrued)
			w.Varint(sh.reversed)
		}
	}
	for _, set := range []idSet{o.refunds, o.payments} {
		w.Uvarint(uint64(len(set)))
		for _, k := range set.sorted() {
			w.String(k)
		}
	}
}

// decodeOrder reads an order as placeOrder builds it: its own strings
// (id, fact, winning click) in one allocation, and the recurring ones
// (currency, partners, links, programs, rates, line and product ids)
// shared through names.
func decodeOrder(r *snapshot.Decoder, policies []*PolicyVersion, names *intern.Table, slab *orderSlab) *order {
	id, fact, visitor, contact := r.StringBytes(), r.StringBytes(), r.StringBytes(), r.StringBytes()
	o := slab.order()
	o.cycle, o.decision = int32(r.Varint()), r.Uvarint()
	o.at = r.Time().UnixNano()
	code := names.OfBytes(r.StringBytes())
	cur, err := money.Lookup(code)
	if err != nil && r.Err() == nil {
		r.Fail("order %s: currency %q: %v", id, code, err)
	}
	o.cur, o.total, o.paid = cur, r.Varint(), r.Varint()
	if p := r.Uvarint(); p < uint64(len(policies)) {
		o.policy = policies[p]
	} else {
		r.Fail("order %s: policy %d is out of range", id, p)
	}
	o.payableAt = r.Time().UnixNano()
	var click []byte
	if r.Bool() {
		o.winner.partner = names.OfBytes(r.StringBytes())
		click = r.StringBytes()
		o.winner.link, o.winner.program, o.winner.source = names.OfBytes(r.StringBytes()), names.OfBytes(r.StringBytes()), names.OfBytes(r.StringBytes())
		if o.winner.partner == "" {
			r.Fail("order %s: credited to no partner", id)
		}
	}
	o.setOwnStrings(string(id), string(fact), string(visitor), string(contact), click)
	o.lines = slab.lines(r.Count(6))
	for i := range o.lines {
		l := &o.lines[i]
		*l = line{id: names.OfBytes(r.StringBytes()), product: names.OfBytes(r.StringBytes()), quantity: r.Varint(), amount: r.Varint(), refunded: r.Varint()}
		l.shares = slab.shares(r.Count(7))
		for j := range l.shares {
			l.shares[j] = share{tier: r.Int(), partner: names.OfBytes(r.StringBytes()), program: names.OfBytes(r.StringBytes()), rate: names.OfBytes(r.StringBytes()), full: r.Varint(), accrued: r.Varint(), reversed: r.Varint()}
		}
	}
	for _, set := range []*idSet{&o.refunds, &o.payments} {
		if n := r.Count(1); n > 0 {
			*set = make(idSet, n)
			for i := range n {
				(*set)[i] = r.String()
			}
		}
	}
	if r.Err() != nil {
		return nil
	}
	return o
}
