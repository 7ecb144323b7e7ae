package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/internal/chunked"
	"github.com/refledger/refledger/ledger"
	"github.com/refledger/refledger/money"
)

// Entry statuses (CONTRACT §3).
const (
	StatusPending  = "pending"
	StatusPayable  = "payable"
	StatusPaid     = "paid"
	StatusReversed = "reversed"
)

// Ledger is the read model of the ledger log. It is safe for concurrent
// use: one goroutine applies records while others read.
type Ledger struct {
	mu      sync.RWMutex
	entries chunked.Array[ledger.Entry] // in chunks: a view of millions is never copied to grow
	// byPartner lists each partner's entries (indices into entries).
	byPartner map[string][]int
	// attributions says where each order's latest explanation is in the
	// ledger log; it is read from there when asked for, so the view holds
	// a few bytes per order instead of the whole record.
	attributions map[string]recordRef
	// explained lists the keys of attributions in the order their first
	// explanation came, which the log fixes: a snapshot writes them so,
	// with no sort of a million ids while the writer waits.
	explained  []string
	source     store.Log // the ledger log, for explanations
	applying   recordRef // the record ApplyLedger takes next
	refusals   []ledger.Refusal
	timeline   *ledger.Timeline // the live timeline, as the ledger recorded it
	checkpoint ledger.Checkpoint
	head       store.Position
	// foldSizes are the sizes of the writer's engine state at the snapshot
	// the view was loaded from (zero without one): see FoldSizes.
	foldSizes ledger.Sizes
	lean      bool // keeps no explanations: for a what-if, which needs sums
	// onEntry, when set, is handed every entry instead of the view keeping
	// it (a summing view: see SumLedgerView).
	onEntry func(*ledger.Entry)
	// A replay too large for one commit is applied in parts: its entries
	// and explanations first, its replay.applied record last. Until that
	// record comes they are held here, by replay id; replayed lists the
	// replays whose record came (a one-commit apply puts it first).
	pending  map[string]*pendingReplay
	replayed map[string]bool
	// parts holds the records of one fact's decisions written in parts
	// (ledger.Checkpoint), until the part that ends them comes.
	parts *heldParts
}

// heldParts are the records of the parts of one fact's decisions so far:
// opened is the last part's checkpoint, inPart whether the records coming
// now belong to a part.
type heldParts struct {
	opened  ledger.Checkpoint
	inPart  bool
	orphan  bool // the view came in after the first part: never released
	records []heldRecord
}

type heldRecord struct {
	at recordRef
	r  ledger.Record
}

// pendingReplay is what the parts of a replay's apply brought so far.
type pendingReplay struct {
	entries      []ledger.Entry
	attributions map[string]recordRef
}

// held returns the pending part of replay id, when the record is from a
// replay whose apply is not complete yet; otherwise nil, and then any
// pending parts are orphans (the parts of an apply are consecutive in the
// log, so a record of anything else means the apply failed) and go.
func (l *Ledger) held(replayID string) *pendingReplay {
	if replayID != "" && !l.replayed[replayID] {
		if l.pending == nil {
			l.pending = map[string]*pendingReplay{}
		}
		p := l.pending[replayID]
		if p == nil {
			p = &pendingReplay{attributions: map[string]recordRef{}}
			l.pending[replayID] = p
		}
		return p
	}
	l.pending = nil
	return nil
}

// ApplyingReplay reports whether the view holds parts of a replay's apply,
// or of one fact's decisions, that have not completed: a snapshot then
// would lose them.
func (l *Ledger) ApplyingReplay() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.pending) > 0 || l.parts != nil
}

// recordRef is a record's place in the ledger log: the commit's position
// and the record's index in it.
type recordRef struct {
	pos   store.Position
	index uint32
}

// NewLedger returns an empty read model of the ledger log source, which it
// reads explanations from when they are asked for.
func NewLedger(source store.Log) *Ledger {
	return &Ledger{attributions: map[string]recordRef{}, timeline: ledger.NewTimeline(), source: source}
}

// NewLeanLedger returns a read model that keeps no explanations: all a
// what-if needs are the entries, the timeline and the checkpoint.
func NewLeanLedger() *Ledger {
	l := NewLedger(nil)
	l.lean = true
	return l
}

// orderIDOf reads an explanation's order id. encoding/json writes struct
// fields in order and order_id comes first, so the id is read off the front
// of the record instead of parsing all of it; anything else is parsed.
func orderIDOf(raw []byte) (string, error) {
	const prefix = `{"order_id":"`
	if bytes.HasPrefix(raw, []byte(prefix)) {
		rest := raw[len(prefix):]
		if end := bytes.IndexByte(rest, '"'); end >= 0 && bytes.IndexByte(rest[:end], '\\') < 0 {
			return string(rest[:end]), nil
		}
	}
	var key struct {
		OrderID string `json:"order_id"`
	}
	err := json.Unmarshal(raw, &key)
	return key.OrderID, err
}

// ApplyLedger adds one ledger record.
func (l *Ledger) ApplyLedger(pos store.Position, r ledger.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pos != l.applying.pos {
		l.applying = recordRef{pos: pos}
	}
	at := l.applying
	l.applying.index++
	l.head = pos
	if r.Type == ledger.TypeCheckpoint {
		var cp ledger.Checkpoint
		if err := json.Unmarshal(r.Data, &cp); err != nil {
			return fmt.Errorf("ledger record %s (%s): %w", r.ID, r.Type, err)
		}
		return l.applyCheckpoint(cp)
	}
	if l.parts != nil && l.parts.inPart {
		if !l.parts.orphan {
			r.Data = bytes.Clone(r.Data) // the caller may reuse its buffer
			l.parts.records = append(l.parts.records, heldRecord{at: at, r: r})
		}
		return nil
	}
	return l.apply(at, r)
}

// applyCheckpoint takes a commit's checkpoint: it opens or carries on the
// parts of one fact's decisions, or ends them, releasing what they held;
// anything that does not carry them on drops them.
func (l *Ledger) applyCheckpoint(cp ledger.Checkpoint) error {
	held := l.parts
	l.parts = nil
	if held != nil && !held.opened.Continues(cp) {
		held = nil // orphans: the writer stopped between parts
	}
	if cp.Part > 0 {
		if held == nil {
			held = &heldParts{orphan: cp.Part != 1}
		}
		held.opened, held.inPart = cp, true
		l.parts = held
		return nil
	}
	l.checkpoint = cp
	if held != nil && !held.orphan {
		for _, h := range held.records {
			if err := l.apply(h.at, h.r); err != nil {
				return err
			}
		}
	}
	return nil
}

// apply adds one ledger record that is not a checkpoint, found at at.
func (l *Ledger) apply(at recordRef, r ledger.Record) error {
	var err error
	switch r.Type {
	case ledger.TypeCommissionAccrued, ledger.TypeCommissionReversed, ledger.TypeCommissionAdjusted, ledger.TypePayoutPaid:
		var e ledger.Entry
		if r.Entry != nil {
			e = *r.Entry
		} else {
			err = json.Unmarshal(r.Data, &e)
		}
		if err == nil {
			if p := l.held(e.ReplayID); p != nil {
				p.entries = append(p.entries, e)
			} else {
				l.addEntry(e)
			}
		}
	case ledger.TypeOrderAttributed:
		if l.lean {
			break // a lean view keeps no explanations: entries alone are held
		}
		var order, replayID string
		if r.Explains != "" {
			order, replayID = r.Explains, r.ReplayID
		} else if order, err = orderIDOf(r.Data); err == nil {
			replayID, err = replayIDOf(r.Data)
		}
		if err != nil {
			break
		}
		if p := l.held(replayID); p != nil {
			p.attributions[order] = at
		} else {
			l.setAttribution(order, at)
		}
	case ledger.TypePolicyAdopted:
		var pv ledger.PolicyVersion
		if err = json.Unmarshal(r.Data, &pv); err == nil {
			l.held("")
			l.timeline.Change(pv.Version, pv.EffectiveAt, pv.Policy)
		}
	case ledger.TypeFactRefused:
		var f ledger.Refusal
		if err = json.Unmarshal(r.Data, &f); err == nil {
			l.held("")
			l.refusals = append(l.refusals, f)
		}
	case ledger.TypeFactReleased:
		var rl ledger.Release
		if err = json.Unmarshal(r.Data, &rl); err == nil {
			l.held("")
			l.release(rl.Fact)
		}
	case ledger.TypeReplayApplied:
		var rp ledger.ReplayApplied
		if err = json.Unmarshal(r.Data, &rp); err == nil {
			l.timeline = l.timeline.WithCandidate(rp.ReplayID, rp.Policy, rp.From, rp.Whole)
			l.completeReplay(rp.ReplayID)
		}
	}
	if err != nil {
		return fmt.Errorf("ledger record %s (%s): %w", r.ID, r.Type, err)
	}
	return nil
}

// completeReplay takes in what the parts of a replay's apply brought, now
// that its record came, and drops any other pending parts (orphans).
func (l *Ledger) completeReplay(id string) {
	p := l.pending[id]
	l.pending = nil
	if l.replayed == nil {
		l.replayed = map[string]bool{}
	}
	l.replayed[id] = true
	if p == nil {
		return
	}
	for _, e := range p.entries {
		l.addEntry(e)
	}
	for _, order := range slices.Sorted(maps.Keys(p.attributions)) { // a fixed order for explained
		l.setAttribution(order, p.attributions[order])
	}
}

// setAttribution notes where order's latest explanation is.
func (l *Ledger) setAttribution(order string, at recordRef) {
	if _, ok := l.attributions[order]; !ok {
		l.explained = append(l.explained, order)
	}
	l.attributions[order] = at
}

// replayIDOf reads an explanation's replay id: only a replay's explanations
// have one, so the record is parsed only when it names one.
func replayIDOf(raw []byte) (string, error) {
	if !bytes.Contains(raw, []byte(`"replay_id":`)) {
		return "", nil
	}
	var key struct {
		ReplayID string `json:"replay_id"`
	}
	err := json.Unmarshal(raw, &key)
	return key.ReplayID, err
}

func (l *Ledger) addEntry(e ledger.Entry) {
	if l.onEntry != nil {
		l.onEntry(&e)
		return
	}
	if l.byPartner == nil {
		l.byPartner = map[string][]int{}
	}
	l.byPartner[e.PartnerID] = append(l.byPartner[e.PartnerID], l.entries.Len())
	l.entries.Add(e)
}

// FoldSizes are the sizes of the writer's engine state when it wrote the
// snapshot the view was loaded from (zero when the view was read from the
// log alone): a replay of the same facts reserves room by them.
func (l *Ledger) FoldSizes() ledger.Sizes {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.foldSizes
}

// Head is the last ledger position applied.
func (l *Ledger) Head() store.Position {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.head
}

// Commission is a commission entry with its status at a time.
type Commission struct {
	ledger.Entry
	Status string `json:"status"`
}

// CommissionFilter selects commission entries; empty fields match all.
type CommissionFilter struct {
	PartnerID string
	OrderID   string
	// Kind is accrued, reversed or adjusted (adjustments come from replays
	// applied and from orders decided again for referrals that came late).
	Kind     string
	From, To time.Time // entry time, inclusive From, exclusive To
}

// CheckKind says what is wrong with a kind to filter commissions by.
func CheckKind(kind string) error {
	switch kind {
	case "", ledger.KindAccrued, ledger.KindReversed, ledger.KindAdjusted:
		return nil
	}
	return fmt.Errorf("%q is not a kind of commission entry: want accrued, reversed or adjusted", kind)
}

func (f CommissionFilter) match(e ledger.Entry) bool {
	return (f.PartnerID == "" || e.PartnerID == f.PartnerID) &&
		(f.OrderID == "" || e.OrderID == f.OrderID) &&
		(f.Kind == "" || e.Kind == f.Kind) &&
		(f.From.IsZero() || !e.Time.Before(f.From)) &&
		(f.To.IsZero() || e.Time.Before(f.To))
}

// Commissions lists commission entries (accrued, reversed, adjusted) in log
// order with their status at time now. An entry's status depends only on
// its own partner's entries (its share's net, and which of its entries the
// partner's payouts cover), so a query by partner or order reads only the
// entries of the partners concerned.
//
// A positive entry is reversed once what its share took back covers it
// (see openAmounts), pending until its payable time, paid once the
// partner's payouts cover what is left of it (oldest payable first), and
// payable otherwise. A negative entry is reversed, and an entry dated
// after now is pending.
func (l *Ledger) Commissions(f CommissionFilter, now time.Time) []Commission {
	l.mu.RLock()
	defer l.mu.RUnlock()
	scope := l.scope(f)
	open := l.openAmounts(scope, now)
	paid := l.paidEntries(scope, open, now)
	out := []Commission{}
	for _, i := range scope {
		e := l.entries.At(i)
		if e.Kind == ledger.KindPaid || !f.match(e) {
			continue
		}
		left, positive := open[i]
		status := StatusPayable
		switch {
		case e.Time.After(now):
			status = StatusPending // not in effect yet
		case e.Kind == ledger.KindReversed || !positive || left == 0:
			status = StatusReversed
		case now.Before(e.PayableAt):
			status = StatusPending
		case paid[i]:
			status = StatusPaid
		}
		out = append(out, Commission{Entry: e, Status: status})
	}
	return out
}

// scope lists, in log order, the entries whose statuses a filter's answer
// depends on: every entry of the partners it can concern.
func (l *Ledger) scope(f CommissionFilter) []int {
	var partners []string
	switch {
	case f.PartnerID != "":
		partners = []string{f.PartnerID}
	case f.OrderID != "":
		seen := map[string]bool{}
		for i := range l.entries.Len() {
			if e := l.entries.Ref(i); e.OrderID == f.OrderID && !seen[e.PartnerID] {
				seen[e.PartnerID] = true
				partners = append(partners, e.PartnerID)
			}
		}
	default:
		all := make([]int, l.entries.Len())
		for i := range all {
			all[i] = i
		}
		return all
	}
	var out []int
	for _, p := range partners {
		out = append(out, l.byPartner[p]...)
	}
	slices.Sort(out)
	return out
}

// shareID names one partner's commission on one order line at one tier.
type shareID struct {
	order, line string
	tier        int
	partner     string
}

func shareOf(e *ledger.Entry) shareID { return shareID{e.OrderID, e.LineID, e.Tier, e.PartnerID} }

// minorOf reads an entry amount in minor units. The engine wrote it; one
// that does not parse counts as nothing rather than stopping a read.
func minorOf(amount, currency string) int64 {
	c, err := money.Lookup(currency)
	if err != nil {
		return 0
	}
	n, err := money.ParseMinor(amount, c)
	if err != nil {
		return 0
	}
	return n
}

// openAmounts is what is left at time now of each positive commission
// entry among scope (by index), in minor units. Each negative entry of a
// share (a reversal, a negative adjustment) takes back from the positive
// entries before it in the log, the latest first: a refund cancels what
// had accrued by then, and the oldest entries, which payouts cover first,
// stay. Entries after now, and entries that are not positive, are absent.
func (l *Ledger) openAmounts(scope []int, now time.Time) map[int]int64 {
	before := map[shareID][]int{} // each share's positive entries so far, with something left
	open := map[int]int64{}
	for _, i := range scope {
		e := l.entries.Ref(i)
		if e.Kind == ledger.KindPaid || e.Time.After(now) {
			continue
		}
		sh := shareOf(e)
		net := minorOf(e.Net, e.Currency)
		if net > 0 {
			open[i] = net
			before[sh] = append(before[sh], i)
			continue
		}
		stack := before[sh]
		for back := -net; back > 0 && len(stack) > 0; {
			top := stack[len(stack)-1]
			take := min(open[top], back)
			open[top] -= take
			back -= take
			if open[top] == 0 {
				stack = stack[:len(stack)-1]
			}
		}
		before[sh] = stack
	}
	return open
}

// paidEntries marks the positive commission entries among scope that
// payouts up to now cover, oldest payable first, per partner and currency:
// an entry is covered when what the payouts have left covers what is open
// of it.
func (l *Ledger) paidEntries(scope []int, open map[int]int64, now time.Time) map[int]bool {
	type account struct{ partner, currency string }
	paidTotal := map[account]*money.Sum{} // 128 bits: payouts can pass 2^63 together
	var idx []int
	for _, i := range scope {
		e := l.entries.Ref(i)
		switch {
		case e.Kind == ledger.KindPaid && !e.Time.After(now):
			k := account{e.PartnerID, e.Currency}
			if paidTotal[k] == nil {
				paidTotal[k] = &money.Sum{}
			}
			paidTotal[k].Add(minorOf(e.Amount, e.Currency))
		case open[i] > 0 && !e.PayableAt.After(now):
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return l.entries.Ref(a).PayableAt.Compare(l.entries.Ref(b).PayableAt) })
	out := map[int]bool{}
	for _, i := range idx {
		e := l.entries.Ref(i)
		k := account{e.PartnerID, e.Currency}
		if amt, paid := open[i], paidTotal[k]; paid != nil && paid.Clamp() >= amt {
			paid.Sub(amt)
			out[i] = true
		}
	}
	return out
}

// Balance is a partner's money in one currency at a time (CONTRACT §3).
type Balance struct {
	PartnerID string `json:"partner_id"`
	Currency  string `json:"currency"`
	Earned    string `json:"earned"`
	Reversed  string `json:"reversed"`
	Pending   string `json:"pending"`
	Payable   string `json:"payable"`
	Paid      string `json:"paid"`
}

// sums are a balance's amounts in minor units, added in 128 bits: a
// partner's entries can pass 2^63 together though none does alone
// (money.MaxLineAmount says why).
type sums struct {
	earned, reversed, pending, payable, paid money.Sum
}

// Balances sums the entries that took effect by asOf, per partner and
// currency, sorted by partner then currency. Positive adjustments count as
// earned and negative ones as reversed; pending and payable are net of both.
// Payable is what has passed its holding period less what was paid: it is
// negative when commission already paid out was taken back.
func (l *Ledger) Balances(asOf time.Time) []Balance {
	l.mu.RLock()
	defer l.mu.RUnlock()
	by := map[[2]string]*sums{}
	for i := range l.entries.Len() {
		e := l.entries.Ref(i)
		if e.Time.After(asOf) {
			continue
		}
		k := [2]string{e.PartnerID, e.Currency}
		s, ok := by[k]
		if !ok {
			s = &sums{}
			by[k] = s
		}
		s.add(e, asOf)
	}
	keys := make([][2]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
	})
	out := make([]Balance, 0, len(keys))
	for _, k := range keys {
		out = append(out, by[k].balance(k[0], k[1]))
	}
	return out
}

func (s *sums) add(e *ledger.Entry, asOf time.Time) {
	amt, net := minorOf(e.Amount, e.Currency), minorOf(e.Net, e.Currency)
	switch e.Kind {
	case ledger.KindPaid:
		s.paid.Add(amt)
		return
	case ledger.KindAccrued:
		s.earned.Add(amt)
	case ledger.KindReversed:
		s.reversed.Add(amt)
	case ledger.KindAdjusted:
		if net > 0 {
			s.earned.Add(net)
		} else {
			s.reversed.Sub(net)
		}
	}
	if asOf.Before(e.PayableAt) {
		s.pending.Add(net)
	} else {
		s.payable.Add(net)
	}
}

func (s *sums) balance(partner, currency string) Balance {
	cur, err := money.Lookup(currency)
	if err != nil {
		cur = money.Currency{Code: currency} // never written by the engine; its amounts counted as nothing
	}
	f := func(n money.Sum) string { return money.FormatSum(n, cur) }
	payable := s.payable
	payable.SubSum(s.paid)
	return Balance{
		PartnerID: partner, Currency: currency,
		Earned: f(s.earned), Reversed: f(s.reversed), Pending: f(s.pending),
		Payable: f(payable), Paid: f(s.paid),
	}
}

// Explained reports whether the ledger has explained an order.
func (l *Ledger) Explained(orderID string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.attributions[orderID]
	return ok
}

// Attribution returns the latest explanation of an order, read from the
// ledger log; ok is false for an order the ledger has not explained.
func (l *Ledger) Attribution(ctx context.Context, orderID string) (a ledger.Attribution, ok bool, err error) {
	l.mu.RLock()
	at, ok := l.attributions[orderID]
	l.mu.RUnlock()
	if !ok {
		return ledger.Attribution{}, false, nil
	}
	if l.source == nil {
		return ledger.Attribution{}, false, errors.New("ledger view: no ledger log to read explanations from")
	}
	c, err := store.CommitAt(ctx, l.source, at.pos)
	if err != nil {
		return ledger.Attribution{}, false, fmt.Errorf("read the explanation of %s: %w", orderID, err)
	}
	var raw []byte
	if int(at.index) < len(c.Events) {
		raw = c.Events[at.index].Data
	}
	if raw == nil {
		return ledger.Attribution{}, false, fmt.Errorf("explanation of %s: ledger log has no record %d at %d", orderID, at.index, at.pos)
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return ledger.Attribution{}, false, fmt.Errorf("explanation of %s at %d: %w", orderID, at.pos, err)
	}
	if a.OrderID != orderID {
		return ledger.Attribution{}, false, fmt.Errorf("explanation of %s: the record at %d/%d explains %q (is the view from another ledger?)", orderID, at.pos, at.index, a.OrderID)
	}
	return a, true, nil
}

// Timeline returns the live policy timeline as the ledger recorded it.
func (l *Ledger) Timeline() *ledger.Timeline {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.timeline.Clone()
}

// Covers reports whether the ledger has decided every fact through the
// fact-log position head.
func (l *Ledger) Covers(head store.Position) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	cp := l.checkpoint
	switch {
	case head == 0:
		return true
	case cp.FactsThrough > head:
		return true
	case cp.FactsThrough < head:
		return false
	}
	return cp.FactsFolded < 0 || cp.FactsFolded >= cp.FactsInCommit
}

// Decided is the last fact-log position whose every fact the ledger has
// decided, as of its last checkpoint. whole is false when the ledger is
// part way through the next fact commit (its output did not fit one ledger
// commit, and the rest has not come yet); when whole, the ledger read so
// far holds exactly the output of the facts through the position.
func (l *Ledger) Decided() (through store.Position, whole bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	cp := l.checkpoint
	if cp.FactsFolded < 0 || cp.FactsFolded >= cp.FactsInCommit {
		return store.Position(cp.FactsThrough), true
	}
	return store.Position(cp.FactsThrough) - 1, cp.FactsFolded == 0
}

// release drops the held refusal of a fact that took effect.
func (l *Ledger) release(fact string) {
	l.refusals = slices.DeleteFunc(l.refusals, func(r ledger.Refusal) bool { return r.Held && r.Fact == fact })
}

// Refusals lists the facts the ledger refused, in log order, and those it
// holds until what they name arrives (Held).
func (l *Ledger) Refusals() []ledger.Refusal {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]ledger.Refusal{}, l.refusals...) // none is [], not null
}

// ReadOn reads into the view the ledger records appended since its head.
func (l *Ledger) ReadOn(ctx context.Context, ledgerLog store.Log) error {
	return loadFrom(ctx, ledgerLog, l.Head()+1, l)
}

// RefusalOf returns the refusal of a fact (source/id), if the ledger
// refused it.
func (l *Ledger) RefusalOf(fact string) (ledger.Refusal, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for i := len(l.refusals) - 1; i >= 0; i-- {
		if l.refusals[i].Fact == fact {
			return l.refusals[i], true
		}
	}
	return ledger.Refusal{}, false
}

// EachEntry calls fn with every entry, in log order, without copying them;
// fn must not change them. Appends wait until it returns.
func (l *Ledger) EachEntry(fn func(*ledger.Entry)) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for i := range l.entries.Len() {
		fn(l.entries.Ref(i))
	}
}

// EntryCount is the number of entries the view holds.
func (l *Ledger) EntryCount() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.entries.Len()
}

// OrdersDecidedAgain lists, in log order, the orders that entries from
// the from-th on adjusted for referrals that came late (not a replay).
func (l *Ledger) OrdersDecidedAgain(from int) []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []string
	for i := min(max(from, 0), l.entries.Len()); i < l.entries.Len(); i++ {
		e := l.entries.Ref(i)
		if e.Kind == ledger.KindAdjusted && e.ReplayID == "" && !slices.Contains(out, e.OrderID) {
			out = append(out, e.OrderID)
		}
	}
	return out
}

// Entries returns every entry, in log order.
func (l *Ledger) Entries() []ledger.Entry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]ledger.Entry, l.entries.Len())
	for i := range out {
		out[i] = l.entries.At(i)
	}
	return out
}

// CommissionRow is a commission as reports and the API show it: every
// field CONTRACT §3 names is always present.
type CommissionRow struct {
	EntryID   string `json:"entry_id"`
	Kind      string `json:"kind"`
	OrderID   string `json:"order_id"`
	LineID    string `json:"line_id"`
	PartnerID string `json:"partner_id"`
	Tier      int    `json:"tier"`
	Amount    string `json:"amount"`
	// SignedAmount is the amount with the sign of what it does to the
	// partner's balance: a credit positive, a reversal or a negative
	// adjustment negative, so that a column of them sums to the balance
	// (earned less reversed). Amount keeps the contract's form.
	SignedAmount string `json:"signed_amount"`
	Currency     string `json:"currency"`
	Status       string `json:"status"`
	Source       string `json:"source"`
	ClickID      string `json:"click_id"`
	LinkCode     string `json:"link_code"`
	ProgramID    string `json:"program_id"`
	Rate         string `json:"rate"`
	Time         string `json:"time"`
	PayableAt    string `json:"payable_at"`
	Policy       string `json:"policy_version"`
	RefundID     string `json:"refund_id,omitempty"`
	PaymentID    string `json:"payment_id,omitempty"`
	ReplayID     string `json:"replay_id,omitempty"`
}

// Row renders the commission for reports.
func (c Commission) Row() CommissionRow {
	return CommissionRow{
		EntryID: c.EntryID, Kind: c.Kind, OrderID: c.OrderID, LineID: c.LineID, PartnerID: c.PartnerID,
		Tier: c.Tier, Amount: c.Amount, SignedAmount: signedAmount(c.Kind, c.Amount), Currency: c.Currency, Status: c.Status, Source: c.Source,
		ClickID: c.ClickID, LinkCode: c.LinkCode, ProgramID: c.ProgramID, Rate: c.Rate,
		Time: c.Time.Format(time.RFC3339Nano), PayableAt: c.PayableAt.Format(time.RFC3339Nano), Policy: c.Policy,
		RefundID: c.RefundID, PaymentID: c.PaymentID, ReplayID: c.ReplayID,
	}
}

// CommissionHeader is the column order of commission tables.
// The columns after program_id came later: a script reading columns by
// position keeps its own.
var CommissionHeader = []string{"entry_id", "kind", "order_id", "line_id", "partner_id", "tier", "amount", "currency", "status", "source", "click_id", "link_code", "program_id",
	"signed_amount", "rate", "time", "payable_at"}

// Cells renders the row's CommissionHeader columns.
func (r CommissionRow) Cells() []string {
	return []string{r.EntryID, r.Kind, r.OrderID, r.LineID, r.PartnerID, strconv.Itoa(r.Tier), r.Amount, r.Currency, r.Status, r.Source, r.ClickID, r.LinkCode, r.ProgramID,
		r.SignedAmount, r.Rate, r.Time, r.PayableAt}
}

// signedAmount is an entry's amount signed by what it does to the balance:
// a reversal's amount is positive in the contract's form and takes from
// the balance; an adjustment's carries its own sign.
func signedAmount(kind, amount string) string {
	if kind != ledger.KindReversed || amount == "" {
		return amount
	}
	if rest, negative := strings.CutPrefix(amount, "-"); negative {
		return rest
	}
	if strings.Trim(amount, "0.") == "" {
		return amount // zero has no sign
	}
	return "-" + amount
}

// BalanceHeader is the column order of balance tables.
var BalanceHeader = []string{"partner_id", "currency", "earned", "reversed", "pending", "payable", "paid"}

// Cells renders the balance's BalanceHeader columns.
func (b Balance) Cells() []string {
	return []string{b.PartnerID, b.Currency, b.Earned, b.Reversed, b.Pending, b.Payable, b.Paid}
}
