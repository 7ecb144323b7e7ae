package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/projections"
)

// live keeps the read models and the ledger in step with the fact log: one
// goroutine follows the fact log into the catalog and click history; the
// other is the ledger's single writer, woken by every append.
type live struct {
	facts, ledgerLog store.Log
	log              *zap.Logger
	catalog          *projections.Catalog
	clicks           *projections.Clicks

	mu     sync.RWMutex
	ledger *projections.Ledger // replaced whole when the writer rebuilds

	wake         chan struct{}
	factsHead    atomic.Uint64 // followed so far
	factsFolded  atomic.Uint64 // folded into the ledger
	startHead    store.Position
	followedUp   atomic.Bool
	caughtUp     atomic.Bool
	writerErrors atomic.Uint64
}

func newLive(facts, ledgerLog store.Log, log *zap.Logger, startHead store.Position) *live {
	return &live{
		facts: facts, ledgerLog: ledgerLog, log: log, startHead: startHead,
		catalog: projections.NewCatalog(), clicks: projections.NewClicks(), ledger: projections.NewLedger(),
		wake: make(chan struct{}, 1),
	}
}

func (l *live) ledgerView() *projections.Ledger {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.ledger
}

// poke wakes the writer; it never blocks.
func (l *live) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// ready is true once the read models and the ledger have caught up with the
// fact log as it stood at start.
func (l *live) ready() bool { return l.followedUp.Load() && l.caughtUp.Load() }

// lag is how many fact commits the ledger has yet to fold.
func (l *live) lag() uint64 {
	h, f := l.factsHead.Load(), l.factsFolded.Load()
	if f >= h {
		return 0
	}
	return h - f
}

// follow feeds the catalog and click history until ctx is done.
func (l *live) follow(ctx context.Context) error {
	if l.startHead == 0 {
		l.followedUp.Store(true)
	}
	return l.facts.Follow(ctx, 1, func(s store.Stored) error {
		fc, err := decodeCommit(s)
		if err != nil {
			return err
		}
		l.catalog.ApplyFacts(fc)
		l.clicks.ApplyFacts(fc)
		l.factsHead.Store(s.Position)
		if s.Position >= l.startHead {
			l.followedUp.Store(true)
		}
		l.poke()
		return nil
	})
}

// retryPause spaces out the writer's retries after an error.
const retryPause = 500 * time.Millisecond

// write runs the ledger writer until ctx is done. A writer that finds the
// ledger moved (a replay was applied) rebuilds from the logs.
func (l *live) write(ctx context.Context) error {
	var w *projections.Writer
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if w == nil {
			view := projections.NewLedger()
			var err error
			if w, err = projections.OpenWriter(ctx, l.facts, l.ledgerLog, view); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				l.log.Error("open ledger writer", zap.Error(err))
				l.writerErrors.Add(1)
				w = nil
				if !sleep(ctx, retryPause) {
					return ctx.Err()
				}
				continue
			}
			l.mu.Lock()
			l.ledger = view
			l.mu.Unlock()
		}
		err := w.CatchUp(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, projections.ErrLedgerMoved):
			w = nil
			continue
		case err != nil:
			l.log.Error("ledger catch-up", zap.Error(err))
			l.writerErrors.Add(1)
			w = nil
			if !sleep(ctx, retryPause) {
				return ctx.Err()
			}
			continue
		}
		l.factsFolded.Store(w.FactsFolded())
		if w.FactsFolded() >= l.startHead {
			l.caughtUp.Store(true)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.wake:
		case <-tick.C: // another process may have appended
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func decodeCommit(s store.Stored) (projections.FactCommit, error) {
	var fc projections.FactCommit
	err := projections.DecodeCommit(s, func(c projections.FactCommit) error { fc = c; return nil })
	return fc, err
}
