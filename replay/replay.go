package replay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/internal/digestmap"
	"github.com/refledger/refledger/internal/intern"
	"github.com/refledger/refledger/ledger"
	"github.com/refledger/refledger/money"
	"github.com/refledger/refledger/projections"
)

// ErrLedgerBusy: a live writer was part way through deciding a fact
// commit, so the ledger did not stand for a whole number of fact commits.
// It is soon through; try again.
var ErrLedgerBusy = errors.New("the ledger is busy")

// Request is a what-if: a candidate policy, in force from From on, or over
// the whole timeline when From is nil.
type Request struct {
	Policy ledger.Policy
	From   *time.Time
	// Current replays under the timeline as it stands, with no candidate:
	// its diff is empty unless history holds a change not yet applied.
	Current bool
	// LedgerSnapshot is the ledger writer's snapshot, if there is one: the
	// ledger as it stands is read from it and the records after it,
	// instead of from the whole ledger log.
	LedgerSnapshot string
	// Live says that a live writer (the service) keeps the ledger: the
	// what-if replays the facts the ledger has decided, instead of bringing
	// it up to date beside that writer.
	Live bool
}

// Change is one order line whose tier-1 commission differs. A nil partner
// means nobody earns on the line.
type Change struct {
	OrderID       string  `json:"order_id"`
	LineID        string  `json:"line_id"`
	PartnerBefore *string `json:"partner_before"`
	PartnerAfter  *string `json:"partner_after"`
	AmountBefore  string  `json:"amount_before"`
	AmountAfter   string  `json:"amount_after"`
	Currency      string  `json:"currency"`
}

// Total compares a partner's commission in one currency over all tiers.
type Total struct {
	PartnerID string `json:"partner_id"`
	Currency  string `json:"currency"`
	Before    string `json:"before"`
	After     string `json:"after"`
	Delta     string `json:"delta"`
}

// Summary counts what a replay changes.
type Summary struct {
	OrdersChanged    int        `json:"orders_changed"`
	PartnersAffected int        `json:"partners_affected"`
	NetDelta         []NetDelta `json:"net_delta"`
}

// NetDelta is the net change of all commission in one currency.
type NetDelta struct {
	Currency string `json:"currency"`
	Delta    string `json:"delta"`
}

// Result is a what-if's answer, and what Apply needs to apply it.
type Result struct {
	ReplayID     string         `json:"replay_id"`
	Policy       ledger.Policy  `json:"policy"`
	From         *time.Time     `json:"from"`
	FactsThrough store.Position `json:"facts_through"`
	LedgerAt     store.Position `json:"ledger_at"`
	Changes      []Change       `json:"changes"`
	Totals       []Total        `json:"totals"`
	Summary      Summary        `json:"summary"`
	// Noop is true when the candidate timeline is already in force and
	// nothing differs: applying it changes nothing.
	Noop bool `json:"noop"`
	// SnapshotUnusable says why the ledger snapshot the request named was
	// not used (the ledger log was read instead); nil when it was, or when
	// none was named.
	SnapshotUnusable error `json:"-"`
	// Took says where a what-if's time went: summing the ledger as it
	// stands, folding the facts, and comparing the two.
	Took struct{ Ledger, Fold, Compare time.Duration } `json:"-"`

	// changed are the shares whose net the replay changes, in order, and
	// before and after their sums in the ledger and in the replay: all an
	// apply needs of the comparison.
	changed          []shareKey
	before, after    shareSums
	facts, ledgerLog store.Log
	request          Request
	base             *ledger.Timeline // the timeline in force when the what-if read the ledger
	timeline         *ledger.Timeline // the timeline replayed
	// sizes are the live engine state's, for the replay's engines to
	// reserve room by (zero when unknown).
	sizes ledger.Sizes
}

// shareKey names one partner's commission on one order line at one tier.
type shareKey struct {
	order, line string
	tier        int
	partner     string
}

type shareSum struct {
	net      int64 // minor units
	currency string
}

// Progress is told how far through the fact log a replay is.
type Progress func(done, total store.Position)

// WhatIf brings the ledger up to date, replays every fact under the
// candidate timeline and compares. It writes nothing but the catch-up.
func WhatIf(ctx context.Context, facts, ledgerLog store.Log, req Request, progress Progress) (*Result, error) {
	start := time.Now()
	cur, err := currentLedger(ctx, facts, ledgerLog, req.LedgerSnapshot, req.Live)
	if err != nil {
		return nil, err
	}
	view := cur.view
	res := &Result{Policy: req.Policy, From: req.From, FactsThrough: cur.head, LedgerAt: view.Head(), SnapshotUnusable: cur.snapshotUnusable}
	res.Took.Ledger = time.Since(start)
	current := view.Timeline()
	res.ReplayID = replayID(req, res.FactsThrough, res.LedgerAt)
	res.base, res.timeline = current.Clone(), current.Clone()
	if !req.Current {
		from := time.Time{}
		if req.From != nil {
			from = *req.From
		}
		res.timeline = current.WithCandidate(res.ReplayID, req.Policy, from, req.From == nil)
	}
	// The ledger's side was summed as it was read, without holding it: a
	// what-if holds the engine and two sets of sums, not the ledger.
	res.facts, res.ledgerLog, res.request, res.sizes = facts, ledgerLog, req, cur.sizes
	pairs := cur.sums
	view, cur = nil, ledgerNow{}
	// The what-if needs only each share's sum, which the engine's state
	// holds: it folds without writing entries or explanations.
	e := res.engine()
	e.StateOnly()
	start = time.Now()
	if err := res.fold(ctx, e, progress, nil); err != nil {
		return nil, err
	}
	res.Took.Fold = time.Since(start)
	start = time.Now()
	pairs.addReplay(e.State())
	e = nil
	changed := pairs.changed()
	res.compare(changed, &pairs)
	res.Noop = len(res.Changes) == 0 && len(changed) == 0 && res.timeline.SamePolicies(current)
	// Applying needs only the shares the replay changes, and a result is
	// held (by the service, for its apply) long after the what-if.
	res.changed = changed
	res.before, res.after = pairs.only(changed)
	res.Took.Compare = time.Since(start)
	return res, nil
}

// engine is a new engine for the replayed timeline, with room for the
// state the live one holds.
func (r *Result) engine() *ledger.Engine {
	e := ledger.NewEngine(r.timeline.Clone())
	e.Reserve(r.sizes)
	return e
}

// ledgerNow is the ledger as it stands, summed by share.
type ledgerNow struct {
	view             *projections.Ledger
	sums             sharePairs     // the ledger's side only
	head             store.Position // the facts the ledger has decided
	snapshotUnusable error          // why the named snapshot was not used
	sizes            ledger.Sizes   // the live engine state's, where known
}

// currentLedger sums the ledger as it stands, reading it without holding
// its entries. When it has not decided every fact yet, the writer brings it
// up to date first (which refolds the history), unless live says a live
// writer keeps it: then it stands for the facts it has decided.
func currentLedger(ctx context.Context, facts, ledgerLog store.Log, snapshotPath string, live bool) (ledgerNow, error) {
	var cur ledgerNow
	head, err := facts.Head(ctx)
	if err != nil {
		return cur, err
	}
	var sumErr error
	lineIDs := intern.New(1 << 16) // "l1", "l2": one copy each for a million shares
	sum := func(e *ledger.Entry) {
		if err := cur.sums.addLedger(e, lineIDs); err != nil && sumErr == nil {
			sumErr = err
		}
	}
	restart := func() { cur.sums, sumErr = sharePairs{}, nil }
	restart()
	cur.view, cur.snapshotUnusable, err = projections.SumLedgerView(ctx, ledgerLog, snapshotPath, sum, restart) // without a usable snapshot, it reads the log
	if err == nil {
		err = sumErr
	}
	if err != nil {
		return cur, err
	}
	cur.sizes = cur.view.FoldSizes()
	if cur.view.Covers(head) {
		cur.head = head
		return cur, nil
	}
	if live {
		through, whole := cur.view.Decided()
		if !whole {
			return cur, fmt.Errorf("%w: the ledger is part way through deciding fact commit %d; try again", ErrLedgerBusy, through+1)
		}
		cur.head = through
		return cur, nil
	}
	cur.view = projections.NewLeanLedger()
	w, err := openCurrent(ctx, facts, ledgerLog, cur.view)
	if err != nil {
		return cur, err
	}
	restart()
	cur.view.EachEntry(sum)
	cur.head, cur.sizes = w.FactsFolded(), w.Sizes()
	return cur, sumErr
}

// fold runs engine e over the facts the what-if covers, handing each
// commit's output to each (when not nil).
func (r *Result) fold(ctx context.Context, e *ledger.Engine, progress Progress, each func(ledger.Output)) error {
	err := projections.ReadFactsAhead(ctx, r.facts, 1, r.FactsThrough, func(fc projections.FactCommit) error {
		out := projections.Fold(e, fc)
		if each != nil {
			each(out)
		}
		if progress != nil {
			progress(fc.Position, r.FactsThrough)
		}
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("replay facts: %w", err)
	}
	return nil
}

// refold folds the replay again and keeps, for the given orders, their
// explanations and a sample entry of each of their shares: a what-if keeps
// neither, to stay small; applying or explaining asks for the few it needs.
func (r *Result) refold(ctx context.Context, orders map[string]bool) (map[string]ledger.Attribution, map[shareKey]ledger.Entry, *ledger.Engine, error) {
	explained, samples := map[string]ledger.Attribution{}, map[shareKey]ledger.Entry{}
	// Only the given orders are put into words: the rest of the fold runs
	// as fast as the what-if's.
	e := r.engine()
	e.ExplainOnly(func(order string) bool { return orders[order] })
	err := r.fold(ctx, e, nil, func(o ledger.Output) {
		for _, a := range o.Attributions {
			if orders[a.OrderID] {
				explained[a.OrderID] = a
			}
		}
		for _, e := range o.Entries {
			if !orders[e.OrderID] || e.Kind == ledger.KindPaid {
				continue
			}
			if k := keyOf(&e); e.Kind != ledger.KindReversed || samples[k].EntryID == "" {
				samples[k] = e
			}
		}
	})
	return explained, samples, e, err
}

// ledgerSamples reads the ledger again for an entry of each of the given
// shares, for the adjustments of shares the replay leaves without one.
func (r *Result) ledgerSamples(ctx context.Context, keys map[shareKey]bool) (map[shareKey]ledger.Entry, error) {
	view, _, err := projections.LoadLedgerView(ctx, r.ledgerLog, r.request.LedgerSnapshot)
	if err != nil {
		return nil, err
	}
	samples := map[shareKey]ledger.Entry{}
	view.EachEntry(func(e *ledger.Entry) {
		if k := keyOf(e); keys[k] && e.Kind != ledger.KindPaid && (e.Kind != ledger.KindReversed || samples[k].EntryID == "") {
			samples[k] = *e
		}
	})
	return samples, nil
}

// openCurrent opens the writer on the ledger as it stands, caught up.
func openCurrent(ctx context.Context, facts, ledgerLog store.Log, view *projections.Ledger) (*projections.Writer, error) {
	w, err := projections.OpenWriter(ctx, facts, ledgerLog, view)
	if err != nil {
		return nil, err
	}
	if err := w.CatchUp(ctx); err != nil {
		return nil, fmt.Errorf("bring the ledger up to date: %w", err)
	}
	return w, nil
}

func replayID(req Request, facts, ledgerAt store.Position) string {
	h := sha256.New()
	b, _ := json.Marshal(struct {
		P       ledger.Policy
		F       *time.Time
		Current bool
		At      [2]uint64
	}{req.Policy, req.From, req.Current, [2]uint64{facts, ledgerAt}})
	h.Write(b)
	return "replay-" + hex.EncodeToString(h.Sum(nil)[:8])
}

// shareSums sums commission entries per order line, tier and partner.
type shareSums map[shareKey]shareSum

// sharePair is one share's net in the ledger and in the replay, in minor
// units of its currency, while a what-if compares them.
type sharePair struct {
	ledger, replay     int64
	currency           string
	inLedger, inReplay bool
}

// sharePairs holds both sides of every share, so that the replay's side is
// summed into the ledger's without a second set of a million shares, and
// the comparison is one pass. The pairs lie in one slice, found through a
// digestmap.Index of their keys: summing a share touches its index slot
// and its pair, where a Go map keyed by three strings hashed them twice and
// read their bytes from wherever they lay, and the comparison walks the
// slice in order.
type sharePairs struct {
	index digestmap.Index[shareKey] // share key -> position in pairs
	pairs []keyedPair
}

type keyedPair struct {
	key shareKey
	sharePair
}

// shareDigest digests a share key (a test makes every key collide).
var shareDigest = shareKey.digest

// digest digests the key's parts, each ended by a zero byte.
func (k shareKey) digest() uint64 {
	h := digestmap.AddByte(digestmap.Add(digestmap.Offset, k.order), 0)
	h = digestmap.AddByte(digestmap.Add(h, k.line), 0)
	h = digestmap.AddByte(digestmap.Add(h, strconv.Itoa(k.tier)), 0)
	return digestmap.Add(h, k.partner)
}

func (m *sharePairs) keyAt(i int32) shareKey { return m.pairs[i].key }

// at returns the share's pair, adding it empty if it is new.
func (m *sharePairs) at(k shareKey) *sharePair {
	i, held := m.index.FindOrAdd(k, shareDigest(k), m.keyAt, int32(len(m.pairs)))
	if !held {
		m.pairs = append(m.pairs, keyedPair{key: k})
	}
	return &m.pairs[i].sharePair
}

// get returns the share's pair, if it is held.
func (m *sharePairs) get(k shareKey) (sharePair, bool) {
	i, held := m.index.Find(k, shareDigest(k), m.keyAt)
	if !held {
		return sharePair{}, false
	}
	return m.pairs[i].sharePair, true
}

// addLedger sums an entry into its share's ledger side. An entry whose net
// does not parse is an error: the ledger log holds something the engine
// never wrote. The sums keep their own copy of the order id and one copy of
// each line id that lineIDs holds: an entry summed from a snapshot holds
// strings that share the snapshot's bytes.
func (m *sharePairs) addLedger(e *ledger.Entry, lineIDs *intern.Table) error {
	if e.Kind == ledger.KindPaid {
		return nil
	}
	c, err := money.Lookup(e.Currency)
	if err != nil {
		return fmt.Errorf("ledger entry %s: %w", e.EntryID, err)
	}
	net, err := money.ParseMinor(e.Net, c)
	if err != nil {
		return fmt.Errorf("ledger entry %s: net %w", e.EntryID, err)
	}
	k := keyOf(e)
	k.order, k.line = strings.Clone(k.order), lineIDs.Copy(k.line)
	p := m.at(k)
	p.ledger += net
	p.currency, p.inLedger = e.Currency, true
	return nil
}

// addReplay sums the replay's shares, from the state it folded, into their
// replay side.
func (m *sharePairs) addReplay(s *ledger.State) { s.EachShare(m.addReplayShare) }

func (m *sharePairs) addReplayShare(sh ledger.ShareNet) {
	p := m.at(shareKey{sh.OrderID, sh.LineID, sh.Tier, sh.PartnerID})
	p.replay += sh.Net
	p.currency, p.inReplay = sh.Currency, true
}

// changed lists the shares whose net differs between the ledger and the
// replay, in order.
func (m *sharePairs) changed() []shareKey {
	var out []shareKey
	for _, p := range m.pairs {
		if p.ledger != p.replay {
			out = append(out, p.key)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].less(out[j]) })
	return out
}

// only returns the two sides of the given shares, each as the sums of the
// shares that side holds.
func (m *sharePairs) only(keys []shareKey) (ledgerSide, replaySide shareSums) {
	ledgerSide, replaySide = shareSums{}, shareSums{}
	for _, k := range keys {
		p, _ := m.get(k)
		if p.inLedger {
			ledgerSide[k] = shareSum{net: p.ledger, currency: p.currency}
		}
		if p.inReplay {
			replaySide[k] = shareSum{net: p.replay, currency: p.currency}
		}
	}
	return ledgerSide, replaySide
}

func keyOf(e *ledger.Entry) shareKey { return shareKey{e.OrderID, e.LineID, e.Tier, e.PartnerID} }
