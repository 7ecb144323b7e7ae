package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/ingest"
	"github.com/refledger/refledger/events/store"
)

// Result answers one submitted event, on NATS and over HTTP.
type Result struct {
	Index  int    `json:"index"`
	Status string `json:"status"`
	// Code is the HTTP status this event alone would have been answered
	// with: 201 accepted, 200 duplicate, 400 malformed, 409 conflict.
	Code     int        `json:"code,omitempty"`
	Position uint64     `json:"position,omitempty"`
	Error    *errorBody `json:"error,omitempty"`
	// Ledger is what the ledger made of a payout stored by POST
	// /v1/payouts, which waits for it a little.
	Ledger *LedgerOutcome `json:"ledger,omitempty"`
}

// LedgerOutcome is what the ledger made of a stored fact: "paid" or
// "refused" (with the reason) for a payout, or "pending" when the ledger
// had not decided it within payoutWait (it will: GET /v1/refusals).
type LedgerOutcome struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// payoutWait bounds how long POST /v1/payouts waits for the ledger to
// decide the payout it stored.
const payoutWait = 2 * time.Second

// Rejection is a rejected event that no one was waiting for (a plain NATS
// publish): it is kept so that nothing is dropped silently.
type Rejection struct {
	Time    time.Time `json:"time"`
	Subject string    `json:"subject"`
	ID      string    `json:"id,omitempty"`
	Source  string    `json:"source,omitempty"`
	Error   errorBody `json:"error"`
	Payload string    `json:"payload"`
	// IntakeSequence is the message's place in the intake stream.
	IntakeSequence uint64 `json:"intake_sequence,omitempty"`
}

// ingestRaw decodes and submits raw events, answering each in order, and
// counts their outcomes in the metrics under path; the intake passes ""
// and counts its own (see takeIntakeBatch). A fact stamped more than
// Config.MaxFuture after it arrived is rejected as invalid.
func (s *Server) ingestRaw(ctx context.Context, path string, raws [][]byte) ([]Result, error) {
	return s.ingestRawAt(ctx, path, raws, nil, nil)
}

// ingestRawAt is ingestRaw for events that arrived at the times given, one
// each (nil or a zero time: now). unread holds, by index, the error of a
// message that could not be read as an event at all (a binary-mode
// message without its ce-id, say): it is rejected with that error, like
// an event Decode rejects.
func (s *Server) ingestRawAt(ctx context.Context, path string, raws [][]byte, arrivals []time.Time, unread []error) ([]Result, error) {
	results := make([]Result, len(raws))
	var facts []events.Fact
	var at []int
	now, maxFuture := s.cfg.now(), s.cfg.maxFuture()
	for i, raw := range raws {
		results[i].Index = i
		arrived := now
		if i < len(arrivals) && !arrivals[i].IsZero() {
			arrived = arrivals[i]
		}
		var f events.Fact
		var err error
		if i < len(unread) && unread[i] != nil {
			err = unread[i]
		} else {
			f, err = events.Decode(raw)
		}
		if err == nil {
			err = events.CheckArrival(f, arrived, maxFuture)
		}
		if err != nil {
			results[i].Status, results[i].Code = string(ingest.Rejected), http.StatusBadRequest
			results[i].Error = fieldError(err)
			continue
		}
		facts = append(facts, f)
		at = append(at, i)
	}
	facts, at = appendOrder(facts, at)
	for start := 0; start < len(facts); start += ingest.MaxBatch {
		end := min(start+ingest.MaxBatch, len(facts))
		outcomes, err := s.batch.submit(ctx, facts[start:end])
		if err != nil {
			return nil, err
		}
		for j, o := range outcomes {
			r := &results[at[start+j]]
			r.Status, r.Position = string(o.Status), o.Position
			switch {
			case errors.Is(o.Err, ingest.ErrConflict):
				r.Code, r.Error = http.StatusConflict, &errorBody{Field: "id", Message: o.Err.Error()}
			case o.Err != nil:
				r.Code, r.Error = http.StatusBadRequest, &errorBody{Field: "id", Message: o.Err.Error()}
			case o.Status == ingest.Accepted:
				r.Code = http.StatusCreated
			default:
				r.Code = http.StatusOK // a duplicate: already stored
			}
		}
	}
	if path != "" {
		for _, r := range results {
			s.metrics.countIngest(path, r.Status)
		}
	}
	return results, nil
}

// appendOrder puts a batch's valid facts in events.AppendOrder, as an
// import does a file's, with their indexes in the batch: a click a
// publisher lists after an order it came before is appended first.
func appendOrder(facts []events.Fact, at []int) ([]events.Fact, []int) {
	if len(facts) < 2 {
		return facts, at // one event (every NATS message, a payout) has no order to keep
	}
	items := make([]events.Placed, len(facts))
	for i, f := range facts {
		items[i] = events.Placed{Key: f.Key(), Type: f.Type, Time: f.Time.UnixNano()}
	}
	order := events.AppendOrder(items)
	if order == nil {
		return facts, at
	}
	orderedFacts, orderedAt := make([]events.Fact, len(facts)), make([]int, len(at))
	for i, j := range order {
		orderedFacts[i], orderedAt[i] = facts[j], at[j]
	}
	return orderedFacts, orderedAt
}

func fieldError(err error) *errorBody {
	if fe := events.FirstField(err); fe != nil {
		return &errorBody{Field: fe.Field, Message: fe.Rule}
	}
	return &errorBody{Message: err.Error()}
}

// postEvents takes one event, a JSON array of events, or JSON lines; in
// CloudEvents terms, an event in structured mode
// (application/cloudevents+json, or as before any other content type), a
// batch (application/cloudevents-batch+json: a JSON array), or one event
// in binary mode (ce- headers, the data in the body).
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "(body)", "the body is larger than %d bytes", maxBodyBytes)
		return
	}
	if events.IsBinary(r.Header) {
		s.postBinary(w, r, body)
		return
	}
	if status, err := checkEventsBody(r.Header.Get("Content-Type"), body); err != nil {
		writeError(w, status, "(body)", "%s", err.Error())
		return
	}
	raws, single, err := splitEvents(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "(body)", "%s", err.Error())
		return
	}
	if len(raws) > maxEventsPerCall {
		writeError(w, http.StatusRequestEntityTooLarge, "(body)", "%d events in one call, more than %d", len(raws), maxEventsPerCall)
		return
	}
	results, err := s.ingestRaw(r.Context(), pathHTTP, raws)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "", "the events could not be stored: %v", err)
		return
	}
	if single {
		writeSingle(w, results[0])
		return
	}
	counts := map[string]int{"accepted": 0, "duplicate": 0, "rejected": 0}
	for _, res := range results {
		counts[res.Status]++
	}
	writeJSON(w, batchStatus(results), map[string]any{
		"accepted": counts["accepted"], "duplicate": counts["duplicate"], "rejected": counts["rejected"], "results": results,
	})
}

// postBinary takes one event in binary content mode: its attributes in ce-
// headers, its data in the body. It is read into the structured-mode
// object it stands for, so it is keyed and digested as that would be.
func (s *Server) postBinary(w http.ResponseWriter, r *http.Request, body []byte) {
	raw, unread := events.FromBinary(r.Header, body)
	results, err := s.ingestRawAt(r.Context(), pathHTTP, [][]byte{raw}, nil, []error{unread})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "", "the event could not be stored: %v", err)
		return
	}
	writeSingle(w, results[0])
}

// checkEventsBody refuses a body its content type does not fit: a
// CloudEvents batch that is not a JSON array, a CloudEvents format other
// than JSON. Any other content type is read as before (an object, an
// array or JSON lines), whatever it says.
func checkEventsBody(contentType string, body []byte) (int, error) {
	if contentType == "" || !events.IsCloudEventsMediaType(contentType) {
		return 0, nil
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case events.MediaTypeStructured:
		return 0, nil
	case events.MediaTypeBatch:
		if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '[' {
			return http.StatusBadRequest, fmt.Errorf("a %s body is a JSON array of events", events.MediaTypeBatch)
		}
		return 0, nil
	}
	return http.StatusUnsupportedMediaType, fmt.Errorf("the content type %q is not taken: CloudEvents come as JSON (%s, %s, or binary mode with ce- headers)",
		contentType, events.MediaTypeStructured, events.MediaTypeBatch)
}

// writeSingle answers one event with its own code: 201 accepted, 200
// duplicate, 400 malformed (a missing or over-long id included), 409 only
// for a conflict.
func writeSingle(w http.ResponseWriter, res Result) {
	writeJSON(w, res.Code, res)
}

// batchStatus is a batch's answer, each event carrying its own code: 200
// when any event was stored (accepted or a duplicate), otherwise 409 when
// every rejection is a conflict, and 400 when one is malformed.
func batchStatus(results []Result) int {
	if len(results) == 0 {
		return http.StatusOK // an empty array: nothing to store
	}
	status := http.StatusConflict
	for _, r := range results {
		switch r.Code {
		case http.StatusOK, http.StatusCreated:
			return http.StatusOK
		case http.StatusBadRequest:
			status = http.StatusBadRequest
		}
	}
	return status
}

// splitEvents reads a body as a JSON array, one JSON object, or JSON lines
// (one object a line: a malformed line is rejected alone).
func splitEvents(body []byte) ([][]byte, bool, error) {
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return nil, false, errors.New("the body is empty: send an event, an array of events, or JSON lines")
	case trimmed[0] == '[':
		var raws []json.RawMessage
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, false, errors.New("the body starts as a JSON array but is not one: " + err.Error())
		}
		out := make([][]byte, len(raws))
		for i, raw := range raws {
			out[i] = raw
		}
		return out, false, nil
	case json.Valid(trimmed):
		return [][]byte{trimmed}, true, nil
	}
	var out [][]byte
	for _, line := range bytes.Split(trimmed, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			out = append(out, line)
		}
	}
	return out, false, nil
}

// postFact turns a JSON body holding an event's data into a fact of typ,
// with the caller's Idempotency-Key as its id (or a new one), and ingests it
// like any other event.
func (s *Server) postFact(typ string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, events.MaxEventBytes))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "(body)", "the body is larger than %d bytes", events.MaxEventBytes)
			return
		}
		key := r.Header.Get("Idempotency-Key")
		id := key
		if id == "" {
			id = "api-" + randomHex(12)
		}
		submit := func(at time.Time) (*Result, error) {
			env, _ := json.Marshal(events.Envelope{
				SpecVersion: events.SpecVersion, ID: id, Source: apiSource, Type: typ,
				Time: at.Format(time.RFC3339Nano), DataContentType: "application/json", Data: body,
			})
			results, err := s.ingestRaw(r.Context(), pathHTTP, [][]byte{env})
			if err != nil {
				return nil, err
			}
			return &results[0], nil
		}
		res, err := submit(s.cfg.now())
		if err == nil && key != "" && res.Code == http.StatusConflict && res.Position > 0 {
			// The service stamps the event with its own clock, so a retry
			// differs from the first in its time alone: with the first's
			// time, the same body is a duplicate, another body a conflict.
			if first, ok := s.factTime(r.Context(), store.Position(res.Position), apiSource, id); ok {
				res, err = submit(first)
			}
		}
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "", "the event could not be stored: %v", err)
			return
		}
		if typ == events.TypePayoutRecorded && res.Error == nil {
			res.Ledger = s.payoutOutcome(r.Context(), apiSource+"/"+id, store.Position(res.Position))
		}
		writeSingle(w, *res)
	}
}

// apiSource is the source of the events the API makes from a body.
const apiSource = "refledger/api"

// factTime reads the time of the fact source/id stored at position (in
// any of the commits group committed there).
func (s *Server) factTime(ctx context.Context, position store.Position, source, id string) (time.Time, bool) {
	var at time.Time
	found := errors.New("found")
	err := s.facts.Read(ctx, position, func(st store.Stored) error {
		if st.Position != position {
			return found // past it: not there
		}
		for _, e := range st.Commit.Events {
			if e.ID != source+"\x00"+id {
				continue
			}
			f, err := events.DecodeStored(e.Type, e.Data)
			if err != nil {
				return err
			}
			at = f.Time
			return found
		}
		return nil
	})
	return at, errors.Is(err, found) && !at.IsZero()
}

// payoutOutcome waits, up to payoutWait, for the live ledger to decide the
// payout stored as fact at position, and says what it made of it.
func (s *Server) payoutOutcome(ctx context.Context, fact string, position store.Position) *LedgerOutcome {
	ctx, cancel := context.WithTimeout(ctx, payoutWait)
	defer cancel()
	for view := s.live.ledgerView(); !view.Covers(position); view = s.live.ledgerView() {
		select {
		case <-ctx.Done():
			return &LedgerOutcome{Outcome: "pending"}
		case <-time.After(2 * time.Millisecond):
		}
	}
	if r, refused := s.live.ledgerView().RefusalOf(fact); refused {
		return &LedgerOutcome{Outcome: "refused", Reason: r.Reason}
	}
	return &LedgerOutcome{Outcome: "paid"}
}

func (s *Server) getRejections(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"rejections": s.rejections.list()})
}
