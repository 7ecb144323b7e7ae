package server

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/refledger/refledger/events"
)

// Ingestion subjects on NATS.
const (
	IngestSubject = "refledger.ingest"
	ingestQueue_  = "refledger-ingest"
)

// subscribe serves IngestSubject: a request gets a reply once its event is
// durable (or a duplicate, or rejected); a plain publish that is rejected is
// kept for GET /v1/rejections.
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
	results, err := s.ingestRaw(context.WithoutCancel(ctx), [][]byte{m.Data})
	var reply Result
	if err != nil {
		reply = Result{Status: "error", Error: &errorBody{Message: "the event could not be stored: " + err.Error()}}
	} else {
		reply = results[0]
	}
	if m.Reply != "" {
		b, _ := json.Marshal(reply)
		m.Respond(b) //nolint:errcheck // the requester may be gone; it retries
		return
	}
	if reply.Error != nil {
		rej := Rejection{Time: s.cfg.now(), Subject: m.Subject, Error: *reply.Error, Payload: string(m.Data[:min(len(m.Data), 1024)])}
		var env events.Envelope
		if json.Unmarshal(m.Data, &env) == nil {
			rej.ID, rej.Source = env.ID, env.Source
		}
		s.keepRejection(rej)
	}
}
