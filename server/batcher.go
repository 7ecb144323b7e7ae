package server

import (
	"context"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/ingest"
)

// batcher gathers facts from concurrent callers (clicks, NATS, HTTP) into
// one ingest commit, so that concurrent appends share one fsync. A batch
// closes at ingest.MaxBatch facts or after about a millisecond.
type batcher struct {
	in     *ingest.Ingester
	reqs   chan *batchReq
	after  func() // called after every durable append
	metric *metrics
	health *health
	// damaged, when it returns an error, stops appends: the fact log is
	// damaged, and events appended now would be lost when it is restored.
	damaged func() error
	// snapshots saves the ingest index now and then, between batches.
	snapshots snapshotter
}

type batchReq struct {
	facts []events.Fact
	done  chan batchRes
}

type batchRes struct {
	outcomes []ingest.Outcome
	err      error
}

const lingerMax = time.Millisecond

// submit ingests facts (at most ingest.MaxBatch) and waits until they are
// durable, duplicates, or rejected.
func (b *batcher) submit(ctx context.Context, facts []events.Fact) ([]ingest.Outcome, error) {
	req := &batchReq{facts: facts, done: make(chan batchRes, 1)}
	select {
	case b.reqs <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Once queued, the append goes ahead: wait for it even if the caller
	// gives up, so that shutdown drains every acknowledged fact.
	r := <-req.done
	return r.outcomes, r.err
}

// run serves submissions until ctx is done and the queue is drained.
func (b *batcher) run(ctx context.Context) {
	g := gatherer{reqs: b.reqs, last: 1, timer: time.NewTimer(time.Hour)}
	g.timer.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	b.snapshots.at = time.Now()
	for {
		var first *batchReq
		select {
		case first = <-b.reqs:
		case <-tick.C:
			b.snapshots.takeIfDue(ctx)
			continue
		case <-ctx.Done():
			b.drain()
			b.snapshots.final(ctx)
			return
		}
		batch, n := []*batchReq{first}, len(first.facts)
		for n < ingest.MaxBatch {
			r := g.next(len(batch))
			if r == nil {
				break
			}
			if n+len(r.facts) > ingest.MaxBatch {
				b.commit(ctx, batch)
				batch, n = nil, 0
			}
			batch = append(batch, r)
			n += len(r.facts)
		}
		g.done(len(batch))
		b.commit(ctx, batch)
	}
}

// gatherer hands out queued requests for the batch being built: whatever is
// queued, and, while the batch is smaller than the previous one (the same
// callers tend to come back), whatever arrives within lingerMax.
type gatherer struct {
	reqs      chan *batchReq
	last      int
	timer     *time.Timer
	lingering bool
}

func (g *gatherer) next(size int) *batchReq {
	select {
	case r := <-g.reqs:
		return r
	default:
	}
	if size >= g.last {
		return nil
	}
	if !g.lingering {
		g.lingering = true
		g.timer.Reset(lingerMax)
	}
	select {
	case r := <-g.reqs:
		return r
	case <-g.timer.C:
		g.lingering = false
		return nil
	}
}

func (g *gatherer) done(size int) {
	if g.lingering && !g.timer.Stop() {
		<-g.timer.C
	}
	g.lingering = false
	g.last = size
}

func (b *batcher) drain() {
	for {
		select {
		case r := <-b.reqs:
			b.commit(context.Background(), []*batchReq{r})
		default:
			return
		}
	}
}

func (b *batcher) commit(ctx context.Context, batch []*batchReq) {
	if len(batch) == 0 {
		return
	}
	var facts []events.Fact
	for _, r := range batch {
		facts = append(facts, r.facts...)
	}
	start := time.Now()
	// The append must finish even while shutting down: callers wait on it.
	var outcomes []ingest.Outcome
	err := b.damaged()
	if err == nil {
		outcomes, err = b.in.Submit(context.WithoutCancel(ctx), facts)
	}
	b.metric.appendLatency.Observe(time.Since(start).Seconds())
	b.health.setIf(problemIngestion, err)
	b.snapshots.count(len(facts))
	for _, r := range batch {
		if err != nil {
			r.done <- batchRes{err: err}
			continue
		}
		r.done <- batchRes{outcomes: outcomes[:len(r.facts)]}
		outcomes = outcomes[len(r.facts):]
	}
	if err == nil && b.after != nil {
		b.after()
	}
}
