package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/ledger"
)

// FactCommit is one commit of the fact log, decoded.
type FactCommit struct {
	Position store.Position
	// ID is the id of the first commit at Position: ledger checkpoints
	// keep it, to tell the fact log they decided from another one.
	ID    string
	Facts []events.Fact
	Raw   [][]byte // the stored canonical bytes of each fact
}

// ReadFacts calls fn for every position of the fact log from position from
// up to and including until (0: the head when the read starts). Commits
// that share a position (group committed) arrive together, in order, as one
// FactCommit: a position is the unit the ledger checkpoints.
func ReadFacts(ctx context.Context, log store.Log, from, until store.Position, fn func(FactCommit) error) error {
	return readFacts(ctx, log, from, until, nil, false, fn)
}

// readFacts is ReadFacts decoding into the slices of the FactCommits that
// free hands back (nil: new ones every time), and with transientClicks, a
// click's strings sharing the stored bytes (events.StoredDecoder).
func readFacts(ctx context.Context, log store.Log, from, until store.Position, free <-chan FactCommit, transientClicks bool, fn func(FactCommit) error) error {
	stop := errors.New("stop")
	var pending *FactCommit
	flush := func() error {
		if pending == nil {
			return nil
		}
		fc := *pending
		pending = nil
		return fn(fc)
	}
	err := log.Read(ctx, from, func(s store.Stored) error {
		if until != 0 && s.Position > until {
			return stop
		}
		if pending != nil && pending.Position != s.Position {
			if err := flush(); err != nil {
				return err
			}
		}
		var into FactCommit
		select {
		case into = <-free:
		default:
		}
		return decodeCommitInto(s, into, transientClicks, func(fc FactCommit) error {
			if pending == nil {
				pending = &fc
				return nil
			}
			pending.Facts = append(pending.Facts, fc.Facts...)
			pending.Raw = append(pending.Raw, fc.Raw...)
			return nil
		})
	})
	if err != nil && !errors.Is(err, stop) {
		return err
	}
	return flush()
}

type progressKey struct{}

// WithProgress returns a context under which ReadFactsAhead reports to fn
// the facts of every commit its consumer took: the long folds (a writer's
// rebuild and catch-up, a restatement) can then show how far they are on a
// terminal. fn runs on the consumer's goroutine.
func WithProgress(ctx context.Context, fn func(facts int)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// aheadCommits bounds how far ReadFactsAhead reads before its consumer.
const aheadCommits = 8

// ReadFactsAhead is ReadFacts with the reading and decoding on a goroutine
// of their own, up to aheadCommits commits ahead of fn, so that on two
// cores decoding overlaps folding. An error from fn stops the reading and
// is returned. It is for folding into the ledger engine, and asks two
// things of fn, which spare a replay of 10M facts a few GiB of garbage: it
// may keep the facts it is handed but not the slices that hold them
// (FactCommit.Facts and Raw), which are decoded into again once it
// returns; and it keeps no string of a click.recorded fact, which shares
// the stored bytes (events.StoredDecoder.TransientClicks).
func ReadFactsAhead(ctx context.Context, log store.Log, from, until store.Position, fn func(FactCommit) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ahead := make(chan FactCommit, aheadCommits)
	free := make(chan FactCommit, aheadCommits+2)
	readErr := make(chan error, 1)
	go func() {
		defer close(ahead)
		readErr <- readFacts(ctx, log, from, until, free, true, func(fc FactCommit) error {
			select {
			case ahead <- fc:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var fnErr error
	progress, _ := ctx.Value(progressKey{}).(func(int))
	for fc := range ahead {
		if fnErr == nil {
			if fnErr = fn(fc); fnErr != nil {
				cancel()
			} else if progress != nil {
				progress(len(fc.Facts))
			}
		}
		clear(fc.Facts)
		clear(fc.Raw)
		select {
		case free <- FactCommit{Facts: fc.Facts[:0], Raw: fc.Raw[:0]}:
		default:
		}
	}
	if err := <-readErr; fnErr == nil {
		return err
	}
	return fnErr
}

// DecodeCommit decodes one stored fact commit and hands it to fn.
func DecodeCommit(s store.Stored, fn func(FactCommit) error) error {
	return decodeCommitInto(s, FactCommit{}, false, fn)
}

// decodeCommitInto is DecodeCommit appending to the slices of into, which
// must be empty, with a click's strings sharing the stored bytes when
// transientClicks is set.
func decodeCommitInto(s store.Stored, into FactCommit, transientClicks bool, fn func(FactCommit) error) error {
	fc := FactCommit{Position: s.Position, ID: s.Commit.ID, Facts: slices.Grow(into.Facts, len(s.Commit.Events)), Raw: slices.Grow(into.Raw, len(s.Commit.Events))}
	dec := events.StoredDecoder{TransientClicks: transientClicks} // the commit's facts share their sources
	for _, e := range s.Commit.Events {
		f, err := dec.Decode(e.Type, e.Data)
		if err != nil {
			return fmt.Errorf("fact log at %d: event %q: %w", s.Position, e.ID, err)
		}
		fc.Facts = append(fc.Facts, f)
		fc.Raw = append(fc.Raw, e.Data)
	}
	return fn(fc)
}

// Fold applies one fact commit to the engine and gathers the output.
func Fold(e *ledger.Engine, fc FactCommit) ledger.Output {
	var out ledger.Output
	for i, f := range fc.Facts {
		e.HintAhead(fc.Facts, fc.Raw, i)
		o := e.Apply(f, fc.Raw[i])
		if o.Empty() {
			continue
		}
		out.Entries = append(out.Entries, o.Entries...)
		out.Attributions = append(out.Attributions, o.Attributions...)
		out.Refusals = append(out.Refusals, o.Refusals...)
		out.Released = append(out.Released, o.Released...)
	}
	return out
}
