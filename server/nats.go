package server

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
	"go.uber.org/zap"

	"github.com/refledger/refledger/events"
)

// Ingestion subjects on NATS.
const (
	IngestSubject = "refledger.ingest"
	ingestQueue_  = "refledger-ingest"
	// IngestBatchSubject takes many events in one request (a JSON array or
	// JSON lines, up to maxEventsPerCall events and maxBodyBytes), and
	// answers as POST /v1/events does a batch: the counts and a result per
	// event, by its index. An import beside the service sends its batches
	// here, so that they join the service's own group commits rather than
	// race them for the log's head.
	IngestBatchSubject = "refledger.ingest.batch"
)

const (
	// batchWorkers bounds the batch requests handled at once, and
	// batchPending those waiting (each up to maxBodyBytes).
	batchWorkers = 8
	batchPending = 16
)

// subscribe serves IngestSubject's requests: a request gets a reply once
// its event is durable (or a duplicate, or rejected). A plain publish is
// the intake's (intake.go).
func (s *Server) subscribe(ctx context.Context, nc *nats.Conn) (*nats.Subscription, error) {
	workers := make(chan struct{}, natsWorkers)
	sub, err := nc.QueueSubscribe(IngestSubject, ingestQueue_, func(m *nats.Msg) {
		workers <- struct{}{}
		s.natsWG.Add(1)
		go func() {
			defer func() { <-workers; s.natsWG.Done() }()
			s.handleNATS(ctx, m)
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", IngestSubject, err)
	}
	if err := sub.SetPendingLimits(ingestQueue, maxBodyBytes*4); err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", IngestSubject, err)
	}
	return sub, nil
}

func (s *Server) handleNATS(ctx context.Context, m *nats.Msg) {
	if !replyAllowed(m.Reply) {
		return // the intake stream has it, in order, as a plain publish
	}
	raw, unread := natsEvent(m.Header, m.Data)
	results, err := s.ingestRawAt(context.WithoutCancel(ctx), pathNATS, [][]byte{raw}, nil, []error{unread})
	var reply Result
	if err != nil {
		reply = Result{Status: "error", Error: &errorBody{Message: "the event could not be stored: " + err.Error()}}
	} else {
		reply = results[0]
	}
	b, _ := json.Marshal(reply)
	s.answered.add(raw)
	m.Respond(b) //nolint:errcheck // the requester may be gone; it retries
}

// natsEvent reads the event of a message on IngestSubject: its payload in
// structured mode, or, when its headers carry the event's attributes
// (ce-specversion, ce-id...: binary mode, as the CloudEvents NATS binding
// maps it onto NATS headers), the structured-mode object that the headers
// and the payload stand for. The request path and the intake read a
// message alike, so the intake knows the copy of an answered request.
// When the message cannot be read as an event, raw is its payload and
// unread says why.
func natsEvent(header nats.Header, data []byte) (raw []byte, unread error) {
	if len(header) == 0 || !events.IsBinary(header) {
		return data, nil
	}
	raw, err := events.FromBinary(header, data)
	if err != nil {
		return data, err
	}
	return raw, nil
}

// ServeNATSBatches subscribes IngestBatchSubject on nc. To stop, drain the
// subscription, then call WaitNATS before ending Run.
func (s *Server) ServeNATSBatches(ctx context.Context, nc *nats.Conn) (*nats.Subscription, error) {
	workers := make(chan struct{}, batchWorkers)
	sub, err := nc.QueueSubscribe(IngestBatchSubject, ingestQueue_, func(m *nats.Msg) {
		workers <- struct{}{}
		s.natsWG.Add(1)
		go func() {
			defer func() { <-workers; s.natsWG.Done() }()
			s.handleNATSBatch(ctx, m)
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", IngestBatchSubject, err)
	}
	if err := sub.SetPendingLimits(batchPending, batchPending*maxBodyBytes); err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", IngestBatchSubject, err)
	}
	return sub, nil
}

// BatchReply answers a request on IngestBatchSubject. Status is "error"
// (with Error) when the request was not taken (malformed, too large) or the
// events could not be stored: then no result is final, and the same events
// may be sent again.
type BatchReply struct {
	Status    string     `json:"status,omitempty"`
	Error     *errorBody `json:"error,omitempty"`
	Accepted  int        `json:"accepted"`
	Duplicate int        `json:"duplicate"`
	Rejected  int        `json:"rejected"`
	Results   []Result   `json:"results"`
}

func (s *Server) handleNATSBatch(ctx context.Context, m *nats.Msg) {
	if !replyAllowed(m.Reply) {
		// A batch is a request: without an inbox to answer, no one would
		// learn what became of it, so it is not taken, and that is kept.
		rej := Rejection{Time: s.cfg.now(), Subject: m.Subject, Payload: string(m.Data[:min(len(m.Data), 1024)]),
			Error: errorBody{Field: "reply", Message: fmt.Sprintf("a batch is taken only as a request with an inbox to answer (_INBOX.), not %q", m.Reply)}}
		if err := s.rejections.add(context.WithoutCancel(ctx), "batch:"+nuid.Next(), []Rejection{rej}); err != nil {
			s.cfg.Log.Error("record a refused batch", zap.Error(err))
		}
		return
	}
	reply := s.ingestBatch(ctx, m.Data)
	b, _ := json.Marshal(reply)
	m.Respond(b) //nolint:errcheck // the requester may be gone; it retries
}

func (s *Server) ingestBatch(ctx context.Context, body []byte) BatchReply {
	failed := func(format string, args ...any) BatchReply {
		return BatchReply{Status: "error", Error: &errorBody{Message: fmt.Sprintf(format, args...)}, Results: []Result{}}
	}
	if len(body) > maxBodyBytes {
		return failed("the batch is %d bytes, more than %d", len(body), maxBodyBytes)
	}
	raws, _, err := splitEvents(body)
	if err != nil {
		return failed("%s", err.Error())
	}
	if len(raws) > maxEventsPerCall {
		return failed("%d events in one batch, more than %d", len(raws), maxEventsPerCall)
	}
	results, err := s.ingestRaw(context.WithoutCancel(ctx), pathNATS, raws)
	if err != nil {
		return failed("the events could not be stored: %s", err.Error())
	}
	r := BatchReply{Results: results}
	for _, res := range results {
		switch res.Status {
		case "accepted":
			r.Accepted++
		case "duplicate":
			r.Duplicate++
		default:
			r.Rejected++
		}
	}
	return r
}
