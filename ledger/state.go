package ledger

import (
	"slices"
	"time"
	"unsafe"

	"github.com/refledger/refledger/internal/digestmap"
	"github.com/refledger/refledger/internal/intern"
	"github.com/refledger/refledger/internal/prefetch"
	"github.com/refledger/refledger/internal/snapshot"
	"github.com/refledger/refledger/money"
)

// State is everything the fold remembers: catalog, attribution state,
// orders with their commission shares, subscriptions, partner accounts, and
// the digest of every fact seen.
type State struct {
	cat    *Catalog
	clicks *clicks
	ids    *identities
	orders *orderTable
	subs   map[string]*subscription
	accts  map[string]*account
	facts  *digestmap.Map[uint64] // fact key digest -> payload digest
	// policies interns the policy versions orders were decided under.
	policies map[PolicyVersion]*PolicyVersion
	// lastPolicy is the version policy returned last: orders come in time
	// order, so nearly all of them fall under the same one, and hashing a
	// version (six strings and a time) cost more than deciding the order.
	lastPolicy *PolicyVersion
	// explained, when set, says which orders get entries and explanations
	// (Engine.StateOnly, Engine.ExplainOnly); nil: all of them.
	explained func(orderID string) bool
	// reusing is set while ApplyTransient applies a fact: explanations
	// and an order's entries are then written into reuse, which the next
	// one takes back.
	reusing bool
	reuse   reusedMemory
	// names keeps one copy of line and product ids, which recur.
	names *intern.Table
	// acctKey is account's scratch key.
	acctKey []byte
	// slab holds the orders, their lines and their shares, a few large
	// arrays for the collector to trace instead of millions of objects;
	// shareScratch is where tierShares gathers a line's shares first.
	slab         orderSlab
	shareScratch []share
	// late finds the orders a referral that arrives after them may change.
	late lateIndex
	// held is what waits for a partner or program it names (held.go).
	held heldDefs
}

// records reports whether the fold writes the entries and explanation of
// an order.
func (s *State) records(orderID string) bool {
	return s.explained == nil || s.explained(orderID)
}

// recurringNames bounds the line and product ids a state shares.
const recurringNames = 1 << 16

// policy returns the one shared copy of a policy version.
func (s *State) policy(pv PolicyVersion) *PolicyVersion {
	if s.lastPolicy != nil && *s.lastPolicy == pv {
		return s.lastPolicy
	}
	p, ok := s.policies[pv]
	if !ok {
		// A copy of its own: taking pv's address would move every
		// caller's version to the heap, an allocation per order.
		p = new(PolicyVersion)
		*p = pv
		s.policies[pv] = p
	}
	s.lastPolicy = p
	return p
}

func newState() *State {
	return &State{
		cat: newCatalog(), clicks: newClicks(), ids: newIdentities(),
		orders: newOrderTable(0), subs: map[string]*subscription{},
		accts: map[string]*account{}, facts: digestmap.New[uint64](0), policies: map[PolicyVersion]*PolicyVersion{},
		names: intern.New(recurringNames), held: newHeldDefs(),
	}
}

// Catalog returns the catalog, for reads.
func (s *State) Catalog() *Catalog { return s.cat }

// ClickBytes estimates the memory held by the click index.
func (s *State) ClickBytes() int { return s.clicks.Bytes() }

// Clicks is the number of clicks held.
func (s *State) Clicks() int { return s.clicks.len() }

type order struct {
	id        string
	fact      string
	at        int64 // Unix nanoseconds, as every time the state holds
	cur       money.Currency
	total     int64 // minor units, as every amount of the state
	paid      int64
	policy    *PolicyVersion // shared by the orders decided under it
	payableAt int64
	winner    credit // held by value; its partner is "" when nobody is credited
	lines     []line // held by value: one allocation for all of them
	refunds   idSet
	payments  idSet
	// visitor and contact are what the order presented (its rl_vid, and
	// the contact it gave, not one found through the visitor): an order
	// decided again resolves its buyer as it was at the order's time.
	visitor, contact string
	// sub is the order's subscription (nil for none), and cycle its
	// payment number in it (0 for none), which its commission depends on.
	sub   *subscription
	cycle int32
	// decision digests the referrals the decision weighed and their
	// outcomes: a late referral that leaves it as it was changes nothing.
	decision uint64
}

// idSet is a small set of ids: an order sees few refunds and payments,
// and a slice costs a fraction of a map.
type idSet []string

func (s idSet) has(id string) bool { return slices.Contains(s, id) }

// sorted returns the ids in order, for a snapshot that is the same bytes
// for the same state. Nearly every set has one id or none (a snapshot
// asks two sets of each of a million orders), and is its own answer.
func (s idSet) sorted() []string {
	if len(s) < 2 {
		return s
	}
	return slices.Sorted(slices.Values(s))
}

func (o *order) line(id string) *line {
	for i := range o.lines {
		if o.lines[i].id == id {
			return &o.lines[i]
		}
	}
	return nil
}

// credit is what an order keeps of its winning candidate: what its
// entries name. The whole decision lives in the order's explanation.
type credit struct {
	partner, click, link, program, source string
	// who is the registered partner, once looked up (State.partnerOf):
	// pricing an order's lines reads it several times, and a partner's
	// record is updated in place, never replaced.
	who *Partner
}

// sameReferral reports whether two credits name the same referral.
func (c credit) sameReferral(d credit) bool {
	c.who, d.who = nil, nil
	return c == d
}

// partnerOf is the registered partner a credit names (nil if none is).
func (s *State) partnerOf(c *credit) *Partner {
	if c.who == nil {
		c.who = s.cat.partners[c.partner]
	}
	return c.who
}

// winnerOf is the order's credit, or nil when nobody is credited.
func (o *order) winnerOf() *credit {
	if o.winner.partner == "" {
		return nil
	}
	return &o.winner
}

type line struct {
	id, product string
	quantity    int64
	amount      int64
	refunded    int64
	shares      []share
}

// share is one partner's commission on one line.
type share struct {
	tier     int
	partner  string
	program  string
	rate     string
	full     int64 // the commission of the whole line
	accrued  int64
	reversed int64
	acct     *account // the partner's account in the order's currency, once looked up
}

// shareAccount is the account a share's entries move.
func (s *State) shareAccount(o *order, sh *share) *account {
	if sh.acct == nil {
		if w := o.winnerOf(); sh.tier == 1 && w != nil && w.partner == sh.partner && s.partnerOf(w) != nil {
			sh.acct = s.accountOf(w.who, o.cur.Code) // the credited partner's, held by its record
		} else {
			sh.acct = s.account(sh.partner, o.cur.Code)
		}
	}
	return sh.acct
}

// accountOf is the account of a registered partner in a currency: the one
// account finds, held by the partner's record for the next accrual.
func (s *State) accountOf(p *Partner, currency string) *account {
	if p.account == nil || p.accountCurrency != currency {
		p.account, p.accountCurrency = s.account(p.ID, currency), currency
	}
	return p.account
}

type subscription struct {
	id         string
	firstOrder string // the order whose referral renewals keep (the first placed while none is credited)
	winner     *Candidate
	placed     []int32 // its orders' positions in the order table, as placed (their count numbers a payment without a cycle)
}

// account is one partner's money in one currency, for payout checks.
type account struct {
	buckets []bucket
	paid    int64
}

// bucket is one entry's effect on an account: when it happened and when
// it becomes payable (Unix nanoseconds; fact times lie in 1970..2200).
type bucket struct {
	at, payableAt int64
	net           int64
}

func newBucket(at time.Time, payableAt int64, net int64) bucket {
	return bucket{at: at.UnixNano(), payableAt: payableAt, net: net}
}

// timeOf is the time of Unix nanoseconds the state holds.
func timeOf(nanos int64) time.Time { return time.Unix(0, nanos).UTC() }

// payable is what the account could pay out at time t. Its entries are
// summed in 128 bits (money.Sum): a partner's entries can pass 2^63 minor
// units together though none does alone. Past int64 it is clamped, which
// keeps every comparison with a payout (at most money.MaxPayout) right.
func (a *account) payable(t time.Time) int64 {
	var sum money.Sum
	now := t.UnixNano()
	for _, b := range a.buckets {
		if b.at <= now && b.payableAt <= now {
			sum.Add(b.net)
		}
	}
	sum.Sub(a.paid)
	return sum.Clamp()
}

func (s *State) account(partner, currency string) *account {
	// The key is built in a buffer the state reuses: looking a map up by
	// string(bytes) allocates nothing, where a concatenation would, for
	// every share.
	s.acctKey = append(append(append(s.acctKey[:0], partner...), 0), currency...)
	a, ok := s.accts[string(s.acctKey)]
	if !ok {
		a = &account{}
		s.accts[string(s.acctKey)] = a
	}
	return a
}

// ShareNet is what one partner holds of one order line's commission at one
// tier: accrued less reversed, in minor units of the order's currency.
type ShareNet struct {
	OrderID, LineID, PartnerID, Currency string
	Tier                                 int
	Net                                  int64
}

// EachShare calls fn for every share that any entry moved, order by order
// as they were placed: the sum of the entries of each is its Net. A
// StateOnly engine's what-if reads its commission from here.
func (s *State) EachShare(fn func(ShareNet)) {
	for _, o := range s.orders.list {
		for i := range o.lines {
			l := &o.lines[i]
			for _, sh := range l.shares {
				if sh.accrued != 0 || sh.reversed != 0 {
					fn(ShareNet{OrderID: o.id, LineID: l.id, PartnerID: sh.partner, Currency: o.cur.Code, Tier: sh.tier, Net: sh.accrued - sh.reversed})
				}
			}
		}
	}
}

// Sizes counts what a state holds, so that an engine about to fold a
// history whose size is known (a replay of the log a live engine has
// folded) can make room for all of it at once (Engine.Reserve) instead of
// growing tables of millions step by step. Measured on a 2-core VM, what
// that saves is about what a table large from its first insert costs in
// cache misses: BenchmarkFold reports both.
type Sizes struct {
	ClickIDBytes  int // bytes of the click ids too long to hold inline (inlineID)
	Visitors      int // visitors with clicks
	ClickContacts int // contacts carried by clicks
	Identified    int // visitors identified as a contact
	Contacts      int // contacts identified with a visitor
	Orders        int
	Facts         int // money-bearing facts remembered by key
}

// Sizes counts what the state holds.
func (s *State) Sizes() Sizes {
	return Sizes{
		ClickIDBytes: len(s.clicks.ids),
		Visitors:     s.clicks.byVisitor.Len(), ClickContacts: len(s.clicks.byContact),
		Identified: s.ids.contactOf.Len(), Contacts: s.ids.visitorsOf.Len(),
		Orders: s.orders.len(), Facts: s.facts.Len(),
	}
}

// Reserve takes counts up to maxReserve and the click id arena up to
// maxReserveBytes: sizes are hints read from files, and a wrong one must
// not take the machine's memory at once.
const (
	maxReserve      = 1 << 24
	maxReserveBytes = 1 << 30
)

// Reserve makes room, in an engine that has folded nothing yet, for a
// state of the given sizes; an engine that holds anything is left as it
// is. Sizes too small only mean growing later, as without them.
func (e *Engine) Reserve(z Sizes) {
	s := e.state
	if s.clicks.len() > 0 || s.orders.len() > 0 || s.ids.contactOf.Len() > 0 || s.facts.Len() > 0 {
		return
	}
	n := func(v int) int { return min(max(v, 0), maxReserve) }
	s.clicks.ids = make([]byte, 0, min(max(z.ClickIDBytes, 0), maxReserveBytes))
	s.clicks.byVisitor = digestmap.New[recentClicks](n(z.Visitors))
	s.clicks.byContact = make(map[uint64][]int32, n(z.ClickContacts))
	s.ids.contactOf = digestmap.New[identity](n(z.Identified))
	s.ids.visitorsOf = digestmap.New[[]identified](n(z.Contacts))
	s.orders = newOrderTable(n(z.Orders))
	s.facts = digestmap.New[uint64](n(z.Facts))
}

// EncodeSizes writes z for DecodeSizes.
func EncodeSizes(w *snapshot.Encoder, z Sizes) {
	for _, v := range z.fields() {
		w.Uvarint(uint64(*v))
	}
}

// DecodeSizes reads what EncodeSizes wrote.
func DecodeSizes(r *snapshot.Decoder) Sizes {
	var z Sizes
	for _, v := range z.fields() {
		*v = int(min(r.Uvarint(), maxReserveBytes))
	}
	return z
}

func (z *Sizes) fields() []*int {
	return []*int{&z.ClickIDBytes, &z.Visitors, &z.ClickContacts, &z.Identified, &z.Contacts, &z.Orders, &z.Facts}
}

// orderSlab hands out a state's orders, their lines and their shares from
// large arrays: a million orders are otherwise four million small objects,
// to allocate (placing them, restoring them) and for the collector to
// trace as long as the process runs. Orders live as long as the state, so
// an array is never kept alive for nothing; slices are handed out full
// (length = capacity), so an append copies. A state is never copied, so
// no two hand out the same slots.
type orderSlab struct {
	orderArr []order
	lineArr  []line
	shareArr []share
}

const slabSize = 4096

// order hands out a zero order.
func (s *orderSlab) order() *order { return &take(&s.orderArr, 1)[0] }

// prefetch hints the memory the next order placed will be written into:
// its record, a line and two shares. A slab array is zeroed when it is
// made and has left the cache long before most of its orders are placed,
// so writing one missed once a cache line.
func (s *orderSlab) prefetch() {
	if len(s.orderArr) > 0 {
		prefetch.Of(&s.orderArr[0])
	}
	if len(s.lineArr) > 0 {
		prefetch.Of(&s.lineArr[0])
	}
	if len(s.shareArr) > 1 {
		prefetch.Range(unsafe.Pointer(&s.shareArr[0]), 2*unsafe.Sizeof(share{}))
	}
}

func (s *orderSlab) lines(n int) []line { return take(&s.lineArr, n) }

// copyShares copies shares into the slab.
func (s *orderSlab) copyShares(shares []share) []share {
	out := s.shares(len(shares))
	copy(out, shares)
	return out
}

func (s *orderSlab) shares(n int) []share { return take(&s.shareArr, n) }

// take hands out the next n elements of a slab array, full, starting a
// new array when too few are left.
func take[T any](arr *[]T, n int) []T {
	if n > len(*arr) {
		*arr = make([]T, max(n, slabSize))
	}
	out := (*arr)[:n:n]
	*arr = (*arr)[n:]
	return out
}
