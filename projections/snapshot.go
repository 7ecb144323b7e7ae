package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/internal/snapshot"
	"github.com/refledger/refledger/ledger"
)

// The ledger writer's snapshot: where the writer stood in both logs (with
// the ids of the commits there, to notice logs that are not the ones the
// snapshot was taken from), the sizes of its engine's state (for a replay
// to reserve room by, without reading the engine), the ledger view it fed,
// and its engine.
const (
	writerSnapshotKind    = "refledger.ledger-writer"
	writerSnapshotVersion = 11 // 11: click times in nanoseconds, not seconds; 10: held definitions (the engine's, and held refusals); 9: the engine's digests are no longer FNV-1a
)

// ErrApplyingReplay: the ledger ends in the first parts of a replay's
// apply, or of one fact's decisions, which a snapshot would lose; snapshot
// after their last part (or after the next commit, which shows they were
// left unfinished).
var ErrApplyingReplay = errors.New("snapshot deferred: the ledger ends in parts of a replay's apply or of one fact's decisions")

// WriteSnapshot saves the writer and the ledger view it feeds (which must
// have applied exactly what the writer wrote) to path, atomically. Call it
// from the goroutine that drives the writer.
func (w *Writer) WriteSnapshot(ctx context.Context, path string, view *Ledger) error {
	finish, err := w.StartSnapshot(ctx, path, view)
	if err != nil {
		return err
	}
	return finish()
}

// StartSnapshot is WriteSnapshot in two halves (snapshot.StartFile): the
// writer may go on as soon as it returns, while finish, which must be
// called, waits for the file to be written.
func (w *Writer) StartSnapshot(ctx context.Context, path string, view *Ledger) (finish func() error, err error) {
	if view.ApplyingReplay() {
		return nil, ErrApplyingReplay
	}
	if view.Head() != w.ledgerHead {
		return nil, fmt.Errorf("snapshot: the ledger view is at %d, the writer at %d", view.Head(), w.ledgerHead)
	}
	ledgerID, err := store.CommitIDAt(ctx, w.ledgerLog, w.ledgerHead)
	if err != nil {
		return nil, err
	}
	factsID, err := store.CommitIDAt(ctx, w.facts, w.lastFactPosition())
	if err != nil {
		return nil, err
	}
	return snapshot.StartFile(path, writerSnapshotKind, writerSnapshotVersion, func(e *snapshot.Encoder) {
		e.Uvarint(w.ledgerHead)
		e.String(ledgerID)
		e.Uvarint(w.checkpointed)
		e.Uvarint(w.next.pos)
		e.Int(w.next.index)
		e.String(factsID)
		ledger.EncodeSizes(e, w.engine.State().Sizes())
		view.encodeSnapshot(e) // before the engine: LoadLedgerView reads it alone
		w.engine.EncodeSnapshot(e)
	})
}

// lastFactPosition is the last fact-log position the engine folded facts
// of (0 for none).
func (w *Writer) lastFactPosition() store.Position {
	if w.next.index > 0 {
		return w.next.pos
	}
	return w.next.pos - 1
}

// ResumeWriter opens the ledger writer from the snapshot at path, then
// reads only what the logs gained since: ledger records into the view, and
// facts the ledger has already decided into the engine. Without a usable
// snapshot (none yet, a damaged one, another log's) it rebuilds from the
// logs as OpenWriter does; reason then says why. A replay applied since the
// snapshot restates the engine (a fold of the facts it covers), but the
// ledger view still comes from the snapshot and the records after it.
func ResumeWriter(ctx context.Context, facts, ledgerLog store.Log, path string) (w *Writer, view *Ledger, reason error, err error) {
	w, view, reason = resumeWriter(ctx, facts, ledgerLog, path)
	if reason == nil {
		return w, view, nil, nil
	}
	if ctx.Err() != nil {
		return nil, nil, reason, ctx.Err()
	}
	view = NewLedger(ledgerLog)
	w, err = OpenWriter(ctx, facts, ledgerLog, view)
	return w, view, reason, err
}

func resumeWriter(ctx context.Context, facts, ledgerLog store.Log, path string) (*Writer, *Ledger, error) {
	w := &Writer{facts: facts, ledgerLog: ledgerLog}
	var ledgerID, factsID string
	var view *Ledger
	err := snapshot.ReadFile(path, writerSnapshotKind, writerSnapshotVersion, func(r *snapshot.Decoder) error {
		w.ledgerHead, ledgerID, w.checkpointed = r.Uvarint(), r.String(), r.Uvarint()
		w.next = cursor{pos: r.Uvarint(), index: r.Int()}
		factsID = r.String()
		ledger.DecodeSizes(r) // the engine's own, which it decodes below
		if w.next.pos == 0 || w.next.index < 0 {
			r.Fail("fact cursor %d/%d is out of range", w.next.pos, w.next.index)
		}
		var err error
		if view, err = decodeLedgerSnapshot(r, NewLedger(ledgerLog)); err != nil {
			return err
		}
		w.engine, err = ledger.DecodeSnapshot(r)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if view.head != w.ledgerHead {
		return nil, nil, fmt.Errorf("%w: its ledger view is at %d, its writer at %d", snapshot.ErrUnusable, view.head, w.ledgerHead)
	}
	for _, check := range []struct {
		log  store.Log
		pos  store.Position
		want string
	}{{ledgerLog, w.ledgerHead, ledgerID}, {facts, w.lastFactPosition(), factsID}} {
		got, err := store.CommitIDAt(ctx, check.log, check.pos)
		if errors.Is(err, store.ErrNoCommit) {
			return nil, nil, fmt.Errorf("%w: %v (another store?)", snapshot.ErrUnusable, err)
		}
		if err != nil {
			return nil, nil, err
		}
		if got != check.want {
			return nil, nil, fmt.Errorf("%w: the commit at %d is %q, the snapshot's was %q (another store?)", snapshot.ErrUnusable, check.pos, got, check.want)
		}
	}
	w.sink = view
	var last ledger.Checkpoint
	var replays []ledger.ReplayApplied
	var restated *ledger.Timeline // the timeline the first replay since was applied over
	err = ledgerLog.Read(ctx, w.ledgerHead+1, func(s store.Stored) error {
		w.ledgerHead = s.Position
		for _, e := range s.Commit.Events {
			switch e.Type {
			case ledger.TypeReplayApplied:
				var r ledger.ReplayApplied
				if err := json.Unmarshal(e.Data, &r); err != nil {
					return fmt.Errorf("ledger log at %d: replay: %w", s.Position, err)
				}
				if len(replays) == 0 {
					restated = view.Timeline()
				}
				replays = append(replays, r)
			case ledger.TypeCheckpoint:
				if err := lastComplete(&last, e.Data); err != nil {
					return fmt.Errorf("ledger log at %d: checkpoint: %w", s.Position, err)
				}
			}
			if err := view.ApplyLedger(s.Position, recordOf(e)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read ledger log: %w", err)
	}
	if err := VerifyDecided(ctx, facts, last); err != nil {
		return nil, nil, err
	}
	if len(replays) > 0 {
		// The snapshot's engine decided under a timeline a replay has
		// since restated: the engine is the replay's, as OpenWriter would
		// restate it, from the timeline the ledger had recorded when the
		// replay was applied.
		if err := w.restate(ctx, replays, restated); err != nil {
			return nil, nil, err
		}
		replays = replays[1:]
		for len(replays) > 0 && replays[0].FactsThrough < w.next.pos {
			if err := w.restate(ctx, replays, w.engine.Timeline()); err != nil {
				return nil, nil, err
			}
			replays = replays[1:]
		}
	}
	// The writer may have gone on after the snapshot (or the replay): fold
	// what it decided since into the engine, without writing it again.
	if err := w.foldDecided(ctx, last, replays); err != nil {
		return nil, nil, err
	}
	w.checkpointed = max(w.checkpointed, store.Position(last.FactsThrough))
	return w, view, nil
}

// restate makes the engine the one replays[0] leaves behind, over the
// given timeline, with the cursor just after the facts it covers.
func (w *Writer) restate(ctx context.Context, replays []ledger.ReplayApplied, timeline *ledger.Timeline) error {
	e, err := Restate(ctx, w.facts, replays[0], timeline, w.engine.State().Sizes())
	if err != nil {
		return err
	}
	w.engine, w.next = e, cursor{pos: replays[0].FactsThrough + 1}
	return nil
}

// LoadLedgerView reads the ledger view from the writer's snapshot at path
// (leaving the engine in it unread), then the ledger records appended
// since. Without a usable snapshot it reads the whole ledger log; reason
// then says why (path "" asks for none, and gives no reason).
func LoadLedgerView(ctx context.Context, ledgerLog store.Log, path string) (view *Ledger, reason, err error) {
	return loadLedgerView(ctx, ledgerLog, path, func() *Ledger { return NewLedger(ledgerLog) })
}

// SumLedgerView reads the ledger like LoadLedgerView, but hands every entry
// to fn, in log order, instead of keeping it, and keeps no explanations:
// the view it returns has the timeline, checkpoint and head. A what-if
// sums the ledger this way without holding it (at 10M facts the whole view
// is over a GiB). fn must not keep the entry it is handed, nor any of its
// strings (those read from a snapshot share its bytes): it copies what it
// keeps. When the
// snapshot proves unusable after some of its entries were handed on,
// restart is called before the whole log is handed on from the start.
func SumLedgerView(ctx context.Context, ledgerLog store.Log, path string, fn func(*ledger.Entry), restart func()) (view *Ledger, reason, err error) {
	handed := false
	return loadLedgerView(ctx, ledgerLog, path, func() *Ledger {
		if handed {
			restart()
		}
		handed = true
		l := NewLeanLedger()
		l.onEntry = fn
		return l
	})
}

// LoadExplanations reads the ledger like LoadLedgerView but keeps none of
// its entries: the view answers Attribution (where each order's
// explanation is in the log), the timeline and the head, in a few bytes an
// order instead of the whole ledger.
func LoadExplanations(ctx context.Context, ledgerLog store.Log, path string) (view *Ledger, reason, err error) {
	return loadLedgerView(ctx, ledgerLog, path, func() *Ledger {
		l := NewLedger(ledgerLog)
		l.onEntry = func(*ledger.Entry) {}
		return l
	})
}

// loadLedgerView reads the ledger into a view newView makes: from the
// snapshot at path and the log after it, or, without a usable snapshot,
// into a second view from the whole log.
func loadLedgerView(ctx context.Context, ledgerLog store.Log, path string, newView func() *Ledger) (view *Ledger, reason, err error) {
	var head store.Position
	var id string
	if path == "" {
		view = newView()
		return view, nil, loadFrom(ctx, ledgerLog, 1, view)
	}
	reason = snapshot.ReadFile(path, writerSnapshotKind, writerSnapshotVersion, func(r *snapshot.Decoder) error {
		head, id = r.Uvarint(), r.String()
		r.Uvarint()    // checkpointed
		r.Uvarint()    // fact cursor
		r.Int()        // and its index
		_ = r.String() // the fact commit's id
		sizes := ledger.DecodeSizes(r)
		var err error
		view, err = decodeLedgerSnapshot(r, newView())
		view.foldSizes = sizes
		r.Skip() // the engine
		return err
	})
	if reason == nil {
		var got string
		got, reason = store.CommitIDAt(ctx, ledgerLog, head)
		if reason == nil && got != id {
			reason = fmt.Errorf("%w: the ledger commit at %d is %q, the snapshot's was %q (another store?)", snapshot.ErrUnusable, head, got, id)
		}
	}
	if reason != nil {
		view, head = newView(), 0
	}
	return view, reason, loadFrom(ctx, ledgerLog, head+1, view)
}

// encodeSnapshot writes the view. Entries are most of it; their recurring
// fields are written as symbols.
func (l *Ledger) encodeSnapshot(e *snapshot.Encoder) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e.Uvarint(l.head)
	e.Bool(l.lean)
	ledger.EncodeTimeline(e, l.timeline)
	cp := l.checkpoint
	e.Uvarint(cp.FactsThrough)
	e.Int(cp.FactsFolded)
	e.Int(cp.FactsInCommit)
	e.Uvarint(uint64(l.entries.Len()))
	for i := range l.entries.Len() {
		en := l.entries.Ref(i)
		e.String(en.EntryID)
		for _, s := range []string{en.Kind, en.PartnerID, en.Currency, en.Source, en.LinkCode, en.ProgramID, en.Rate, en.Policy} {
			e.Symbol(s)
		}
		for _, s := range []string{en.OrderID, en.LineID, en.Amount, en.Net, en.ClickID, en.RefundID, en.PaymentID, en.PayoutID, en.ReplayID, en.Fact} {
			e.String(s)
		}
		e.Int(en.Tier)
		e.Time(en.Time)
		e.Time(en.PayableAt)
	}
	e.Uvarint(uint64(len(l.explained)))
	for _, id := range l.explained {
		at := l.attributions[id]
		e.String(id)
		e.Uvarint(at.pos)
		e.Uvarint(uint64(at.index))
	}
	e.Uvarint(uint64(len(l.refusals)))
	for _, r := range l.refusals {
		e.String(r.Fact)
		e.Symbol(r.Type)
		e.Time(r.Time)
		e.String(r.Reason)
		e.Bool(r.Held)
	}
}

// decodeLedgerSnapshot decodes the view encodeSnapshot wrote into l (a
// new view: a summing one is handed the entries instead of keeping them).
func decodeLedgerSnapshot(r *snapshot.Decoder, l *Ledger) (*Ledger, error) {
	var lean bool
	l.head, lean = r.Uvarint(), r.Bool()
	l.lean = l.lean || lean
	l.timeline = ledger.DecodeTimeline(r)
	l.checkpoint = ledger.Checkpoint{FactsThrough: r.Uvarint(), FactsFolded: r.Int(), FactsInCommit: r.Int()}
	n := r.Count(21)
	for range n {
		var en ledger.Entry
		id := r.StringBytes()
		en.Kind, en.PartnerID, en.Currency, en.Source, en.LinkCode, en.ProgramID, en.Rate, en.Policy =
			r.Symbol(), r.Symbol(), r.Symbol(), r.Symbol(), r.Symbol(), r.Symbol(), r.Symbol(), r.Symbol()
		// The entry's own strings share one allocation: a view of a
		// million entries is otherwise ten million small objects.
		fields := [...]*string{&en.EntryID, &en.OrderID, &en.LineID, &en.Amount, &en.Net, &en.ClickID, &en.RefundID, &en.PaymentID, &en.PayoutID, &en.ReplayID, &en.Fact}
		var raw [len(fields)][]byte
		raw[0] = id
		size := len(id)
		for i := 1; i < len(raw); i++ {
			raw[i] = r.StringBytes()
			size += len(raw[i])
		}
		if l.onEntry != nil {
			// Handed on, never kept (see SumLedgerView): the strings may
			// share the snapshot's bytes, which nothing writes to.
			for i, f := range raw {
				*fields[i] = unsafe.String(unsafe.SliceData(f), len(f))
			}
		} else {
			var b strings.Builder
			b.Grow(size)
			for _, f := range raw {
				b.Write(f)
			}
			own := b.String()
			for i, f := range raw {
				*fields[i], own = own[:len(f)], own[len(f):]
			}
		}
		en.Tier, en.Time, en.PayableAt = r.Int(), r.Time(), r.Time()
		if r.Err() != nil {
			break // a damaged snapshot hands nothing more on
		}
		l.addEntry(en)
	}
	n = r.Count(2)
	if !l.lean {
		l.attributions, l.explained = make(map[string]recordRef, n), make([]string, 0, n)
	}
	for range n {
		id := r.String()
		at := recordRef{pos: r.Uvarint()}
		if idx := r.Uvarint(); idx <= commitRecordsMax+1 && at.pos <= l.head {
			at.index = uint32(idx)
		} else {
			r.Fail("explanation of %s at %d/%d is out of range", id, at.pos, idx)
		}
		if !l.lean {
			l.setAttribution(id, at)
		}
	}
	l.refusals = make([]ledger.Refusal, r.Count(4))
	for i := range l.refusals {
		l.refusals[i] = ledger.Refusal{Fact: r.String(), Type: r.Symbol(), Time: r.Time(), Reason: r.String(), Held: r.Bool()}
	}
	return l, r.Err()
}
