package ingest

import (
	"context"
	"errors"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"
)

// maxInFlight bounds the commits sent and not yet acknowledged: two keep
// the log writing one while the next is decided and sent.
const maxInFlight = 2

// Sent is a submission whose commit may be in flight; Finish answers it.
type Sent struct {
	facts    []events.Fact
	outcomes []Outcome
	commit   store.Commit
	eventOf  []int
	keys     map[string]bool // the keys the commit carries
	at       store.Position  // where the commit is to land
	sending  *store.Sending  // nil when there is nothing to append
}

var finished = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Done is closed once Finish will not wait.
func (s *Sent) Done() <-chan struct{} {
	if s.sending == nil {
		return finished
	}
	return s.sending.Done()
}

// Send decides facts as Submit does and, on a log that pipelines
// (store.Pipeline), sends their commit without waiting for the commits in
// flight, fenced right behind the last of them: the log writes one while
// the next is decided. Finish every Sent, in the order sent. Send returns
// nil when the facts cannot go ahead: the log does not pipeline, enough
// commits are in flight, or a fact repeats a key in flight (its outcome
// would be that commit's). Then Finish what is in flight, and Send again
// or Submit.
func (in *Ingester) Send(facts []events.Fact) *Sent {
	p, ok := in.log.(store.Pipeline)
	if !ok || len(in.inflight) >= maxInFlight || len(facts) > MaxBatch {
		return nil
	}
	for _, f := range facts {
		key := f.Key()
		for _, s := range in.inflight {
			if s.keys[key] {
				return nil
			}
		}
	}
	outcomes, commit, eventOf := in.decide(facts)
	s := &Sent{facts: facts, outcomes: outcomes, commit: commit, eventOf: eventOf}
	if len(commit.Events) == 0 {
		return s
	}
	after, afterID := in.head+store.Position(len(in.inflight)), ""
	if n := len(in.inflight); n > 0 {
		afterID = in.inflight[n-1].commit.ID
	}
	s.keys = make(map[string]bool, len(commit.Events))
	for _, e := range commit.Events {
		s.keys[e.ID] = true
	}
	s.at = after + 1
	s.sending = p.Send(commit, after, afterID)
	in.inflight = append(in.inflight, s)
	return s
}

// errFinishOrder: Finish was given a Sent that is not the oldest in flight.
var errFinishOrder = errors.New("ingest: sends must be finished in the order they were sent")

// Finish waits until the sent commit is durable and answers its facts, as
// Submit does. A commit that did not land where it was decided (another
// writer moved the log, the send failed, or it landed before: its
// acknowledgement was lost) is submitted again: the log is read again and
// the facts decided anew. The commits sent after it were fenced behind it,
// so none of them lands where it was not decided either.
func (in *Ingester) Finish(ctx context.Context, s *Sent) ([]Outcome, error) {
	if s.sending == nil {
		return s.outcomes, nil
	}
	if len(in.inflight) == 0 || in.inflight[0] != s {
		return nil, errFinishOrder
	}
	res, err := s.sending.Result()
	in.inflight = in.inflight[1:]
	if err != nil || res.Duplicate || res.Position != s.at {
		return in.Submit(ctx, s.facts)
	}
	in.landed(s.commit, s.outcomes, s.eventOf, res.Position)
	return s.outcomes, nil
}
