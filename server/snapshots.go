package server

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/refledger/refledger/projections"

	"go.uber.org/zap"
)

// A loop takes its snapshot when snapshotEvery facts went by since the
// last one (and at least snapshotMinAge passed), or when any did and
// snapshotMaxAge passed, and once more on the way out. Taking one pauses
// the loop for a time that grows with its state (at ten million facts:
// about 0.2 s to copy the ingest index or the read models, 2 to 3 s, at
// times more, to encode the ledger writer's), so both ages are stretched to at least
// snapshotPauseFactor times the last pause: a loop spends at most about
// 0.5% of its time on snapshots, and orders reach the ledger late for
// less than the 1% of the time a p99 of their latency allows.
const (
	snapshotEvery       = 250_000
	snapshotMinAge      = 30 * time.Second
	snapshotMaxAge      = 10 * time.Minute
	snapshotPauseFactor = 200
)

// snapshotter decides when one loop's snapshot is due and takes it. Only
// the loop that owns the state uses it.
type snapshotter struct {
	path string // "" takes none
	what string // what the snapshot holds, for logs
	log  *zap.Logger
	// save writes the snapshot, pausing the loop meanwhile. copyState,
	// when set instead, only copies the state (a short pause) and returns
	// what writes the copy, which then runs beside the loop.
	save      func(ctx context.Context, path string) error
	copyState func(ctx context.Context) (func(path string) error, error)

	at      time.Time     // when the last one was taken (or the loop started)
	paused  time.Duration // how long the last one paused the loop
	facts   int           // facts gone by since
	writing sync.WaitGroup
	busy    atomic.Bool // a copy is being written
}

// count notes facts that went by.
func (s *snapshotter) count(facts int) { s.facts += facts }

// rebuilt notes that the state was rebuilt from the logs: worth saving soon.
func (s *snapshotter) rebuilt() { s.facts = max(s.facts, snapshotEvery) }

func (s *snapshotter) due() bool {
	age, spacing := time.Since(s.at), snapshotPauseFactor*s.paused
	return s.path != "" && s.facts > 0 &&
		(s.facts >= snapshotEvery && age >= max(snapshotMinAge, spacing) || age >= max(snapshotMaxAge, spacing))
}

// takeIfDue takes a snapshot when one is due and none is being written.
func (s *snapshotter) takeIfDue(ctx context.Context) {
	if s.due() && !s.busy.Load() {
		s.take(ctx, false)
	}
}

// final takes a last snapshot when anything changed since the last one,
// and returns once every snapshot is written.
func (s *snapshotter) final(ctx context.Context) {
	s.writing.Wait()
	if s.path != "" && s.facts > 0 {
		s.take(context.WithoutCancel(ctx), true)
	}
}

// take saves the snapshot, in the background when it can and wait is
// false; a failure is logged and costs only a slower restart.
func (s *snapshotter) take(ctx context.Context, wait bool) {
	start := time.Now()
	s.at = start
	if s.copyState == nil {
		err := s.save(ctx, s.path)
		s.paused = time.Since(start)
		s.done(start, err)
		return
	}
	write, err := s.copyState(ctx)
	s.paused = time.Since(start)
	if err != nil {
		s.done(start, err)
		return
	}
	s.facts = 0 // counted from the copy on; a failed write logs and waits for the next
	paused := s.paused
	s.writing.Add(1)
	s.busy.Store(true)
	run := func() {
		defer s.writing.Done()
		defer s.busy.Store(false)
		if err := write(s.path); err != nil {
			s.done(start, err)
			return
		}
		s.log.Info("snapshot written", zap.String("of", s.what), zap.String("path", s.path),
			zap.Duration("paused", paused), zap.Duration("took", time.Since(start)))
	}
	if wait {
		run()
	} else {
		go run()
	}
}

// done logs how a synchronous snapshot ended.
func (s *snapshotter) done(start time.Time, err error) {
	if errors.Is(err, projections.ErrApplyingReplay) {
		s.log.Info("snapshot", zap.String("of", s.what), zap.Error(err))
		return
	}
	if err != nil {
		s.log.Error("snapshot", zap.String("of", s.what), zap.Error(err))
		return
	}
	s.facts = 0
	s.log.Info("snapshot written", zap.String("of", s.what), zap.String("path", s.path), zap.Duration("took", time.Since(start)))
}

// whySnapshotUnused says in a log field why a snapshot was not used: "none
// yet" for a new data folder (not an error), or the reason it could not be.
func whySnapshotUnused(reason error) zap.Field {
	if errors.Is(reason, os.ErrNotExist) {
		return zap.String("snapshot", "none yet")
	}
	return zap.NamedError("snapshot", reason)
}
