package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"
)

// Status is the outcome of one submitted fact.
type Status string

// Outcomes of a submission.
const (
	Accepted  Status = "accepted"
	Duplicate Status = "duplicate"
	Rejected  Status = "rejected"
)

// ErrConflict is the rejection of a fact whose key was accepted before with
// a different payload.
var ErrConflict = errors.New("conflict")

// Outcome answers one submitted fact.
type Outcome struct {
	Status   Status
	Position store.Position // where the fact is (or already was) durable
	Err      error          // why it was rejected
}

// MaxBatch bounds the facts of one commit to the fact log.
const MaxBatch = 1000

// maxFenceRetries bounds how often a batch is decided again after another
// writer moved the log.
const maxFenceRetries = 16

// Ingester appends facts to the fact log exactly once per key.
type Ingester struct {
	log     store.Log
	index   *Index
	head    store.Position
	rebuilt bool             // opened without a snapshot (see OpenFrom)
	now     func() time.Time // when a fact arrives (SetClock)
}

// SetClock sets the clock that says when the log receives a fact, which
// each appended fact keeps (events.Fact.Arrived); the default is
// time.Now. It must not run beside Submit.
func (in *Ingester) SetClock(now func() time.Time) { in.now = now }

// arrival is when the facts being submitted now arrive.
func (in *Ingester) arrival() time.Time {
	if in.now != nil {
		return in.now().UTC()
	}
	return time.Now().UTC()
}

// Open builds the index by reading the whole fact log.
func Open(ctx context.Context, log store.Log) (*Ingester, error) {
	in := &Ingester{log: log, index: NewIndex()}
	if err := in.catchUp(ctx); err != nil {
		return nil, err
	}
	return in, nil
}

// Head is the last fact-log position this ingester knows of.
func (in *Ingester) Head() store.Position { return in.head }

func (in *Ingester) catchUp(ctx context.Context) error {
	err := in.log.Read(ctx, in.head+1, func(s store.Stored) error {
		for _, e := range s.Commit.Events {
			in.index.add(e.ID, storedForm(e), s.Position)
		}
		in.head = s.Position
		return nil
	})
	if err != nil {
		return fmt.Errorf("read fact log: %w", err)
	}
	return nil
}

// Submit appends the facts that are new as one commit and answers each fact
// in order. Facts must be valid (decoded by events.Decode); at most MaxBatch.
// Each fact appended carries the commit's arrival time, by the ingester's
// clock (its own Arrived is not read). An error means the log could not be
// written: no outcome is final then, and submitting the same facts again is
// safe.
func (in *Ingester) Submit(ctx context.Context, facts []events.Fact) ([]Outcome, error) {
	if len(facts) > MaxBatch {
		return nil, fmt.Errorf("ingest: %d facts in one batch, more than %d", len(facts), MaxBatch)
	}
	arrived := in.arrival()
	for attempt := 0; ; attempt++ {
		outcomes, commit, eventOf := in.decide(facts, arrived)
		if len(commit.Events) == 0 {
			return outcomes, nil
		}
		res, err := in.log.Append(ctx, commit, store.At(in.head))
		if errors.Is(err, store.ErrWrongPosition) && attempt < maxFenceRetries {
			if err := in.catchUp(ctx); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("append to fact log: %w", err)
		}
		if res.Duplicate {
			// The same batch landed before (a retry): learn it from the log.
			if err := in.catchUp(ctx); err != nil {
				return nil, err
			}
			continue
		}
		for _, e := range commit.Events {
			in.index.add(e.ID, e.Data, res.Position)
		}
		for i, j := range eventOf {
			if j < 0 {
				continue
			}
			if outcomes[i].Status == "" {
				outcomes[i].Status = Accepted
			}
			outcomes[i].Position = res.Position
		}
		in.head = res.Position
		return outcomes, nil
	}
}

// decide answers duplicates and conflicts from the index and gathers the new
// facts, arriving at arrived, into one commit. eventOf maps each fact that
// the commit will carry, or that repeats one it carries, to its event index
// (-1 for the others).
func (in *Ingester) decide(facts []events.Fact, arrived time.Time) ([]Outcome, store.Commit, []int) {
	outcomes := make([]Outcome, len(facts))
	eventOf := make([]int, len(facts))
	inBatch := map[string]int{} // keys new in this batch -> event index
	var commit store.Commit
	ids := sha256.New()
	for i, f := range facts {
		eventOf[i] = -1
		key := f.Key()
		f.Arrived = arrived // f is the loop's copy: the caller's fact is unchanged
		canonical := events.EncodeStored(f)
		if e, ok := in.index.lookup(key); ok {
			outcomes[i] = in.repeat(f, e, in.index.payload(canonical))
			continue
		}
		if j, ok := inBatch[key]; ok {
			outcomes[i] = in.repeat(f, entry{payload: in.index.payload(commit.Events[j].Data)}, in.index.payload(canonical))
			// A duplicate is durable with the first one; a conflict names
			// where the first one is, as one against the index does.
			eventOf[i] = j
			continue
		}
		inBatch[key] = len(commit.Events)
		eventOf[i] = len(commit.Events)
		commit.Events = append(commit.Events, store.Event{ID: key, Type: f.Type, Data: canonical})
		ids.Write([]byte(key))
		ids.Write([]byte{0})
	}
	commit.ID = "facts:" + hex.EncodeToString(ids.Sum(nil)[:16])
	return outcomes, commit, eventOf
}

func (in *Ingester) repeat(f events.Fact, e entry, payload uint64) Outcome {
	if e.payload == payload {
		return Outcome{Status: Duplicate, Position: e.position}
	}
	// Position says where the fact accepted first is.
	return Outcome{Status: Rejected, Position: e.position, Err: fmt.Errorf("%w: id %q from source %q was already accepted with a different payload", ErrConflict, f.ID, f.Source)}
}

// storedForm is the binary stored form of a stored event, whose content
// (events.StoredContent, without its arrival) payload digests are taken
// over. Facts stored as JSON (before the binary form) are converted, so
// that the same fact sent again is still a duplicate.
func storedForm(e store.Event) []byte {
	if len(e.Data) > 0 && e.Data[0] == '{' {
		if f, err := events.DecodeStored(e.Type, e.Data); err == nil {
			return events.EncodeStored(f)
		}
	}
	return e.Data
}
