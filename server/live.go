package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/projections"
)

// live keeps the read models and the ledger in step with the fact log. One
// follower reads each fact commit once, decodes it once, and hands it to
// the catalog, the click history and the ledger's single writer.
type live struct {
	facts, ledgerLog store.Log
	log              *zap.Logger
	health           *health
	catalog          *projections.Catalog
	clicks           *projections.Clicks

	mu     sync.RWMutex
	ledger *projections.Ledger // replaced whole when the writer rebuilds
	writer *projections.Writer // owned by the follower goroutine

	moved       chan struct{}               // the ledger moved under the writer: rebuild
	paused      chan pausedRun              // work to run with the writer paused
	commits     chan projections.FactCommit // follower -> writer, bounded
	decideRun   []projections.FactCommit    // the writer's, reused: see drainRun
	handled     store.Position              // last position the writer took (writer goroutine)
	ownHead     atomic.Uint64               // ledger position of the writer's last append
	factsHead   atomic.Uint64
	factsFolded atomic.Uint64
	startHead   store.Position
	followedUp  atomic.Bool
	followed    chan struct{} // closed once followedUp
	followOnce  sync.Once
	caughtUp    atomic.Bool
	// viewOpened is set once the ledger view holds what the ledger log
	// did when the writer first opened: before, reads would find it empty.
	viewOpened atomic.Bool
	// followFailing is set while following the fact log fails.
	followFailing atomic.Bool
	// factDamage is the fact log's damage, once following met it: no
	// event is appended after it (see batcher.commit).
	factDamage atomic.Pointer[store.Damage]
	// writerAway is set while the writer is paused or rebuilding: the
	// follower then queues for it only what fits (handOver), and counts
	// the rest in handedOverLate.
	writerAway     atomic.Bool
	handedOverLate atomic.Uint64
	pausedNanos    atomic.Int64 // time spent in whileWriterPaused work, in all
	// lagClock times the commits read for the ledger's lag metrics.
	lagClock lagClock

	// snapshots saves the writer and its ledger view now and then; only
	// the writer goroutine uses it. readModels saves the catalog and the
	// click history; only the follower uses it.
	snapshots  snapshotter
	readModels snapshotter

	progressEvery time.Duration // spaces the progress lines of a rebuild
	stuckAfter    time.Duration // writerStuckAfter; tests shorten it
}

func newLive(facts, ledgerLog store.Log, log *zap.Logger, h *health, startHead store.Position, progressEvery time.Duration) *live {
	return &live{
		facts: facts, ledgerLog: ledgerLog, log: log, health: h, startHead: startHead, progressEvery: progressEvery, stuckAfter: writerStuckAfter,
		catalog: projections.NewCatalog(), clicks: projections.NewClicks(), ledger: projections.NewLedger(ledgerLog),
		moved: make(chan struct{}, 1), paused: make(chan pausedRun), commits: make(chan projections.FactCommit, commitQueue), followed: make(chan struct{}),
	}
}

func (l *live) ledgerView() *projections.Ledger {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.ledger
}

// ledgerMoved tells the follower that another writer appended to the
// ledger (a replay was applied); it never blocks.
func (l *live) ledgerMoved() {
	select {
	case l.moved <- struct{}{}:
	default:
	}
}

// markFollowedUp records that the read models hold the fact log as it
// stood at start.
func (l *live) markFollowedUp() {
	l.followOnce.Do(func() {
		l.followedUp.Store(true)
		close(l.followed)
	})
}

// waitForLink waits, at most d, until the catalog knows the link code or
// the read models hold the fact log as it stood at start, and returns the
// link if the catalog knows it then. The catalog is put in place from its
// snapshot before the click history is read, so a known link is found well
// before the read models have followed up.
func (l *live) waitForLink(ctx context.Context, code string, d time.Duration) (events.LinkCreated, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	poll := time.NewTicker(catalogPoll)
	defer poll.Stop()
	for {
		if link, ok := l.catalog.Link(code); ok || l.followedUp.Load() {
			return link, ok
		}
		select {
		case <-l.followed:
		case <-poll.C:
		case <-deadline.C:
			return l.catalog.Link(code)
		case <-ctx.Done():
			return events.LinkCreated{}, false
		}
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

// retryPause spaces out retries after a store error; commitQueue bounds
// the decoded commits waiting for the writer.
const (
	retryPause  = 500 * time.Millisecond
	commitQueue = 1024
	// awayCheck is how often a follower held back by a full queue looks
	// whether the writer went away meanwhile.
	awayCheck = 100 * time.Millisecond
	// movedSettle is how long a ledger commit the writer has not claimed may
	// stay unexplained before it counts as another writer's.
	movedSettle = 50 * time.Millisecond
	// catalogPoll is how often a redirect waiting for the catalog after a
	// start looks again.
	catalogPoll = 10 * time.Millisecond
)

// run follows the fact log, writes the ledger and watches it, until ctx is
// done.
func (l *live) run(ctx context.Context) error {
	if l.startHead == 0 {
		l.markFollowedUp() // nothing to catch up with
		l.caughtUp.Store(true)
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); l.write(ctx) }()
	go func() { defer wg.Done(); l.watchLedger(ctx) }()
	go func() { defer wg.Done(); l.watchProgress(ctx, time.Second) }()
	defer wg.Wait()
	return l.follow(ctx)
}

// follow reads the fact log into the read models and on to the writer,
// starting from the read models' snapshot when there is a usable one.
func (l *live) follow(ctx context.Context) error {
	l.resumeReadModels(ctx)
	defer l.readModels.final(ctx)
	for {
		err := l.facts.Follow(ctx, l.factsHead.Load()+1, l.apply(ctx))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.followFailing.Store(true)
		if d, damaged := store.AsDamage(err); damaged {
			l.factDamage.Store(d)
		}
		l.health.set(problemFactLog, fmt.Errorf("following the fact log: %w", err))
		if !sleep(ctx, retryPause) {
			return ctx.Err()
		}
	}
}

func (l *live) apply(ctx context.Context) func(store.Stored) error {
	return func(s store.Stored) error {
		if l.followFailing.Swap(false) {
			l.health.clear(problemFactLog)
		}
		if s.Foreign != nil {
			l.health.set(problemForeign, fmt.Errorf("fact log %s: it was skipped, as every reader skips it; "+
				"only the service should publish on the log's subject (check the NATS permissions, and run refledger check)", s.Foreign))
		}
		return projections.DecodeCommit(s, func(fc projections.FactCommit) error {
			l.catalog.ApplyFacts(fc)
			l.clicks.ApplyFacts(fc)
			l.factsHead.Store(s.Position)
			l.lagClock.saw(uint64(fc.Position), len(fc.Facts), l.factsFolded.Load(), time.Now())
			if s.Position >= l.startHead {
				l.markFollowedUp()
			}
			l.readModels.count(len(fc.Facts))
			l.readModels.takeIfDue(ctx)
			return l.handOver(ctx, fc)
		})
	}
}

// handOver queues a decoded commit for the writer. While the writer is
// away (paused for a replay's apply, or rebuilding) and its queue is full,
// the commit is not queued: the writer reads it from the fact log when it
// is back (catchUpFromLog), and the read models go on instead of waiting
// for the ledger. Otherwise a full queue holds the follower back.
func (l *live) handOver(ctx context.Context, fc projections.FactCommit) error {
	select {
	case l.commits <- fc:
		return nil
	default:
	}
	for {
		if l.writerAway.Load() {
			select {
			case l.commits <- fc:
			default:
				l.handedOverLate.Add(1)
			}
			return nil
		}
		select {
		case l.commits <- fc:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(awayCheck):
		}
	}
}

// catchUpFromLog has the writer decide, from the fact log, the commits
// before position upTo that it was not handed (see handOver).
func (l *live) catchUpFromLog(ctx context.Context, upTo store.Position) error {
	w := l.writer
	if w == nil || w.Next() >= upTo {
		return nil
	}
	err := w.FoldThrough(ctx, upTo-1)
	l.ownHead.Store(w.LedgerHead())
	l.factsFolded.Store(w.FactsFolded())
	if w.FactsFolded() >= l.startHead {
		l.caughtUp.Store(true)
	}
	return err
}

// resumeReadModels loads the catalog and click history from their
// snapshot, if there is a usable one, so that following starts after it.
func (l *live) resumeReadModels(ctx context.Context) {
	l.readModels.at = time.Now()
	if l.readModels.path == "" {
		return
	}
	start := time.Now()
	through, err := projections.ReadReadModels(ctx, l.facts, l.readModels.path, l.catalog, l.clicks)
	if err != nil {
		l.readModels.rebuilt()
		l.log.Info("read models rebuilt from the fact log", whySnapshotUnused(err))
		return
	}
	l.factsHead.Store(through)
	if through >= l.startHead {
		l.markFollowedUp()
	}
	l.log.Info("read models loaded from their snapshot", zap.String("path", l.readModels.path),
		zap.Uint64("facts_through", through), zap.Duration("took", time.Since(start)))
}

// copyReadModels copies what a snapshot of the catalog and the click
// history needs; the follower calls it between commits, and the copy is
// written beside it.
func (l *live) copyReadModels(ctx context.Context) (func(path string) error, error) {
	return projections.CopyReadModels(ctx, l.facts, l.factsHead.Load(), l.catalog, l.clicks)
}

// write is the ledger's single writer: it decides the commits the follower
// hands over, and rebuilds as soon as the ledger moved under it.
func (l *live) write(ctx context.Context) {
	idle := time.NewTicker(time.Second)
	defer idle.Stop()
	l.snapshots.at = time.Now()
	// Open the writer now, not when the first commit comes: the follower
	// hands over only what its read models lack, which may be nothing.
	if err := l.openWriter(ctx, l.startHead+1); err != nil {
		if ctx.Err() == nil {
			l.health.set(problemWriter, fmt.Errorf("open the ledger writer: %w", err))
		}
	} else if l.writer.FactsFolded() >= l.startHead {
		l.caughtUp.Store(true)
	}
	for {
		select {
		case <-idle.C:
			// Commits the follower could not hand over while the writer was
			// away, and nothing came after them: read them from the log.
			if l.writer != nil && len(l.commits) == 0 {
				if err := l.catchUpFromLog(ctx, l.factsHead.Load()+1); err != nil {
					if ctx.Err() == nil {
						l.health.set(problemWriter, fmt.Errorf("ledger writer: %w", err))
					}
					l.writer = nil
				}
			}
			// Facts that made no record (clicks) still move the checkpoint,
			// so readers of the ledger alone can tell it is current.
			if l.writer != nil && len(l.commits) == 0 {
				if err := l.writer.Checkpoint(ctx); err != nil {
					l.writer = nil
				} else {
					l.ownHead.Store(l.writer.LedgerHead())
				}
			}
			if l.writer != nil {
				l.snapshots.takeIfDue(ctx)
			}
		case <-ctx.Done():
			if l.writer != nil {
				l.snapshots.final(ctx)
			}
			return
		case fc := <-l.commits:
			run := l.drainRun(fc)
			l.decide(ctx, run)
			l.handled = run[len(run)-1].Position
			clear(run) // let the facts go
		case <-l.moved:
			l.writer = nil
			if err := l.openWriter(ctx, l.handled+1); err != nil && ctx.Err() == nil {
				l.health.set(problemWriter, fmt.Errorf("rebuild the ledger writer: %w", err))
			}
		case run := <-l.paused:
			start := time.Now()
			l.writerAway.Store(true)
			adopt, err := run.fn()
			run.done <- err
			l.afterPause(ctx, adopt)
			l.writerAway.Store(false)
			l.pausedNanos.Add(int64(time.Since(start)))
		}
	}
}

// pausedRun is work that must not race the live writer's appends. fn may
// return adopt, which moves the writer past what fn appended (a replay
// hands over its own fold) instead of a rebuild.
type pausedRun struct {
	fn   func() (adopt func(context.Context, *projections.Writer) error, err error)
	done chan error
}

// whileWriterPaused runs fn on the writer's goroutine, between two runs of
// facts, so that the service appends nothing to the ledger until fn
// returns: a replay's apply, fenced at the ledger's head, then cannot lose
// the race to the live ledger. Facts are still taken in, and the read
// models follow them, meanwhile (see handOver); the writer decides them
// after, on the ledger fn may have moved. If ctx ends before the writer
// takes fn, fn does not run.
func (l *live) whileWriterPaused(ctx context.Context, fn func() (adopt func(context.Context, *projections.Writer) error, err error)) error {
	run := pausedRun{fn: fn, done: make(chan error, 1)}
	select {
	case l.paused <- run:
		return <-run.done
	case <-ctx.Done():
		return ctx.Err()
	}
}

// afterPause brings the writer onto the ledger as the paused work left it:
// as it was if nothing was appended, through adopt if it was given and
// takes, else rebuilt. Every ledger commit up to the head is then the
// writer's own, so the watcher is not to count them as another writer's
// (a second rebuild).
func (l *live) afterPause(ctx context.Context, adopt func(context.Context, *projections.Writer) error) {
	head, err := l.ledgerLog.Head(ctx)
	if err == nil && l.writer != nil && head == l.writer.LedgerHead() {
		return
	}
	if err == nil && head > l.ownHead.Load() {
		l.ownHead.Store(head)
	}
	defer func() {
		select {
		case <-l.moved:
		default:
		}
	}()
	if adopt != nil && l.writer != nil {
		start := time.Now()
		err := adopt(ctx, l.writer)
		if err == nil {
			l.ownHead.Store(l.writer.LedgerHead())
			l.log.Info("ledger writer went on with the replay's engine", zap.Duration("took", time.Since(start)))
			return
		}
		l.log.Info("ledger writer rebuilds after the replay", zap.NamedError("reason", err))
	}
	l.writer = nil
	if err := l.openWriter(ctx, l.handled+1); err != nil && ctx.Err() == nil {
		l.health.set(problemWriter, fmt.Errorf("rebuild the ledger writer: %w", err))
	}
}

// startSnapshot encodes the snapshot of the writer and the ledger view it
// feeds with the writer paused, and returns what finishes writing it
// beside the writer.
func (l *live) startSnapshot(ctx context.Context) (func(path string) error, error) {
	finish, err := l.writer.StartSnapshot(ctx, l.snapshots.path, l.ledgerView())
	if err != nil {
		return nil, err
	}
	return func(string) error { return finish() }, nil
}

// watchLedger notices ledger commits the writer did not make (a replay
// applied, or a command run beside the service) and has the writer rebuild.
func (l *live) watchLedger(ctx context.Context) {
	head, err := l.ledgerLog.Head(ctx)
	if err != nil {
		head = 0
	}
	failing := false
	for ctx.Err() == nil {
		err := l.ledgerLog.Follow(ctx, head+1, func(s store.Stored) error {
			if failing {
				l.health.clear(problemLedgerLog)
				failing = false
			}
			head = s.Position
			if s.Position > l.ownHead.Load() && sleep(ctx, movedSettle) && s.Position > l.ownHead.Load() {
				l.ledgerMoved()
			}
			return nil
		})
		if ctx.Err() == nil {
			l.health.set(problemLedgerLog, fmt.Errorf("following the ledger log: %w", err))
			failing = true
			sleep(ctx, retryPause)
			if _, err := l.ledgerLog.Head(ctx); err == nil {
				l.health.clear(problemLedgerLog) // it answers again
				failing = false
			}
		}
	}
}

// runFactsMax bounds the facts the writer decides in one run.
const runFactsMax = 4096

// drainRun gathers, after fc, the commits already queued (up to
// runFactsMax facts), so that the writer decides them in one append.
func (l *live) drainRun(fc projections.FactCommit) []projections.FactCommit {
	run := append(l.decideRun[:0], fc)
	facts := len(fc.Facts)
	defer func() { l.decideRun = run }()
	for facts < runFactsMax {
		select {
		case next := <-l.commits:
			run = append(run, next)
			facts += len(next.Facts)
		default:
			return run
		}
	}
	return run
}

// decide hands a run of consecutive commits to the ledger writer,
// (re)building the writer when there is none or the ledger moved. A writer
// that fails is dropped and rebuilt on the next commit; the ledger never
// misses a fact, because a new writer resumes from the ledger's own
// checkpoint.
func (l *live) decide(ctx context.Context, run []projections.FactCommit) {
	fc := run[0]
	select {
	case <-l.moved:
		l.writer = nil
	default:
	}
	for attempt := 0; attempt < 3 && ctx.Err() == nil; attempt++ {
		if l.writer == nil {
			if err := l.openWriter(ctx, fc.Position); err != nil {
				if ctx.Err() == nil {
					l.health.set(problemWriter, fmt.Errorf("open the ledger writer: %w", err))
				}
				sleep(ctx, retryPause)
				continue
			}
		}
		freshFacts := 0
		for _, c := range run {
			if c.Position >= l.writer.Next() {
				freshFacts += len(c.Facts)
			}
		}
		err := l.applyRun(ctx, run)
		l.ownHead.Store(l.writer.LedgerHead())
		if err == nil {
			l.snapshots.count(freshFacts)
			l.factsFolded.Store(l.writer.FactsFolded())
			if l.writer.FactsFolded() >= l.startHead {
				l.caughtUp.Store(true)
			}
			l.health.clear(problemWriter)
			return
		}
		if !errors.Is(err, projections.ErrLedgerMoved) && ctx.Err() == nil {
			l.health.set(problemWriter, fmt.Errorf("ledger writer: %w", err))
		}
		l.writer = nil
	}
}

// applyRun hands run to the writer, having it read from the fact log
// first the commits before or between the run's that the follower could
// not hand over (see handOver).
func (l *live) applyRun(ctx context.Context, run []projections.FactCommit) error {
	for len(run) > 0 {
		if err := l.catchUpFromLog(ctx, run[0].Position); err != nil {
			return err
		}
		n := 1 // the run's first stretch of consecutive commits
		for n < len(run) && run[n].Position == run[n-1].Position+1 {
			n++
		}
		if err := l.writer.ApplyRun(ctx, run[:n]); err != nil {
			return err
		}
		run = run[n:]
	}
	return nil
}

// openWriter rebuilds the writer from the logs and folds what the ledger
// lacks up to (not including) position upTo, which the caller hands over.
func (l *live) openWriter(ctx context.Context, upTo store.Position) error {
	if !l.writerAway.Swap(true) {
		defer l.writerAway.Store(false)
	}
	// A rebuild from the logs folds them all (most of a minute at ten
	// million facts): log how far it has got, as a long what-if does.
	logged, folded := logProgress(l.log, "ledger writer catching up", l.progressEvery), 0
	ctx = projections.WithProgress(ctx, func(facts int) {
		folded += facts
		logged(zap.Int("facts_folded", folded))
	})
	w, view, err := l.resumeWriter(ctx)
	if err != nil {
		return err
	}
	if w.Next() < upTo {
		if err := w.FoldThrough(ctx, upTo-1); err != nil {
			return err
		}
	}
	l.writer = w
	l.ownHead.Store(w.LedgerHead())
	l.factsFolded.Store(w.FactsFolded())
	l.mu.Lock()
	l.ledger = view
	l.mu.Unlock()
	l.viewOpened.Store(true)
	l.health.clear(problemWriter)
	return nil
}

// watchProgress checks, every period, that the writer keeps up: a writer
// with facts waiting that has folded none for writerStuckAfter is stuck
// (unless it is away: paused for a replay's apply, or rebuilding), and
// one more than ledgerBehindMax fact commits behind, once it has caught
// up at start, is behind. Either makes /readyz answer 503.
func (l *live) watchProgress(ctx context.Context, period time.Duration) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	lastFolded, since := l.factsFolded.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		folded, lag := l.factsFolded.Load(), l.lag()
		if folded != lastFolded || lag == 0 || l.writerAway.Load() {
			lastFolded, since = folded, time.Now()
		}
		if waited := time.Since(since); waited >= l.stuckAfter {
			l.health.set(problemStuck, fmt.Errorf("the ledger writer has decided nothing for %s while %d fact commits wait (after position %d)",
				waited.Truncate(time.Second), lag, folded))
		} else {
			l.health.clear(problemStuck)
		}
		if l.caughtUp.Load() && lag > ledgerBehindMax {
			l.health.set(problemBehind, fmt.Errorf("the ledger is %d fact commits behind the fact log (more than %d)", lag, ledgerBehindMax))
		} else {
			l.health.clear(problemBehind)
		}
	}
}

// resumeWriter opens the writer from its snapshot when there is a usable
// one, and from the logs otherwise.
func (l *live) resumeWriter(ctx context.Context) (*projections.Writer, *projections.Ledger, error) {
	if l.snapshots.path == "" {
		view := projections.NewLedger(l.ledgerLog)
		w, err := projections.OpenWriter(ctx, l.facts, l.ledgerLog, view)
		return w, view, err
	}
	start := time.Now()
	w, view, reason, err := projections.ResumeWriter(ctx, l.facts, l.ledgerLog, l.snapshots.path)
	if err != nil {
		return nil, nil, err
	}
	if reason != nil {
		l.snapshots.rebuilt()
		l.log.Info("ledger writer rebuilt from the logs", whySnapshotUnused(reason), zap.Duration("took", time.Since(start)))
	} else {
		l.log.Info("ledger writer resumed from its snapshot", zap.String("path", l.snapshots.path),
			zap.Uint64("facts_through", w.FactsFolded()), zap.Duration("took", time.Since(start)))
	}
	return w, view, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// refuseAppends returns the fact log's damage, once following met it.
func (l *live) refuseAppends() error {
	if d := l.factDamage.Load(); d != nil {
		return fmt.Errorf("the fact log is damaged, so no event is taken: %w", d)
	}
	return nil
}
