package jetstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/refledger/refledger/events/store"
)

// Bounds of the committer.
const (
	queueLen        = 8192             // appends waiting for the committer
	publishTimeout  = 10 * time.Second // one publish attempt
	publishAttempts = 3                // then ErrUnavailable
	recentIDsMax    = 1 << 16          // commit ids remembered in process
	fetchMsgs       = 64               // messages one read request asks for
	consumerIdleMax = 5 * time.Minute  // a reader's consumer outlives a crash by this much
	// lingerMax bounds how long a batch waits for more appends.
	lingerMax = time.Millisecond
)

// Log is one stream. Appends go through a single committer goroutine that
// group commits store.Any appends.
type Log struct {
	s      *Store
	name   string
	stream jetstream.Stream
	reqs   chan *appendReq
	quit   chan struct{}
	wg     sync.WaitGroup
	infoMu sync.Mutex // serializes stream.Info (see Head)

	// lastBatch is how many appends the previous batch held: under steady
	// concurrency the same appenders come back, so the next batch waits (at
	// most lingerMax) until it is as large. Owned by the commit loop.
	lastBatch int
	linger    *time.Timer

	mu     sync.Mutex
	recent map[string]store.Position // commit id -> position, bounded
	order  []string                  // ring of recent ids, oldest first
}

type appendReq struct {
	commit store.Commit
	exp    store.Expected
	done   chan appendResult
}

type appendResult struct {
	res store.Appended
	err error
}

func newLog(s *Store, name string, st jetstream.Stream) *Log {
	l := &Log{
		s: s, name: name, stream: st,
		reqs:   make(chan *appendReq, queueLen),
		quit:   make(chan struct{}),
		recent: map[string]store.Position{},
		linger: time.NewTimer(time.Hour),
	}
	l.linger.Stop()
	l.wg.Add(1)
	go l.commitLoop()
	return l
}

func (l *Log) stop() {
	close(l.quit)
	l.wg.Wait()
}

// Append queues the commit for the committer and waits for its durable
// acknowledgement.
func (l *Log) Append(ctx context.Context, c store.Commit, exp store.Expected) (store.Appended, error) {
	if err := c.Validate(); err != nil {
		return store.Appended{}, err
	}
	if pos, ok := l.seen(c.ID); ok {
		return store.Appended{Position: pos, Duplicate: true}, nil
	}
	req := &appendReq{commit: c, exp: exp, done: make(chan appendResult, 1)}
	select {
	case l.reqs <- req:
	case <-l.quit:
		return store.Appended{}, store.ErrClosed
	case <-ctx.Done():
		return store.Appended{}, ctx.Err()
	}
	select {
	case r := <-req.done:
		return r.res, r.err
	case <-ctx.Done():
		// The commit may still be appended; a retry with its ID is safe.
		return store.Appended{}, ctx.Err()
	}
}

func (l *Log) seen(id string) (store.Position, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pos, ok := l.recent[id]
	return pos, ok
}

func (l *Log) remember(id string, pos store.Position) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.recent[id]; ok {
		return
	}
	if len(l.order) >= recentIDsMax {
		delete(l.recent, l.order[0])
		l.order = l.order[1:]
	}
	l.recent[id] = pos
	l.order = append(l.order, id)
}

// commitLoop takes the first waiting append, then every further store.Any
// append already queued (up to the batch bounds), and publishes them as one
// message. While a publish waits for its fsync, the next batch gathers.
func (l *Log) commitLoop() {
	defer l.wg.Done()
	var next *appendReq
	for {
		first := next
		next = nil
		if first == nil {
			select {
			case first = <-l.reqs:
			case <-l.quit:
				l.drainClosed()
				return
			}
		}
		batch := []*appendReq{first}
		if _, fenced := store.ExpectedPosition(first.exp); !fenced {
			batch, next = l.gather(batch)
		}
		l.publish(batch)
	}
}

// gather adds queued store.Any appends to batch until a bound is reached;
// it waits up to lingerMax for the batch to grow as large as the previous
// one, so a batch closes at N events or about a millisecond. A fenced append
// found on the way is returned as next.
func (l *Log) gather(batch []*appendReq) ([]*appendReq, *appendReq) {
	events, size := len(batch[0].commit.Events), batch[0].commit.Size()
	lingering := false
	defer func() {
		if lingering && !l.linger.Stop() {
			select {
			case <-l.linger.C:
			default:
			}
		}
		l.lastBatch = len(batch)
	}()
	for events < l.s.opts.BatchEventsMax {
		var r *appendReq
		select {
		case r = <-l.reqs:
		default:
			if len(batch) >= l.lastBatch {
				return batch, nil
			}
			if !lingering {
				lingering = true
				l.linger.Reset(lingerMax)
			}
			select {
			case r = <-l.reqs:
			case <-l.linger.C:
				lingering = false
				return batch, nil
			}
		}
		if _, fenced := store.ExpectedPosition(r.exp); fenced {
			return batch, r
		}
		if size+r.commit.Size() > store.MaxCommitBytes || events+len(r.commit.Events) > store.MaxCommitEvents {
			return batch, r
		}
		batch = append(batch, r)
		events += len(r.commit.Events)
		size += r.commit.Size()
	}
	return batch, nil
}

func (l *Log) drainClosed() {
	for {
		select {
		case r := <-l.reqs:
			r.done <- appendResult{err: store.ErrClosed}
		default:
			return
		}
	}
}

// publish writes the batch as one message and answers every append in it.
func (l *Log) publish(batch []*appendReq) {
	// A commit id repeated inside one batch is appended once; the later
	// appends of it are answered as duplicates.
	commits := make([]store.Commit, 0, len(batch))
	repeated := make([]bool, len(batch))
	ids := make(map[string]bool, len(batch))
	for i, r := range batch {
		if ids[r.commit.ID] {
			repeated[i] = true
			continue
		}
		ids[r.commit.ID] = true
		commits = append(commits, r.commit)
	}
	msgID := commits[0].ID
	if len(commits) > 1 {
		// A group's id must never match another group: a retried commit may
		// lead a different group next time.
		msgID = "group:" + nuid.Next()
	}
	res, err := l.publishFrame(msgID, commits, batch[0].exp)
	for i, r := range batch {
		out := appendResult{res: res, err: err}
		if err == nil {
			out.res.Duplicate = res.Duplicate || repeated[i]
			l.remember(r.commit.ID, res.Position)
		}
		r.done <- out
	}
}

func (l *Log) publishFrame(msgID string, commits []store.Commit, exp store.Expected) (store.Appended, error) {
	msg := nats.NewMsg(subject(l.name))
	msg.Data = store.AppendFrame(nil, commits...)
	opts := []jetstream.PublishOpt{jetstream.WithMsgID(msgID)}
	want, fenced := store.ExpectedPosition(exp)
	if fenced {
		opts = append(opts, jetstream.WithExpectLastSequence(want))
	}
	var lastErr error
	for attempt := 0; attempt < publishAttempts; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		ack, err := l.s.js.PublishMsg(ctx, msg, opts...)
		cancel()
		// A retry that finds its own first attempt landed is this call's
		// write, not a duplicate of an earlier one.
		retried := attempt > 0
		switch {
		case err == nil:
			return store.Appended{Position: ack.Sequence, Duplicate: ack.Duplicate && !retried}, nil
		case isWrongLastSequence(err):
			// JetStream checks the expected sequence before its dedupe, so
			// a retry of a write that did land is refused here: look at what
			// stands right after the expected position.
			if pos, ok := l.landedAt(want+1, msgID); ok {
				return store.Appended{Position: pos, Duplicate: !retried}, nil
			}
			return store.Appended{}, fmt.Errorf("%w: log %s: expected %s", store.ErrWrongPosition, l.name, exp)
		case errors.Is(err, nats.ErrConnectionClosed):
			return store.Appended{}, store.ErrClosed
		}
		lastErr = err
		select {
		case <-l.quit:
			return store.Appended{}, store.ErrClosed
		case <-time.After(time.Duration(attempt+1) * 50 * time.Millisecond):
		}
	}
	return store.Appended{}, fmt.Errorf("%w: log %s: publish: %v", store.ErrUnavailable, l.name, lastErr)
}

// landedAt reports whether the message at pos carries msgID.
func (l *Log) landedAt(pos store.Position, msgID string) (store.Position, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	m, err := l.stream.GetMsg(ctx, pos)
	if err != nil || m.Header.Get(jetstream.MsgIDHeader) != msgID {
		return 0, false
	}
	return pos, true
}

// Head returns the stream's last sequence. Calls are serialized: the
// client's Stream.Info caches what it reads in the stream without a lock.
// A stream with sequences missing (refledger never deletes a message, so
// something outside it did: a file cut short, a purge, a message the
// server dropped when it rebuilt its index) is damage, and Head says so
// rather than name a head that reads would wait for forever.
func (l *Log) Head(ctx context.Context) (store.Position, error) {
	state, err := l.state(ctx, false)
	if err != nil {
		return 0, err
	}
	if d := l.damage(ctx, state); d != nil {
		return 0, d
	}
	return state.LastSeq, nil
}

func (l *Log) state(ctx context.Context, deleted bool) (jetstream.StreamState, error) {
	var opts []jetstream.StreamInfoOpt
	if deleted {
		opts = append(opts, jetstream.WithDeletedDetails(true))
	}
	l.infoMu.Lock()
	info, err := l.stream.Info(ctx, opts...)
	l.infoMu.Unlock()
	if err != nil {
		return jetstream.StreamState{}, fmt.Errorf("%w: log %s: stream info: %v", store.ErrUnavailable, l.name, err)
	}
	return info.State, nil
}

// damage reports the positions missing from a stream whose state is
// state: every sequence from 1 to the last must hold a message.
func (l *Log) damage(ctx context.Context, state jetstream.StreamState) *store.Damage {
	if state.LastSeq == 0 {
		return nil
	}
	missing := state.LastSeq - state.Msgs
	if state.Msgs > state.LastSeq {
		missing = 0
	}
	switch {
	case missing == 0 && state.FirstSeq == 1:
		return nil
	case state.Msgs == 0:
		return store.MissingPositions(l.name, 1, state.LastSeq) // purged
	case state.FirstSeq > 1:
		return store.MissingPositions(l.name, 1, missing)
	}
	// Which ones: ask for the details only now, as they cost a list.
	first := store.Position(0)
	if detailed, err := l.state(ctx, true); err == nil && len(detailed.Deleted) > 0 {
		first = slices.Min(detailed.Deleted)
	}
	if first == 0 {
		return &store.Damage{Log: l.name, Position: state.FirstSeq, Missing: missing,
			Problem: fmt.Sprintf("%d of its %d positions are missing", missing, state.LastSeq)}
	}
	d := store.MissingPositions(l.name, first, missing)
	if missing > 1 {
		d.Problem = fmt.Sprintf("%d positions are missing, the first at %d", missing, first)
	}
	return d
}

// Read delivers every commit from position from up to the head as it was
// when Read began.
func (l *Log) Read(ctx context.Context, from store.Position, fn func(store.Stored) error) error {
	head, err := l.Head(ctx)
	if from == 0 {
		from = 1
	}
	if d, damaged := store.AsDamage(err); damaged {
		// Deliver what stands before the damage, then report it.
		if d.Position > from {
			if err := l.consume(ctx, from, d.Position-1, fn); err != nil {
				return err
			}
		}
		return d
	}
	if err != nil {
		return err
	}
	if head < from {
		return nil
	}
	return l.consume(ctx, from, head, fn)
}

// Follow delivers every commit from position from on until ctx is done.
func (l *Log) Follow(ctx context.Context, from store.Position, fn func(store.Stored) error) error {
	if from == 0 {
		from = 1
	}
	return l.consume(ctx, from, 0, fn)
}

// consume reads from position from, up to and including until (0: until
// ctx is done), through an ephemeral pull consumer that acknowledges
// nothing. Each Fetch is one bounded request, so a reader may take as long
// as it likes between messages: nothing is redelivered or reset.
func (l *Log) consume(ctx context.Context, from, until store.Position, fn func(store.Stored) error) error {
	return readThroughStalls(from, func(from store.Position) (store.Position, error) {
		return l.consumeFrom(ctx, from, until, fn)
	})
}

// readThroughStalls calls read from position from and, while it stalls (a
// fetch that heard nothing, not even the server's heartbeats, for two
// heartbeats: a process stalled by its collector, a server busy loading
// large messages), again from where it got to: a stall is not a lost log.
// It gives up after consumeStallsMax stalls in a row that made no progress.
func readThroughStalls(from store.Position, read func(from store.Position) (next store.Position, err error)) error {
	for stalls := 0; ; {
		next, err := read(from)
		if !errors.Is(err, jetstream.ErrNoHeartbeat) {
			return err
		}
		if next > from {
			stalls = 0
		} else if stalls++; stalls >= consumeStallsMax {
			return err
		}
		from = next
	}
}

// consumeStallsMax bounds the heartbeat stalls in a row one read survives.
const consumeStallsMax = 3

// consumeFrom is one consumer's part of consume; next is the position it
// got to.
func (l *Log) consumeFrom(ctx context.Context, from, until store.Position, fn func(store.Stored) error) (next store.Position, err error) {
	next = from
	cons, err := l.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: consumerIdleMax,
		MemoryStorage:     true,
	})
	if err != nil {
		return next, fmt.Errorf("%w: log %s: consumer: %v", store.ErrUnavailable, l.name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		defer cancel()
		l.stream.DeleteConsumer(dctx, cons.CachedInfo().Name) //nolint:errcheck // it expires anyway
	}()
	for {
		batch, err := cons.Fetch(fetchMsgs, jetstream.FetchContext(ctx))
		// JetStream skips a sequence it no longer holds: the next
		// message read must be the next position, or the log has a hole.
		want := next
		if err != nil {
			if ctx.Err() != nil {
				return next, ctx.Err()
			}
			return next, fmt.Errorf("%w: log %s: fetch: %w", store.ErrUnavailable, l.name, err)
		}
		for msg := range batch.Messages() {
			pos, err := l.deliver(msg, want, fn)
			if err != nil {
				return next, err
			}
			next, want = pos+1, pos+1
			if until != 0 && pos >= until {
				return next, nil
			}
		}
		if ctx.Err() != nil {
			return next, ctx.Err()
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return next, fmt.Errorf("%w: log %s: fetch: %w", store.ErrUnavailable, l.name, err)
		}
	}
}

// deliver decodes one message's frame and hands its commits to fn. want
// is the position the message must be at.
func (l *Log) deliver(msg jetstream.Msg, want store.Position, fn func(store.Stored) error) (store.Position, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return 0, fmt.Errorf("%w: log %s: metadata: %v", store.ErrCorrupt, l.name, err)
	}
	pos := meta.Sequence.Stream
	if pos > want {
		return 0, store.MissingPositions(l.name, want, pos-want)
	}
	if err := store.DeliverFrame(l.name, pos, msg.Data(), fn); err != nil {
		return 0, err
	}
	return pos, nil
}
