package server

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// A loop takes its snapshot when snapshotEvery facts went by since the
// last one (and at least snapshotMinAge passed), or when any did and
// snapshotMaxAge passed, and once more on the way out. Taking one pauses
// the loop: about a second per ten million facts for the ingest index, and
// per million for the ledger writer.
const (
	snapshotEvery  = 250_000
	snapshotMinAge = 30 * time.Second
	snapshotMaxAge = 10 * time.Minute
)

// snapshotter decides when one loop's snapshot is due and takes it. Only
// the loop that owns the state uses it.
type snapshotter struct {
	path string // "" takes none
	what string // what the snapshot holds, for logs
	log  *zap.Logger
	save func(ctx context.Context, path string) error

	at    time.Time // when the last one was taken (or the loop started)
	facts int       // facts gone by since
}

// count notes facts that went by.
func (s *snapshotter) count(facts int) { s.facts += facts }

// rebuilt notes that the state was rebuilt from the logs: worth saving soon.
func (s *snapshotter) rebuilt() { s.facts = max(s.facts, snapshotEvery) }

func (s *snapshotter) due() bool {
	age := time.Since(s.at)
	return s.path != "" && s.facts > 0 && (s.facts >= snapshotEvery && age >= snapshotMinAge || age >= snapshotMaxAge)
}

// takeIfDue takes a snapshot when one is due.
func (s *snapshotter) takeIfDue(ctx context.Context) {
	if s.due() {
		s.take(ctx)
	}
}

// final takes a last snapshot when anything changed since the last one.
func (s *snapshotter) final(ctx context.Context) {
	if s.path != "" && s.facts > 0 {
		s.take(context.WithoutCancel(ctx))
	}
}

// take saves the snapshot; a failure is logged and costs only a slower
// restart.
func (s *snapshotter) take(ctx context.Context) {
	start := time.Now()
	s.at = start
	if err := s.save(ctx, s.path); err != nil {
		s.log.Error("snapshot", zap.String("of", s.what), zap.Error(err))
		return
	}
	s.facts = 0
	s.log.Info("snapshot written", zap.String("of", s.what), zap.String("path", s.path), zap.Duration("took", time.Since(start)))
}
