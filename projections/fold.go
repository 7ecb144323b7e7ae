package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/ledger"
)

// FactCommit is one commit of the fact log, decoded.
type FactCommit struct {
	Position store.Position
	Facts    []events.Fact
	Raw      [][]byte // the stored canonical bytes of each fact
}

// ReadFacts calls fn for every position of the fact log from position from
// up to and including until (0: the head when the read starts). Commits
// that share a position (group committed) arrive together, in order, as one
// FactCommit: a position is the unit the ledger checkpoints.
func ReadFacts(ctx context.Context, log store.Log, from, until store.Position, fn func(FactCommit) error) error {
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
		return DecodeCommit(s, func(fc FactCommit) error {
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

// aheadCommits bounds how far ReadFactsAhead reads before its consumer.
const aheadCommits = 8

// ReadFactsAhead is ReadFacts with the reading and decoding on a goroutine
// of their own, up to aheadCommits commits ahead of fn, so that on two
// cores decoding overlaps folding. An error from fn stops the reading and
// is returned.
func ReadFactsAhead(ctx context.Context, log store.Log, from, until store.Position, fn func(FactCommit) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ahead := make(chan FactCommit, aheadCommits)
	readErr := make(chan error, 1)
	go func() {
		defer close(ahead)
		readErr <- ReadFacts(ctx, log, from, until, func(fc FactCommit) error {
			select {
			case ahead <- fc:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var fnErr error
	for fc := range ahead {
		if fnErr == nil {
			if fnErr = fn(fc); fnErr != nil {
				cancel()
			}
		}
	}
	if err := <-readErr; fnErr == nil {
		return err
	}
	return fnErr
}

// DecodeCommit decodes one stored fact commit and hands it to fn.
func DecodeCommit(s store.Stored, fn func(FactCommit) error) error {
	fc := FactCommit{Position: s.Position, Facts: make([]events.Fact, 0, len(s.Commit.Events)), Raw: make([][]byte, 0, len(s.Commit.Events))}
	var dec events.StoredDecoder // the commit's facts share their sources
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
		o := e.Apply(f, fc.Raw[i])
		if o.Empty() {
			continue
		}
		out.Entries = append(out.Entries, o.Entries...)
		out.Attributions = append(out.Attributions, o.Attributions...)
		out.Refusals = append(out.Refusals, o.Refusals...)
	}
	return out
}
