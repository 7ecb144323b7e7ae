package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/ledger"
)

// ErrLedgerMoved: another writer appended to the ledger log. The writer's
// state is stale; open a new one (it rebuilds from the logs) and go on.
var ErrLedgerMoved = errors.New("ledger log moved under the writer: another writer is active")

// ErrLedgerAhead: the ledger has decided facts that the fact log no longer
// holds (it was cut short, emptied, or replaced by another). Deciding the
// facts at those positions now would decide some twice and credit others
// from facts that never were: the writer stops instead.
var ErrLedgerAhead = errors.New("the ledger has decided facts that the fact log does not hold")

// Bounds of one ledger commit, below the store's limits. A commit closes
// once it reaches them, so one fact's records must stay under the
// difference (factRecordsMax, factBytesMax) to join it; a fact whose
// records are more is written in parts of its own (ledger.Checkpoint).
const (
	commitRecordsMax = 2000
	commitBytesMax   = 600 << 10
	factRecordsMax   = (store.MaxCommitEvents - 1 - commitRecordsMax) / 2
	factBytesMax     = (store.MaxCommitBytes - commitBytesMax) / 2
)

// RecordSink receives every ledger record, read or written, in log order.
type RecordSink interface {
	ApplyLedger(pos store.Position, r ledger.Record) error
}

// Writer is the single writer of the ledger log.
type Writer struct {
	facts, ledgerLog store.Log
	engine           *ledger.Engine
	sink             RecordSink
	ledgerHead       store.Position
	checkpointed     store.Position // fact position of the last checkpoint written or read
	// cursor: the next fact to fold is fact index next.index of the commit
	// at next.pos.
	next cursor
	// foldedID is the id of the commit at next.pos-1, when known: a
	// checkpoint through it records it (ledger.Checkpoint.FactsCommit).
	foldedID string
}

type cursor struct {
	pos   store.Position
	index int
}

// LedgerHead is the last ledger-log position the writer knows of.
func (w *Writer) LedgerHead() store.Position { return w.ledgerHead }

// Sizes are the sizes of the writer's engine state (for a replay of the
// same facts to reserve room by).
func (w *Writer) Sizes() ledger.Sizes { return w.engine.State().Sizes() }

// FactsFolded is the last fact-log position fully folded (a commit being
// folded part way does not count yet).
func (w *Writer) FactsFolded() store.Position { return w.next.pos - 1 }

// OpenWriter rebuilds the writer from the logs: it reads the ledger log into
// sink (may be nil), then folds the fact log through the last checkpoint,
// restating history wherever a replay was applied.
func OpenWriter(ctx context.Context, facts, ledgerLog store.Log, sink RecordSink) (*Writer, error) {
	w := &Writer{facts: facts, ledgerLog: ledgerLog, sink: sink, next: cursor{pos: 1}}
	var replays []ledger.ReplayApplied
	var last ledger.Checkpoint
	err := ledgerLog.Read(ctx, 1, func(s store.Stored) error {
		w.ledgerHead = s.Position
		for _, e := range s.Commit.Events {
			switch e.Type {
			case ledger.TypeCheckpoint:
				if err := lastComplete(&last, e.Data); err != nil {
					return fmt.Errorf("ledger log at %d: checkpoint: %w", s.Position, err)
				}
			case ledger.TypeReplayApplied:
				var r ledger.ReplayApplied
				if err := json.Unmarshal(e.Data, &r); err != nil {
					return fmt.Errorf("ledger log at %d: replay: %w", s.Position, err)
				}
				replays = append(replays, r)
			}
			if sink != nil {
				if err := sink.ApplyLedger(s.Position, recordOf(e)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read ledger log: %w", err)
	}
	if err := VerifyDecided(ctx, facts, last); err != nil {
		return nil, err
	}
	if err := w.rebuild(ctx, last, replays); err != nil {
		return nil, err
	}
	w.checkpointed = store.Position(last.FactsThrough)
	return w, nil
}

// rebuild folds facts up to the checkpoint, restating at applied replays.
func (w *Writer) rebuild(ctx context.Context, last ledger.Checkpoint, replays []ledger.ReplayApplied) error {
	w.engine = ledger.NewEngine(nil)
	var err error
	for len(replays) > 0 && replays[0].FactsThrough == 0 {
		if w.engine, err = Restate(ctx, w.facts, replays[0], w.engine.Timeline(), ledger.Sizes{}); err != nil {
			return err
		}
		replays = replays[1:]
	}
	return w.foldDecided(ctx, last, replays)
}

// foldDecided folds into the engine the facts from the writer's cursor
// through checkpoint last, which the ledger has already decided (nothing is
// appended), restating history at the replays given.
func (w *Writer) foldDecided(ctx context.Context, last ledger.Checkpoint, replays []ledger.ReplayApplied) error {
	if last.FactsThrough == 0 || store.Position(last.FactsThrough) < w.next.pos {
		return nil
	}
	// The ledger holds these facts' output already: fold for the state only.
	w.engine.StateOnly()
	defer func() { w.engine.Full() }()
	start := w.next
	err := ReadFactsAhead(ctx, w.facts, start.pos, last.FactsThrough, func(fc FactCommit) error {
		from, to := 0, len(fc.Facts)
		if fc.Position == start.pos {
			from = start.index
		}
		// A negative FactsFolded (a replay's checkpoint) covers the whole commit.
		if fc.Position == last.FactsThrough && last.FactsFolded >= 0 && last.FactsFolded < len(fc.Facts) {
			to = last.FactsFolded
		}
		if from < to {
			Fold(w.engine, FactCommit{Position: fc.Position, Facts: fc.Facts[from:to], Raw: fc.Raw[from:to]})
			if to < len(fc.Facts) {
				w.next = cursor{pos: fc.Position, index: to}
			} else {
				w.next, w.foldedID = cursor{pos: fc.Position + 1}, fc.ID
			}
		}
		for len(replays) > 0 && replays[0].FactsThrough == fc.Position {
			// The engine has folded what the restated one will: its sizes.
			e, err := Restate(ctx, w.facts, replays[0], w.engine.Timeline(), w.engine.State().Sizes())
			if err != nil {
				return err
			}
			w.engine = e
			replays = replays[1:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fold fact log: %w", err)
	}
	return nil
}

// Restate builds the engine a replay leaves behind: the facts through the
// replay's position folded under the timeline with the replay's policy,
// then following policy changes again. The apply wrote the output, so the
// facts are folded for the state only, in an engine with room reserved
// for the given sizes (a hint: zero for none).
func Restate(ctx context.Context, facts store.Log, r ledger.ReplayApplied, timeline *ledger.Timeline, sizes ledger.Sizes) (*ledger.Engine, error) {
	e := ledger.NewEngine(timeline.WithCandidate(r.ReplayID, r.Policy, r.From, r.Whole))
	e.Reserve(sizes)
	e.StateOnly()
	defer e.Full()
	if r.FactsThrough > 0 {
		err := ReadFactsAhead(ctx, facts, 1, r.FactsThrough, func(fc FactCommit) error { Fold(e, fc); return nil })
		if err != nil {
			return nil, fmt.Errorf("restate replay %s: %w", r.ReplayID, err)
		}
	}
	e.Follow()
	return e, nil
}

// CatchUp folds every fact not yet folded and appends the output, fenced by
// the ledger head, then records how far it got. It returns ErrLedgerMoved if
// another writer appended. Its ledger commits span fact commits, up to the
// commit bounds, and each is appended while the facts after it are folded.
func (w *Writer) CatchUp(ctx context.Context) error {
	if err := w.FoldThrough(ctx, 0); err != nil {
		return err
	}
	return w.Checkpoint(ctx)
}

// FoldThrough folds the facts from the writer's cursor through fact-log
// position last (0: all there are) and appends their output, as CatchUp
// does but for the checkpoint at the end.
func (w *Writer) FoldThrough(ctx context.Context, last store.Position) error {
	if last != 0 && last < w.next.pos {
		return nil
	}
	b := w.batch(ctx)
	err := ReadFactsAhead(ctx, w.facts, w.next.pos, last, b.fold)
	if closeErr := b.close(); err == nil {
		err = closeErr
	}
	return err
}

// Checkpoint appends a commit holding only a checkpoint when facts were
// folded since the last one without producing any record (clicks, say), so
// that readers of the ledger alone can tell it is up to date.
func (w *Writer) Checkpoint(ctx context.Context) error {
	folded := w.FactsFolded()
	if folded == 0 || folded <= w.checkpointed {
		return nil
	}
	return w.appendRecords(ctx, ledger.Checkpoint{FactsThrough: folded, FactsFolded: -1, FactsCommit: w.foldedID}, nil)
}

// Next is the fact-log position the writer folds next.
func (w *Writer) Next() store.Position { return w.next.pos }

// Apply folds one fact-log position that the caller read (a live follower)
// and appends its output. Positions already folded are skipped, so a
// follower may hand over everything it reads.
func (w *Writer) Apply(ctx context.Context, fc FactCommit) error {
	return w.ApplyRun(ctx, []FactCommit{fc})
}

// ApplyRun folds consecutive fact-log positions, in order, and appends
// their output in as few ledger commits as the commit bounds allow: a
// follower that fell behind (a burst, a slow fsync) catches up in one
// append instead of one per position. Positions already folded are
// skipped; a gap is an error. It returns once all of it is appended.
func (w *Writer) ApplyRun(ctx context.Context, run []FactCommit) error {
	b := w.batch(ctx)
	for _, fc := range run {
		if err := b.fold(fc); err != nil {
			b.wait() //nolint:errcheck // the fold's error is the one to report
			return err
		}
	}
	return b.close()
}

// A writeBatch gathers the records of consecutive fact-log positions into
// ledger commits, and appends each commit while the facts after it are
// folded: at most one append is in flight, so the fencing head is always
// known, and the fold does not wait on an fsync it does not depend on. The
// writer is not to be used otherwise until close.
type writeBatch struct {
	w        *Writer
	ctx      context.Context
	pending  []ledger.Record
	bytes    int
	at       ledger.Checkpoint
	inFlight chan error // the append in flight, or nil
}

func (w *Writer) batch(ctx context.Context) *writeBatch { return &writeBatch{w: w, ctx: ctx} }

// fold folds one fact-log position, starting a ledger commit's append
// whenever the pending records reach the commit bounds.
func (b *writeBatch) fold(fc FactCommit) error {
	w := b.w
	next := w.next
	switch {
	case fc.Position < next.pos:
		return nil
	case fc.Position > next.pos:
		if err := b.close(); err != nil {
			return err
		}
		return fmt.Errorf("ledger writer: fact position %d handed over before %d", fc.Position, next.pos)
	}
	for i := next.index; i < len(fc.Facts); i++ {
		w.engine.HintAhead(fc.Facts, fc.Raw, i)
		// The records are encoded before the next fact is applied, so the
		// engine may take their explanations' memory back.
		records := w.engine.ApplyTransient(fc.Facts[i], fc.Raw[i]).Records()
		at := ledger.Checkpoint{FactsThrough: fc.Position, FactsFolded: i + 1, FactsInCommit: len(fc.Facts), FactsCommit: fc.ID}
		size := recordBytes(records)
		if len(records) > factRecordsMax || size > factBytesMax {
			if err := b.inParts(at, records); err != nil {
				return err
			}
			continue
		}
		b.at = at
		b.pending, b.bytes = append(b.pending, records...), b.bytes+size
		if len(b.pending) >= commitRecordsMax || b.bytes >= commitBytesMax {
			if err := b.flush(); err != nil {
				return err
			}
		}
	}
	w.next, w.foldedID = cursor{pos: fc.Position + 1}, fc.ID
	return nil
}

// VerifyDecided checks that the fact log still holds what the ledger
// decided through its last checkpoint: as many positions, and at the last
// one the same commit. It returns ErrLedgerAhead, saying what to do, when
// it does not, and the fact log's damage when it is damaged.
func VerifyDecided(ctx context.Context, facts store.Log, last ledger.Checkpoint) error {
	if last.FactsThrough == 0 {
		return nil
	}
	head, err := facts.Head(ctx)
	if err != nil {
		return fmt.Errorf("fact log: %w", err)
	}
	if last.FactsThrough > head {
		return fmt.Errorf("%w: the ledger decided the facts through position %d, and the fact log ends at %d; "+
			"it lost what the ledger decided, and facts sent again would be decided twice (restore the data folder from a backup; refledger check lists what is wrong)",
			ErrLedgerAhead, last.FactsThrough, head)
	}
	if last.FactsCommit == "" {
		return nil
	}
	id, err := store.CommitIDAt(ctx, facts, store.Position(last.FactsThrough))
	if err != nil {
		return fmt.Errorf("fact log: %w", err)
	}
	if id != last.FactsCommit {
		return fmt.Errorf("%w: the ledger decided position %d from commit %q, and the fact log holds %q there: it is not the fact log the ledger decided from "+
			"(restore the data folder from a backup; refledger check lists what is wrong)", ErrLedgerAhead, last.FactsThrough, last.FactsCommit, id)
	}
	return nil
}

// inParts appends the records of one fact too many for a commit it shares:
// what is pending first, then the records in commits of their own, all but
// the last with a checkpoint marked as a part (ledger.Checkpoint).
func (b *writeBatch) inParts(at ledger.Checkpoint, records []ledger.Record) error {
	if err := b.flush(); err != nil {
		return err
	}
	parts := splitRecords(records)
	for k, part := range parts {
		b.at, b.pending = at, part
		if k < len(parts)-1 {
			b.at.Part = k + 1
		}
		if err := b.flush(); err != nil {
			return err
		}
	}
	b.at = at
	return nil
}

// splitRecords cuts records into runs within the commit bounds, in order.
func splitRecords(records []ledger.Record) [][]ledger.Record {
	var parts [][]ledger.Record
	start, size := 0, 0
	for i := range records {
		n := recordBytes(records[i : i+1])
		if i > start && (i-start >= commitRecordsMax || size+n > commitBytesMax) {
			parts, start, size = append(parts, records[start:i]), i, 0
		}
		size += n
	}
	return append(parts, records[start:])
}

// lastComplete takes a checkpoint read from the ledger log as the last one
// when it ends a commit's decisions: parts count once their last commit
// comes (ledger.Checkpoint).
func lastComplete(last *ledger.Checkpoint, raw []byte) error {
	var cp ledger.Checkpoint
	if err := json.Unmarshal(raw, &cp); err != nil {
		return err
	}
	if cp.Part == 0 {
		*last = cp
	}
	return nil
}

// recordBytes is what records weigh in a commit, as the bounds count it.
func recordBytes(records []ledger.Record) int {
	n := 0
	for _, r := range records {
		n += len(r.Data) + len(r.ID) + len(r.Type)
	}
	return n
}

// flush starts the append of the pending records, once the one before
// has succeeded.
func (b *writeBatch) flush() error {
	if len(b.pending) == 0 {
		return nil
	}
	if err := b.wait(); err != nil {
		return err
	}
	records, at := b.pending, b.at
	b.pending, b.bytes = nil, 0 // the append owns those now
	done := make(chan error, 1)
	go func() { done <- b.w.appendRecords(b.ctx, at, records) }()
	b.inFlight = done
	return nil
}

// wait waits for the append in flight, if any.
func (b *writeBatch) wait() error {
	if b.inFlight == nil {
		return nil
	}
	err := <-b.inFlight
	b.inFlight = nil
	return err
}

// close appends what is pending and waits until every append is done.
func (b *writeBatch) close() error {
	err := b.flush()
	if waitErr := b.wait(); err == nil {
		err = waitErr
	}
	return err
}

// appendRecords writes one ledger commit: the checkpoint, then the records.
func (w *Writer) appendRecords(ctx context.Context, at ledger.Checkpoint, records []ledger.Record) error {
	cp, _ := json.Marshal(at)
	c := store.Commit{
		ID:     fmt.Sprintf("ledger:facts:%d:%d", at.FactsThrough, at.FactsFolded),
		Events: make([]store.Event, 0, len(records)+1),
	}
	if at.Part > 0 {
		// A writer that stopped between parts writes them again after
		// the orphans: the ledger head keeps their ids new.
		c.ID += fmt.Sprintf(":part:%d:after:%d", at.Part, w.ledgerHead)
	}
	c.Events = append(c.Events, store.Event{ID: c.ID, Type: ledger.TypeCheckpoint, Data: cp})
	for _, r := range records {
		c.Events = append(c.Events, store.Event{ID: r.ID, Type: r.Type, Data: r.Data})
	}
	res, err := w.ledgerLog.Append(ctx, c, store.At(w.ledgerHead))
	switch {
	case errors.Is(err, store.ErrWrongPosition):
		return fmt.Errorf("%w: %v", ErrLedgerMoved, err)
	case err != nil:
		return fmt.Errorf("append to ledger log: %w", err)
	case res.Duplicate:
		return fmt.Errorf("%w: commit %s was already written", ErrLedgerMoved, c.ID)
	}
	w.ledgerHead = res.Position
	if at.Part == 0 {
		w.checkpointed = store.Position(at.FactsThrough)
	}
	if w.sink != nil {
		if err := w.sink.ApplyLedger(res.Position, recordOf(c.Events[0])); err != nil {
			return err
		}
		for _, r := range records { // as appended, with what they encode
			if err := w.sink.ApplyLedger(res.Position, r); err != nil {
				return err
			}
		}
	}
	return nil
}

func recordOf(e store.Event) ledger.Record {
	return ledger.Record{ID: e.ID, Type: e.Type, Data: e.Data}
}

// errNotAdoptable: AdoptReplay cannot take the replay's engine; rebuild
// (ResumeWriter restates it from the logs).
var errNotAdoptable = errors.New("the replay's engine cannot be adopted")

// AdoptReplay moves the writer past a replay applied beside it, taking the
// replay's own fold as its engine instead of restating one: engine has
// folded the facts through r.FactsThrough under the replay's timeline,
// which is the engine a rebuild would restate. The ledger records after
// the writer's last are read into its view. It refuses (and the writer is
// to be rebuilt) unless the replay was applied right after the writer's
// last append (r.LedgerAt), the ledger holds nothing after that but the
// replay's own commits (its record's commit last), and engine's timeline
// is the one a rebuild would restate with. Facts the writer folded after
// r.FactsThrough (which made no record) are folded into engine too. After
// an error the writer is not to be used.
func (w *Writer) AdoptReplay(ctx context.Context, r ledger.ReplayApplied, engine *ledger.Engine) error {
	if r.LedgerAt != w.ledgerHead || w.next.index != 0 || r.FactsThrough >= w.next.pos {
		return fmt.Errorf("%w: replay %s was applied at ledger %d, facts through %d; the writer is at ledger %d, fact %+v",
			errNotAdoptable, r.ReplayID, r.LedgerAt, r.FactsThrough, w.ledgerHead, w.next)
	}
	if want := w.engine.Timeline().WithCandidate(r.ReplayID, r.Policy, r.From, r.Whole); !engine.Timeline().SamePolicies(want) {
		return fmt.Errorf("%w: its timeline is not the one replay %s restates", errNotAdoptable, r.ReplayID)
	}
	var records []store.Stored
	recorded := false
	err := w.ledgerLog.Read(ctx, w.ledgerHead+1, func(s store.Stored) error {
		if recorded {
			return fmt.Errorf("%w: the ledger goes on after replay %s", errNotAdoptable, r.ReplayID)
		}
		for _, e := range s.Commit.Events {
			switch {
			case e.Type == ledger.TypeReplayApplied && e.ID == "replay:"+r.ReplayID:
				recorded = true
			case e.Type != ledger.TypeCheckpoint && e.Type != ledger.TypeCommissionAdjusted && e.Type != ledger.TypeOrderAttributed:
				return fmt.Errorf("%w: a %s record at %d is not replay %s's", errNotAdoptable, e.Type, s.Position, r.ReplayID)
			}
		}
		records = append(records, s)
		return nil
	})
	if err != nil {
		return err
	}
	if !recorded {
		return fmt.Errorf("%w: replay %s's record is not in the ledger", errNotAdoptable, r.ReplayID)
	}
	// The facts after the replay's, which made no record under the old
	// timeline, must make none under the new one either.
	engine.Full()
	engine.Follow()
	if r.FactsThrough+1 < w.next.pos {
		err := ReadFacts(ctx, w.facts, r.FactsThrough+1, w.next.pos-1, func(fc FactCommit) error {
			if out := Fold(engine, fc); !out.Empty() {
				return fmt.Errorf("%w: fact commit %d decides otherwise under replay %s", errNotAdoptable, fc.Position, r.ReplayID)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, s := range records {
		for _, e := range s.Commit.Events {
			if w.sink != nil {
				if err := w.sink.ApplyLedger(s.Position, recordOf(e)); err != nil {
					return err
				}
			}
		}
		w.ledgerHead = s.Position
	}
	w.engine, w.checkpointed = engine, r.FactsThrough
	return nil
}

// VerifyLogs checks, at the cost of a few reads, that both logs are whole
// and agree: no position of either is missing (store.Damage), and the
// fact log still holds what the ledger's last checkpoint decided through
// (ErrLedgerAhead). A process that would append to either checks it
// first: appending to a damaged log only buries the damage.
func VerifyLogs(ctx context.Context, facts, ledgerLog store.Log) error {
	if _, err := facts.Head(ctx); err != nil {
		return fmt.Errorf("fact log: %w", err)
	}
	head, err := ledgerLog.Head(ctx)
	if err != nil || head == 0 {
		return err
	}
	c, err := store.CommitAt(ctx, ledgerLog, head)
	if err != nil {
		return fmt.Errorf("ledger log: %w", err)
	}
	if len(c.Events) == 0 || c.Events[0].Type != ledger.TypeCheckpoint {
		return nil // a foreign message: the readers report it
	}
	var cp ledger.Checkpoint
	if err := json.Unmarshal(c.Events[0].Data, &cp); err != nil {
		return &store.Damage{Log: store.LedgerLog, Position: head, Problem: "its checkpoint does not decode: " + err.Error()}
	}
	return VerifyDecided(ctx, facts, cp)
}
