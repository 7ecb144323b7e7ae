package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/ingest"
)

// The intake: every message published on IngestSubject is also kept, in
// the order the NATS server received it, in the stream IntakeStream, and
// the service takes the stream's messages in that order, a batch at a
// time, removing each once it is appended (or recorded as rejected). A
// plain publish (no reply subject) is taken only this way: nothing is
// dropped when the service is slow or stopped (the stream holds it), and
// one publisher's messages are appended in the order it sent them. A
// request is answered by the core subscription as before (fast, one at a
// time); its copy in the stream is then a duplicate, which changes
// nothing.
const (
	IntakeStream   = "REFLEDGER_INTAKE"
	intakeConsumer = "refledger-intake"
	// intakeMsgsMax and intakeBytesMax bound the stream: past them new
	// publishes are refused by the server (a publisher that needs to know
	// uses a request). The server also buffers at most 100,000 messages
	// (128 MiB) that it has not stored yet, and drops beyond that, with a
	// warning in its log: plain publishing faster than about 4,000
	// messages a second (each is fsynced) for half a minute gets there.
	intakeMsgsMax  = 1_000_000
	intakeBytesMax = 1 << 30
	// intakeIdle spaces the looks at an empty intake; intakeRetry spaces
	// attempts after the fact log could not be written (the messages stay
	// in the stream).
	intakeIdle  = 20 * time.Millisecond
	intakeRetry = time.Second
)

// serveIntake creates the intake stream and its consumer when needed and
// takes its messages until ctx is done. It returns once the batch in hand
// is appended and acknowledged.
func (s *Server) serveIntake(ctx context.Context, nc *nats.Conn) (done <-chan struct{}, err error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("intake: %w", err)
	}
	open := func(ctx context.Context) (jetstream.Consumer, error) { return s.openIntake(ctx, js) }
	cons, err := open(ctx)
	if err != nil {
		return nil, err
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		s.takeIntake(ctx, cons, open)
	}()
	return finished, nil
}

// openIntake creates (or updates) the intake stream and its consumer.
func (s *Server) openIntake(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	replicas := max(s.cfg.IntakeReplicas, 1)
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        IntakeStream,
		Description: "refledger: events published on " + IngestSubject + ", in the order received, until the service has appended them",
		Subjects:    []string{IngestSubject},
		NoAck:       true, // the service answers requests; the stream keeps quiet
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     intakeMsgsMax,
		MaxBytes:    intakeBytesMax,
		// Up to the server's largest message: an event too large is taken
		// and rejected with a record, not refused by the stream unseen.
		MaxMsgSize: -1,
		Replicas:   replicas,
		// Events wait here for the service: a purge or a delete would drop
		// them unseen. The work queue still removes those acknowledged
		// (the denials bind only the API).
		DenyPurge:  true,
		DenyDelete: true,
	})
	if err != nil {
		return nil, fmt.Errorf("intake stream %s: %w", IntakeStream, err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       intakeConsumer,
		Description:   "refledger takes the intake in order",
		AckPolicy:     jetstream.AckExplicitPolicy, // a work queue removes each once acknowledged
		MaxAckPending: ingest.MaxBatch,
		AckWait:       30 * time.Second, // then a batch taken but not acknowledged comes again
		Replicas:      replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("intake consumer: %w", err)
	}
	return cons, nil
}

// takeIntake fetches batches in order and appends each before the next.
// A fetch that fails, an append that fails, an acknowledgement that fails:
// each is a readiness problem, logged once, and retried; a stream or
// consumer gone is made again.
func (s *Server) takeIntake(ctx context.Context, cons jetstream.Consumer, open func(context.Context) (jetstream.Consumer, error)) {
	failing := false
	fail := func(err error) {
		s.health.set(problemIntake, err)
		failing = true
	}
	for ctx.Err() == nil {
		msgs, err := fetchIntake(cons)
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
			if again, oerr := open(ctx); oerr == nil {
				cons = again
				continue
			}
		}
		if err != nil {
			fail(fmt.Errorf("fetch from the intake stream: %w", err))
			sleep(ctx, intakeRetry)
			continue
		}
		if len(msgs) == 0 {
			sleep(ctx, intakeIdle)
			continue
		}
		// The batch is appended whatever ctx says: a stop waits for it.
		for {
			err := s.appendIntake(context.WithoutCancel(ctx), msgs)
			if err == nil {
				break
			}
			fail(err)
			if !sleep(ctx, intakeRetry) {
				return // not acknowledged: redelivered after a restart
			}
		}
		if err := ackIntake(ctx, msgs); err != nil {
			// Appended all the same: unacknowledged, the batch comes back
			// after AckWait, and is then a run of duplicates.
			fail(err)
			continue
		}
		if failing {
			s.health.clear(problemIntake)
			failing = false
		}
	}
}

// fetchIntake takes what the intake holds, up to a batch, without
// waiting: a pull request left open when the service stops would take
// messages to no one, and they would come back only after AckWait.
func fetchIntake(cons jetstream.Consumer) ([]jetstream.Msg, error) {
	batch, err := cons.FetchNoWait(ingest.MaxBatch)
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
		return msgs, err
	}
	return msgs, nil
}

// ackIntake acknowledges a batch: each message, the last one waiting for
// the server's word, which comes after those before it (one connection
// keeps their order). One acknowledged already (a retry) is no error.
func ackIntake(ctx context.Context, msgs []jetstream.Msg) error {
	for _, m := range msgs[:len(msgs)-1] {
		if err := m.Ack(); err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			return fmt.Errorf("intake: acknowledge: %w", err)
		}
	}
	err := msgs[len(msgs)-1].DoubleAck(ctx)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		return fmt.Errorf("intake: acknowledge: %w", err)
	}
	return nil
}

// appendIntake appends one batch of intake messages, and records those
// rejected. A message is judged as of when the stream received it (its
// time against --max-future), not when the service got to it. The copy of
// a request the core subscription answered is appended (a duplicate by
// then) but neither counted again nor recorded: its requester had its
// answer.
func (s *Server) appendIntake(ctx context.Context, msgs []jetstream.Msg) error {
	raws := make([][]byte, len(msgs))
	unread := make([]error, len(msgs))
	arrived := make([]time.Time, len(msgs))
	for i, m := range msgs {
		raws[i], unread[i] = natsEvent(m.Headers(), m.Data())
		if meta, err := m.Metadata(); err == nil {
			arrived[i] = meta.Timestamp
		}
	}
	results, err := s.ingestRawAt(ctx, "", raws, arrived, unread)
	if err != nil {
		return fmt.Errorf("intake: append to the fact log: %w", err)
	}
	var rejs []Rejection
	for i, r := range results {
		if s.answered.take(raws[i]) {
			continue
		}
		s.metrics.countIngest(pathIntake, r.Status)
		if r.Error == nil || r.Status != string(ingest.Rejected) {
			continue
		}
		rej := Rejection{Time: s.cfg.now(), Subject: msgs[i].Subject(), Error: *r.Error, Payload: string(raws[i][:min(len(raws[i]), 1024)])}
		var env events.Envelope
		if json.Unmarshal(raws[i], &env) == nil {
			rej.ID, rej.Source = env.ID, env.Source
		}
		if h := msgs[i].Headers(); unread[i] != nil && h != nil {
			rej.ID, rej.Source = h.Get("ce-id"), h.Get("ce-source") // as the SDKs write them
		}
		if meta, err := msgs[i].Metadata(); err == nil {
			rej.IntakeSequence = meta.Sequence.Stream
		}
		rejs = append(rejs, rej)
	}
	// The batch's first sequence names its rejections' commits, so that a
	// retry of the batch records them once.
	first, err := msgs[0].Metadata()
	if err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	return s.rejections.add(ctx, fmt.Sprintf("intake:%d", first.Sequence.Stream), rejs)
}
