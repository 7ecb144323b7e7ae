package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/ledger"
	"github.com/refledger/refledger/projections"
)

// ErrLedgerMoved: the ledger changed between the what-if and its apply.
// Nothing was applied; run the what-if again.
var ErrLedgerMoved = errors.New("the ledger moved since the what-if")

// ErrTimelineMoved: the policy timeline in force changed since the what-if
// (a policy change, or another replay applied), so its diff no longer says
// what applying it would do. Nothing was applied; run the what-if again.
var ErrTimelineMoved = errors.New("the policy timeline in force changed since the what-if")

// ErrTooLarge: one of the replay's changes (an explanation) is larger than
// a ledger commit can hold. Nothing was applied.
var ErrTooLarge = errors.New("too large for a ledger commit")

// Applied says what Apply did.
type Applied struct {
	Position    store.Position `json:"position"`
	Adjustments int            `json:"adjustments"`
	// AlreadyApplied is true when this replay was applied before, or when
	// its policy was already in force with nothing to adjust.
	AlreadyApplied bool `json:"already_applied"`

	record ledger.ReplayApplied
	engine *ledger.Engine // the replay's fold, through its facts
}

// Reported is a without the fold it carries for a live ledger writer: what
// an answer that is kept (a background job's) may hold.
func (a Applied) Reported() Applied {
	a.engine = nil
	return a
}

// Restated is what the apply leaves for a live ledger writer: the replay's
// record and its fold of the facts through record.FactsThrough under the
// replay's timeline (projections.Writer.AdoptReplay takes them instead of
// restating). ok is false when the apply appended nothing.
func (a Applied) Restated() (record ledger.ReplayApplied, engine *ledger.Engine, ok bool) {
	return a.record, a.engine, a.engine != nil && !a.AlreadyApplied
}

// Apply appends the replay, all or nothing, fenced at the ledger position
// the what-if read: the replay record (policy and where it takes effect),
// the adjusting entries, and the new explanation of every changed order.
// That is one commit when it fits, else parts that readers take in only
// when the last one, with the record, comes (see applyCommits). appliedAt
// is when the adjustments take effect.
func Apply(ctx context.Context, ledgerLog store.Log, r *Result, appliedAt time.Time) (Applied, error) {
	if r.Noop {
		return Applied{AlreadyApplied: true}, nil
	}
	keys := r.changed
	changed := map[string]bool{}
	for _, k := range keys {
		changed[k.order] = true
	}
	explained, samples, engine, err := r.refold(ctx, changed)
	if err != nil {
		return Applied{}, err
	}
	missing := map[shareKey]bool{}
	for _, k := range keys {
		if _, ok := samples[k]; !ok {
			missing[k] = true
		}
	}
	var ledgerSamples map[shareKey]ledger.Entry
	if len(missing) > 0 {
		if ledgerSamples, err = r.ledgerSamples(ctx, missing); err != nil {
			return Applied{}, err
		}
	}
	adjustments, err := r.adjustments(keys, samples, ledgerSamples, appliedAt)
	if err != nil {
		return Applied{}, err
	}
	rec := ledger.ReplayApplied{
		ReplayID: r.ReplayID, Policy: r.Policy, Whole: r.From == nil,
		FactsThrough: r.FactsThrough, LedgerAt: r.LedgerAt,
	}
	if r.From != nil {
		rec.From = *r.From
	}
	cp, _ := json.Marshal(ledger.Checkpoint{FactsThrough: r.FactsThrough, FactsFolded: -1})
	body, _ := json.Marshal(rec)
	record := store.Event{ID: "replay:" + r.ReplayID, Type: ledger.TypeReplayApplied, Data: body}
	var changes []store.Event
	for _, e := range adjustments {
		b, _ := json.Marshal(e)
		changes = append(changes, store.Event{ID: e.EntryID, Type: ledger.TypeCommissionAdjusted, Data: b})
	}
	for _, ch := range changedOrders(adjustments) {
		a := explained[ch]
		a.ReplayID = r.ReplayID
		b, _ := json.Marshal(a)
		changes = append(changes, store.Event{ID: "attribution:" + ch + ":" + r.ReplayID, Type: ledger.TypeOrderAttributed, Data: b})
	}
	pos, dup := r.LedgerAt, true
	for _, c := range applyCommits(r.ReplayID, cp, record, changes) {
		if err := c.Validate(); err != nil {
			return Applied{}, fmt.Errorf("%w: replay %s: %w", ErrTooLarge, r.ReplayID, err)
		}
		res, err := ledgerLog.Append(ctx, c, store.At(pos))
		switch {
		case errors.Is(err, store.ErrWrongPosition):
			return Applied{}, fmt.Errorf("%w (read at ledger position %d): %v", ErrLedgerMoved, r.LedgerAt, err)
		case err != nil:
			return Applied{}, fmt.Errorf("append replay %s: %w", r.ReplayID, err)
		}
		pos, dup = res.Position, dup && res.Duplicate
	}
	return Applied{Position: pos, Adjustments: len(adjustments), AlreadyApplied: dup, record: rec, engine: engine}, nil
}

// ApplyLatest applies r and, if the ledger moved since its what-if (the
// live writer decided more facts), runs the what-if again at the logs'
// heads and applies that, at most retries times. It returns the result it
// applied, which is r unless it recomputed. A recompute under another
// timeline in force fails with ErrTimelineMoved: new facts are what it is
// for, another policy is for the operator to look at.
func ApplyLatest(ctx context.Context, r *Result, appliedAt time.Time, retries int, progress Progress) (*Result, Applied, error) {
	for attempt := 0; ; attempt++ {
		applied, err := Apply(ctx, r.ledgerLog, r, appliedAt)
		if !errors.Is(err, ErrLedgerMoved) || attempt >= retries {
			return r, applied, err
		}
		if r, err = r.Recompute(ctx, progress); err != nil {
			return nil, Applied{}, err
		}
	}
}

// Recompute runs r's what-if again, at the logs' heads. It fails with
// ErrTimelineMoved when the timeline in force is no longer the one r read.
func (r *Result) Recompute(ctx context.Context, progress Progress) (*Result, error) {
	again, err := WhatIf(ctx, r.facts, r.ledgerLog, r.request, progress)
	if err != nil {
		return nil, err
	}
	if !again.base.SamePolicies(r.base) {
		return nil, fmt.Errorf("%w (replay %s; the new what-if is %s)", ErrTimelineMoved, r.ReplayID, again.ReplayID)
	}
	return again, nil
}

// applyCommits lays a replay's apply out in ledger commits. It fits one
// commit, all or nothing, when it can: the checkpoint, the replay record,
// then the changes (adjusting entries and explanations). Otherwise the
// changes go first, in as many commits as the bounds ask, each opening
// with a checkpoint, and a last commit holds the checkpoint and the replay
// record: readers hold a replay's changes until its record comes, and drop
// them if anything else comes first (the apply failed), so the apply is
// still all or nothing. The commit ids are derived, so repeating an apply
// repeats its commits exactly, which the store reports as duplicates.
func applyCommits(replayID string, checkpoint []byte, record store.Event, changes []store.Event) []store.Commit {
	id := "replay:" + replayID
	cp := func(commitID string) store.Event {
		return store.Event{ID: commitID + ":checkpoint", Type: ledger.TypeCheckpoint, Data: checkpoint}
	}
	whole := store.Commit{ID: id, Events: append([]store.Event{cp(id), record}, changes...)}
	if whole.Validate() == nil {
		return []store.Commit{whole}
	}
	var commits []store.Commit
	for len(changes) > 0 {
		partID := fmt.Sprintf("%s:part:%d", id, len(commits)+1)
		part := store.Commit{ID: partID, Events: []store.Event{cp(partID)}}
		size := part.Size()
		for len(changes) > 0 && len(part.Events) < applyPartEvents {
			next := store.Commit{Events: changes[:1]}
			if size+next.Size() > applyPartBytes && len(part.Events) > 1 {
				break
			}
			part.Events, size, changes = append(part.Events, changes[0]), size+next.Size(), changes[1:]
		}
		commits = append(commits, part)
	}
	return append(commits, store.Commit{ID: id, Events: []store.Event{cp(id), record}})
}

// The bounds of one part of an apply: the store's, less a margin (a
// variable so that a test can make parts small).
var (
	applyPartEvents = store.MaxCommitEvents
	applyPartBytes  = store.MaxCommitBytes - 4<<10
)

// changedOrders lists the orders the adjustments touch, in their order.
func changedOrders(adjustments []ledger.Entry) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range adjustments {
		if !seen[e.OrderID] {
			seen[e.OrderID] = true
			out = append(out, e.OrderID)
		}
	}
	return out
}

// Explain returns an order's explanation in the ledger and under the
// replay.
func (r *Result) Explain(ctx context.Context, order string) (before, after ledger.Attribution, ok bool, err error) {
	explained, _, _, err := r.refold(ctx, map[string]bool{order: true})
	if err != nil {
		return before, after, false, err
	}
	after, ok = explained[order]
	view, _, err := projections.LoadExplanations(ctx, r.ledgerLog, r.request.LedgerSnapshot)
	if err != nil {
		return before, after, false, err
	}
	before, _, err = view.Attribution(ctx, order)
	return before, after, ok, err
}
