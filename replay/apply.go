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

// ErrTooLarge: the replay changes more than one ledger commit can hold
// (store.MaxCommitEvents), and an apply is one commit, all or nothing.
// Nothing was applied; apply the policy in parts (see the message).
var ErrTooLarge = errors.New("too large to apply in one commit")

// Applied says what Apply did.
type Applied struct {
	Position    store.Position `json:"position"`
	Adjustments int            `json:"adjustments"`
	// AlreadyApplied is true when this replay was applied before, or when
	// its policy was already in force with nothing to adjust.
	AlreadyApplied bool `json:"already_applied"`
}

// Apply appends the replay as one atomic commit fenced at the ledger
// position the what-if read: the replay record (policy and where it takes
// effect), the adjusting entries, and the new explanation of every changed
// order. appliedAt is when the adjustments take effect.
func Apply(ctx context.Context, ledgerLog store.Log, r *Result, appliedAt time.Time) (Applied, error) {
	if r.Noop {
		return Applied{AlreadyApplied: true}, nil
	}
	keys := r.changedShares()
	changed := map[string]bool{}
	for _, k := range keys {
		changed[k.order] = true
	}
	// Said before the refold, which takes as long as the what-if: the
	// commit holds a checkpoint, the replay record, an adjusting entry per
	// changed share and an explanation per changed order.
	if n := 2 + len(keys) + len(changed); n > store.MaxCommitEvents {
		return Applied{}, fmt.Errorf("%w: replay %s changes %d shares of %d orders, %d ledger events, and one commit holds at most %d: apply the policy in parts, a replay with a late --from first, then earlier ones", ErrTooLarge, r.ReplayID, len(keys), len(changed), n, store.MaxCommitEvents)
	}
	explained, samples, err := r.refold(ctx, changed)
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
	c := store.Commit{ID: "replay:" + r.ReplayID, Events: []store.Event{
		{ID: "replay:" + r.ReplayID + ":checkpoint", Type: ledger.TypeCheckpoint, Data: cp},
		{ID: "replay:" + r.ReplayID, Type: ledger.TypeReplayApplied, Data: body},
	}}
	for _, e := range adjustments {
		b, _ := json.Marshal(e)
		c.Events = append(c.Events, store.Event{ID: e.EntryID, Type: ledger.TypeCommissionAdjusted, Data: b})
	}
	for _, ch := range changedOrders(adjustments) {
		a := explained[ch]
		a.ReplayID = r.ReplayID
		b, _ := json.Marshal(a)
		c.Events = append(c.Events, store.Event{ID: "attribution:" + ch + ":" + r.ReplayID, Type: ledger.TypeOrderAttributed, Data: b})
	}
	if err := c.Validate(); err != nil {
		return Applied{}, fmt.Errorf("%w: replay %s, %d events: %w", ErrTooLarge, r.ReplayID, len(c.Events), err)
	}
	res, err := ledgerLog.Append(ctx, c, store.At(r.LedgerAt))
	switch {
	case errors.Is(err, store.ErrWrongPosition):
		return Applied{}, fmt.Errorf("%w (read at ledger position %d): %v", ErrLedgerMoved, r.LedgerAt, err)
	case err != nil:
		return Applied{}, fmt.Errorf("append replay %s: %w", r.ReplayID, err)
	}
	return Applied{Position: res.Position, Adjustments: len(adjustments), AlreadyApplied: res.Duplicate}, nil
}

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
	explained, _, err := r.refold(ctx, map[string]bool{order: true})
	if err != nil {
		return before, after, false, err
	}
	after, ok = explained[order]
	view, _, err := projections.LoadExplanations(ctx, r.ledgerLog, r.ledgerSnapshot)
	if err != nil {
		return before, after, false, err
	}
	before, _, err = view.Attribution(ctx, order)
	return before, after, ok, err
}
