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
		MaxMsgSize:  int32(events.MaxEventBytes),
		Replicas:    replicas,
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
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		s.takeIntake(ctx, cons)
	}()
	return finished, nil
}

// takeIntake fetches batches in order and appends each before the next.
func (s *Server) takeIntake(ctx context.Context, cons jetstream.Consumer) {
	failing := false
	for ctx.Err() == nil {
		// A fetch that does not wait leaves no pull request open on the
		// server when the service stops: its messages would go to no one
		// and come back only after AckWait.
		batch, err := cons.FetchNoWait(ingest.MaxBatch)
		if err != nil {
			s.health.set(problemIntake, fmt.Errorf("fetch from the intake stream: %w", err))
			failing = true
			sleep(ctx, intakeRetry)
			continue
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) == 0 {
			sleep(ctx, intakeIdle)
			continue
		}
		// The batch is appended whatever ctx says: a stop waits for it.
		for {
			err := s.takeIntakeBatch(context.WithoutCancel(ctx), msgs)
			if err == nil {
				break
			}
			s.health.set(problemIntake, err)
			failing = true
			if !sleep(ctx, intakeRetry) {
				return // not acknowledged: redelivered after a restart
			}
		}
		if failing {
			s.health.clear(problemIntake)
			failing = false
		}
	}
}

// takeIntakeBatch appends one batch of intake messages, records those
// rejected, and acknowledges them all.
func (s *Server) takeIntakeBatch(ctx context.Context, msgs []jetstream.Msg) error {
	raws := make([][]byte, len(msgs))
	for i, m := range msgs {
		raws[i] = m.Data()
	}
	results, err := s.ingestRaw(ctx, "", raws)
	if err != nil {
		return fmt.Errorf("intake: append to the fact log: %w", err)
	}
	var rejs []Rejection
	for i, r := range results {
		if r.Error == nil || r.Status != string(ingest.Rejected) {
			continue
		}
		rej := Rejection{Time: s.cfg.now(), Subject: msgs[i].Subject(), Error: *r.Error, Payload: string(raws[i][:min(len(raws[i]), 1024)])}
		var env events.Envelope
		if json.Unmarshal(raws[i], &env) == nil {
			rej.ID, rej.Source = env.ID, env.Source
		}
		if meta, err := msgs[i].Metadata(); err == nil {
			rej.IntakeSequence = meta.Sequence.Stream
		}
		rejs = append(rejs, rej)
	}
	for _, r := range results {
		// A duplicate is most often a request's copy, counted when it
		// was answered.
		if r.Status != string(ingest.Duplicate) {
			s.metrics.countIngest(pathIntake, r.Status)
		}
	}
	// The batch's first sequence names its rejections' commits, so that a
	// retry of the batch records them once.
	first, err := msgs[0].Metadata()
	if err != nil {
		return fmt.Errorf("intake: %w", err)
	}
	id := fmt.Sprintf("intake:%d", first.Sequence.Stream)
	if err := s.rejections.add(ctx, id, rejs); err != nil {
		return err
	}
	// Each is acknowledged; the last waits for the server's word, which
	// comes after those before it (one connection keeps their order).
	for _, m := range msgs[:len(msgs)-1] {
		if err := m.Ack(); err != nil {
			return fmt.Errorf("intake: acknowledge: %w", err)
		}
	}
	if err := msgs[len(msgs)-1].DoubleAck(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("intake: acknowledge: %w", err)
	}
	return nil
}
