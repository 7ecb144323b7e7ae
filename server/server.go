package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/refledger/refledger/events/ingest"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/projections"
	"github.com/refledger/refledger/replay"
)

// Server is the running service.
type Server struct {
	cfg     Config
	tokens  tokenHashes // cfg.Tokens, hashed for comparison in constant time
	facts   store.Log
	ledger  store.Log
	batch   *batcher
	live    *live
	health  *health
	metrics *metrics

	rejections *rejectionLog
	answered   *answered      // requests answered, whose intake copies are theirs
	intakeWG   sync.WaitGroup // the intake's loop, which Run outlives

	replayMu  sync.Mutex
	replays   map[string]*replay.Result
	replayIDs []string
	// replaying lets one what-if or apply run at a time: each holds an
	// engine as large as the live one (over a GiB at ten million facts).
	replaying chan struct{}
	jobs      map[string]*replayJob // background what-ifs, under replayMu
	jobIDs    []string
	jobsCtx   context.Context // ends background jobs when Run ends
	stopJobs  context.CancelFunc

	natsWG sync.WaitGroup // NATS messages being handled
}

// New opens the fact log's idempotency index and prepares the service.
// Run starts it.
func New(ctx context.Context, cfg Config, facts, ledgerLog store.Log) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	// A damaged log, or a ledger ahead of the facts, stops the start with
	// what is wrong: serving would append after the damage and bury it.
	if err := projections.VerifyLogs(ctx, facts, ledgerLog); err != nil {
		return nil, err
	}
	in, err := openIngester(ctx, cfg, facts)
	if err != nil {
		return nil, fmt.Errorf("open ingestion: %w", err)
	}
	in.SetClock(cfg.now) // each fact keeps when it arrived, by the service's clock
	rejections := &rejectionLog{log: cfg.Rejections}
	if err := rejections.load(ctx); err != nil {
		return nil, fmt.Errorf("read the rejections log: %w", err)
	}
	s := &Server{cfg: cfg, tokens: hashTokens(cfg.Tokens), facts: facts, ledger: ledgerLog, rejections: rejections, answered: newAnswered(), health: newHealth(cfg.Log, cfg.now), metrics: newMetrics(), replays: map[string]*replay.Result{}, replaying: make(chan struct{}, 1), jobs: map[string]*replayJob{}}
	s.jobsCtx, s.stopJobs = context.WithCancel(context.Background())
	s.live = newLive(facts, ledgerLog, cfg.Log, s.health, in.Head(), cfg.progressEvery())
	s.live.snapshots = snapshotter{path: cfg.snapshotPath(WriterSnapshotFile), what: "ledger writer", log: cfg.Log, copyState: s.live.startSnapshot}
	s.live.readModels = snapshotter{path: cfg.snapshotPath(ReadModelsFile), what: "read models", log: cfg.Log, copyState: s.live.copyReadModels}
	s.batch = &batcher{in: in, reqs: make(chan *batchReq, ingestQueue), metric: s.metrics, health: s.health, damaged: s.live.refuseAppends}
	s.batch.snapshots = snapshotter{path: cfg.snapshotPath(IndexSnapshotFile), what: "ingest index", log: cfg.Log, copyState: in.SnapshotCopy}
	if in.Rebuilt() {
		s.batch.snapshots.rebuilt()
	}
	s.metrics.watch(s)
	return s, nil
}

// openIngester opens ingestion from its index snapshot when there is a
// usable one, and from the fact log otherwise.
func openIngester(ctx context.Context, cfg Config, facts store.Log) (*ingest.Ingester, error) {
	path := cfg.snapshotPath(IndexSnapshotFile)
	if path == "" {
		return ingest.Open(ctx, facts)
	}
	start := time.Now()
	in, reason, err := ingest.OpenFrom(ctx, facts, path)
	if err != nil {
		return nil, err
	}
	if reason != nil {
		cfg.Log.Info("ingest index rebuilt from the fact log", whySnapshotUnused(reason), zap.Duration("took", time.Since(start)))
	} else {
		cfg.Log.Info("ingest index loaded from its snapshot", zap.String("path", path), zap.Uint64("head", in.Head()), zap.Duration("took", time.Since(start)))
	}
	return in, nil
}

// Run runs the ingestion batcher and the live loops until ctx is done. On
// return every fact whose append was acknowledged is durable.
func (s *Server) Run(ctx context.Context) error {
	defer s.stopJobs()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	batchCtx, stopBatch := context.WithCancel(context.WithoutCancel(ctx))
	wg.Add(1)
	go func() { defer wg.Done(); s.batch.run(batchCtx) }()
	loops := []func(context.Context) error{s.live.run}
	var lw sync.WaitGroup
	for _, loop := range loops {
		lw.Add(1)
		go func() {
			defer lw.Done()
			if err := loop(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- err
			}
		}()
	}
	lw.Wait()
	s.intakeWG.Wait() // its last batch goes through the batcher
	// The batcher stops last: the HTTP and NATS front ends have drained by
	// now (cmd shuts them first), and it drains its own queue.
	stopBatch()
	wg.Wait()
	close(errs)
	return <-errs
}

// Handler returns the HTTP handler with every route.
func (s *Server) Handler() http.Handler { return s.routes() }

// ServeNATS subscribes ingestion on nc: requests on the core
// subscription, and everything published through the intake stream,
// which it takes until ctx (Run's) is done. To stop, drain the
// subscription, then call WaitNATS before ending Run.
func (s *Server) ServeNATS(ctx context.Context, nc *nats.Conn) (*nats.Subscription, error) {
	done, err := s.serveIntake(ctx, nc)
	if err != nil {
		return nil, err
	}
	s.intakeWG.Add(1)
	go func() { <-done; s.intakeWG.Done() }()
	return s.subscribe(ctx, nc)
}

// WaitNATS waits until every NATS message taken has been answered.
func (s *Server) WaitNATS() { s.natsWG.Wait() }
