package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/ingest"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/server"
)

// intake takes an import's decoded facts, a chunk at a time, and answers
// each in order.
type intake interface {
	submit(ctx context.Context, c *importChunk) ([]ingest.Outcome, error)
}

// localIntake appends to a fact log this process owns.
type localIntake struct{ in *ingest.Ingester }

func (l localIntake) submit(ctx context.Context, c *importChunk) ([]ingest.Outcome, error) {
	return l.in.Submit(ctx, c.facts)
}

const (
	// importRequestTimeout bounds one batch request to the service: a
	// batch is one of its group commits, milliseconds even when busy.
	importRequestTimeout = 30 * time.Second
	// importRequestAttempts bounds the tries of one batch, the same events
	// each time (the service's intake is idempotent per source and id).
	importRequestAttempts = 5
	// importRequestBytes bounds a request's body, as the service does.
	importRequestBytes = 4 << 20
)

// serviceIntake submits an import's facts through the service that owns
// the data folder, on server.IngestBatchSubject: they join its group
// commits beside its live traffic instead of racing them for the log's
// head, which fenced appends from here lose under any steady traffic.
//
// A request that times out is sent again with the same events. The
// service then answers "duplicate" for those the first try appended; the
// import counts such a duplicate as accepted when its position is past the
// log's head before the first try (so it landed during this request). An
// identical event that another publisher sent during that same request is
// counted so too: the two cannot be told apart, and it is in the log once.
type serviceIntake struct {
	nc    *nats.Conn
	facts store.Log // for its head before a request
	owner ownerInfo
}

func newServiceIntake(owner ownerInfo, facts store.Log) (*serviceIntake, error) {
	nc, err := nats.Connect(owner.NATSURL, nats.Name("refledger import"), nats.Token(owner.NATSToken))
	if err != nil {
		return nil, fmt.Errorf("import through %s at %s: %w", owner, owner.NATSURL, err)
	}
	return &serviceIntake{nc: nc, facts: facts, owner: owner}, nil
}

func (s *serviceIntake) close() { s.nc.Close() }

func (s *serviceIntake) submit(ctx context.Context, c *importChunk) ([]ingest.Outcome, error) {
	limit := min(int64(importRequestBytes), s.nc.MaxPayload())
	outcomes := make([]ingest.Outcome, 0, len(c.facts))
	for start := 0; start < len(c.facts); {
		body, n := batchBody(c.factRaw[start:], limit)
		part, err := s.request(ctx, body, c.facts[start:start+n])
		if err != nil {
			return nil, fmt.Errorf("import lines %d to %d: %w", c.factLines[start], c.factLines[start+n-1], err)
		}
		outcomes = append(outcomes, part...)
		start += n
	}
	return outcomes, nil
}

// batchBody is a JSON array of the first lines that fit in limit bytes
// (at least one: a line is at most events.MaxEventBytes), and how many.
func batchBody(lines [][]byte, limit int64) ([]byte, int) {
	var b bytes.Buffer
	b.WriteByte('[')
	n := 0
	for _, line := range lines {
		if n > 0 && int64(b.Len()+len(line)+2) > limit {
			break
		}
		if n > 0 {
			b.WriteByte(',')
		}
		b.Write(line)
		n++
	}
	b.WriteByte(']')
	return b.Bytes(), n
}

// request sends one batch, trying again on a timeout or a failure of the
// service's store, and turns its answer into outcomes.
func (s *serviceIntake) request(ctx context.Context, body []byte, facts []events.Fact) ([]ingest.Outcome, error) {
	head, err := s.facts.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("the fact log's head before a batch: %w", err)
	}
	var last error
	for attempt := 1; attempt <= importRequestAttempts; attempt++ {
		if attempt > 1 {
			if err := sleepCtx(ctx, time.Duration(attempt-1)*200*time.Millisecond); err != nil {
				return nil, err
			}
		}
		reply, err := s.send(ctx, body)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			last = err
			continue
		}
		if len(reply.Results) != len(facts) {
			return nil, fmt.Errorf("%s answered %d results for %d events", s.owner, len(reply.Results), len(facts))
		}
		return outcomesOf(reply, facts, head, attempt > 1), nil
	}
	return nil, fmt.Errorf("%s did not take a batch in %d tries of up to %s: %w (the import is idempotent: run it again)", s.owner, importRequestAttempts, importRequestTimeout, last)
}

// send is one request; an error is worth trying again.
func (s *serviceIntake) send(ctx context.Context, body []byte) (*server.BatchReply, error) {
	rctx, cancel := context.WithTimeout(ctx, importRequestTimeout)
	defer cancel()
	m, err := s.nc.RequestWithContext(rctx, server.IngestBatchSubject, body)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, fmt.Errorf("no one serves %s (is the service stopping?): %w", server.IngestBatchSubject, err)
		}
		return nil, fmt.Errorf("request %s: %w", server.IngestBatchSubject, err)
	}
	var reply server.BatchReply
	if err := json.Unmarshal(m.Data, &reply); err != nil {
		return nil, fmt.Errorf("the answer on %s: %w", server.IngestBatchSubject, err)
	}
	if reply.Error != nil {
		return nil, fmt.Errorf("%s: %s", server.IngestBatchSubject, reply.Error.Message)
	}
	return &reply, nil
}

// outcomesOf turns the service's results into outcomes. On a retry, a
// duplicate past head that no earlier fact of the batch explains was
// appended by an earlier try of this request: it is accepted.
func outcomesOf(reply *server.BatchReply, facts []events.Fact, head store.Position, retried bool) []ingest.Outcome {
	out := make([]ingest.Outcome, len(facts))
	var keys map[string]bool
	if retried {
		keys = make(map[string]bool, len(facts))
	}
	for _, r := range reply.Results {
		i := r.Index
		o := ingest.Outcome{Status: ingest.Status(r.Status), Position: store.Position(r.Position)}
		switch {
		case o.Status == ingest.Rejected && r.Error != nil && r.Error.Field != "" && r.Error.Field != "id":
			o.Err = &events.FieldError{Field: r.Error.Field, Rule: r.Error.Message}
		case o.Status == ingest.Rejected && r.Error != nil:
			o.Err = errors.New(r.Error.Message)
		case o.Status == ingest.Rejected:
			o.Err = errors.New("rejected by the service")
		}
		out[i] = o
	}
	if retried {
		for i, f := range facts {
			key := f.Key()
			if out[i].Status == ingest.Duplicate && out[i].Position > head && !keys[key] {
				out[i].Status = ingest.Accepted
			}
			keys[key] = true
		}
	}
	return out
}
