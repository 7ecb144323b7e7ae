package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/refledger/refledger/events/store"
)

// TypeIntakeRejected is the type of a record of the rejections log.
const TypeIntakeRejected = "intake.rejected"

// rejectionsPerCommit bounds the rejections of one commit.
const rejectionsPerCommit = 250

// rejectionLog keeps the events of plain publishes that were not
// appended, each with its reason: in a log of their own, so that they
// survive a restart and nothing is dropped silently, and the latest
// rejectionsKept in memory for GET /v1/rejections.
type rejectionLog struct {
	log store.Log // nil: memory only

	mu     sync.Mutex
	latest []Rejection // oldest first, at most rejectionsKept
}

// load reads the latest rejections back from the log.
func (r *rejectionLog) load(ctx context.Context) error {
	if r.log == nil {
		return nil
	}
	head, err := r.log.Head(ctx)
	if err != nil || head == 0 {
		return err
	}
	from := store.Position(1)
	if head > rejectionsKept {
		from = head - rejectionsKept + 1 // a commit holds one or more
	}
	return r.log.Read(ctx, from, func(s store.Stored) error {
		for _, e := range s.Commit.Events {
			var rej Rejection
			if err := json.Unmarshal(e.Data, &rej); err != nil {
				return fmt.Errorf("rejections log at %d: %w", s.Position, err)
			}
			r.keep(rej)
		}
		return nil
	})
}

// add records rejections durably, as one commit whose id is id (the same
// id again, a retry, is appended once).
func (r *rejectionLog) add(ctx context.Context, id string, rejs []Rejection) error {
	if len(rejs) == 0 {
		return nil
	}
	// A rejection holds at most about 1.5 KiB (its payload is cut at
	// 1 KiB): rejectionsPerCommit of them stay under a commit's bound.
	for start := 0; r.log != nil && start < len(rejs); start += rejectionsPerCommit {
		part := rejs[start:min(start+rejectionsPerCommit, len(rejs))]
		c := store.Commit{ID: fmt.Sprintf("%s:%d", id, start)}
		for i, rej := range part {
			b, _ := json.Marshal(rej)
			c.Events = append(c.Events, store.Event{ID: fmt.Sprintf("%s/%d", c.ID, i), Type: TypeIntakeRejected, Data: b})
		}
		if _, err := r.log.Append(ctx, c, store.Any{}); err != nil {
			return fmt.Errorf("record %d rejections: %w", len(rejs), err)
		}
	}
	for _, rej := range rejs {
		r.keep(rej)
	}
	return nil
}

func (r *rejectionLog) keep(rej Rejection) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.latest) >= rejectionsKept {
		r.latest = append(r.latest[:0], r.latest[1:]...)
	}
	r.latest = append(r.latest, rej)
}

func (r *rejectionLog) list() []Rejection {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Rejection{}, r.latest...)
}
