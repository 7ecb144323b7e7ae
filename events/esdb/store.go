package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/refledger/refledger/events/store"
)

// commitEventType is the EventStoreDB event type of a refledger commit.
const commitEventType = "refledger.commit"

// Store is a store.Store on EventStoreDB.
type Store struct {
	client *esdb.Client
	prefix string // of stream names: "refledger-"
	mu     sync.Mutex
	logs   map[string]*Log
}

// Connect opens a client from a connection string
// ("esdb://host:2113?tls=false").
func Connect(url string) (*Store, error) {
	cfg, err := esdb.ParseConnectionString(url)
	if err != nil {
		return nil, fmt.Errorf("eventstore url: %w", err)
	}
	// The client's own console logging would print every discovery step;
	// refledger reports what matters through the errors it returns.
	cfg.Logger = func(esdb.LogLevel, string, ...interface{}) {}
	client, err := esdb.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: eventstore client: %v", store.ErrUnavailable, err)
	}
	return &Store{client: client, prefix: "refledger-", logs: map[string]*Log{}}, nil
}

// Log opens the stream of the named log.
func (s *Store) Log(_ context.Context, name string) (store.Log, error) {
	if !store.ValidLogName(name) {
		return nil, fmt.Errorf("esdb: %q is not a log name: use a-z, 0-9 and -", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logs == nil {
		return nil, store.ErrClosed
	}
	l, ok := s.logs[name]
	if !ok {
		l = &Log{client: s.client, stream: s.prefix + name, recent: map[string]store.Position{}}
		s.logs[name] = l
	}
	return l, nil
}

// Close closes the client.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logs == nil {
		return nil
	}
	s.logs = nil
	return s.client.Close()
}

// Log is one stream.
type Log struct {
	client *esdb.Client
	stream string

	mu     sync.Mutex
	recent map[string]store.Position // commit ids appended by this process
}

// commitMeta is the metadata of a commit event.
type commitMeta struct {
	CommitID   string   `json:"commit_id"`
	EventIDs   []string `json:"event_ids"`
	EventTypes []string `json:"event_types"`
}

// eventID derives the commit event's id from the commit id, so a retry
// carries the same id.
func eventID(commitID string) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("refledger:"+commitID))
}

// Append writes the commit as one event with the expected revision.
func (l *Log) Append(ctx context.Context, c store.Commit, exp store.Expected) (store.Appended, error) {
	if err := c.Validate(); err != nil {
		return store.Appended{}, err
	}
	l.mu.Lock()
	pos, seen := l.recent[c.ID]
	l.mu.Unlock()
	if seen {
		return store.Appended{Position: pos, Duplicate: true}, nil
	}
	meta := commitMeta{CommitID: c.ID}
	for _, e := range c.Events {
		meta.EventIDs = append(meta.EventIDs, e.ID)
		meta.EventTypes = append(meta.EventTypes, e.Type)
	}
	metaJSON, _ := json.Marshal(meta)
	id := eventID(c.ID)
	opts := esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}
	want, fenced := store.ExpectedPosition(exp)
	before := store.Position(0)
	switch {
	case fenced && want == 0:
		opts.ExpectedRevision = esdb.NoStream{}
	case fenced:
		opts.ExpectedRevision = esdb.Revision(want - 1)
	default:
		// EventStoreDB answers an idempotent repeat like a write: note the
		// head first to tell them apart.
		h, err := l.Head(ctx)
		if err != nil {
			return store.Appended{}, err
		}
		before = h
	}
	res, err := l.client.AppendToStream(ctx, l.stream, opts, esdb.EventData{
		EventID: id, EventType: commitEventType, ContentType: esdb.ContentTypeBinary,
		Data: store.AppendFrame(nil, c), Metadata: metaJSON,
	})
	if err != nil {
		if errorCode(err) == esdb.ErrorCodeWrongExpectedVersion {
			// A retry of a write that landed: the event after the expected
			// revision is this very commit.
			if p, ok := l.landedAt(ctx, want, id); ok {
				l.remember(c.ID, p)
				return store.Appended{Position: p, Duplicate: true}, nil
			}
			return store.Appended{}, fmt.Errorf("%w: stream %s: expected %s", store.ErrWrongPosition, l.stream, exp)
		}
		return store.Appended{}, mapError(l.stream, err)
	}
	p := store.Position(res.NextExpectedVersion) + 1
	dup := (fenced && p != want+1) || (!fenced && p <= before)
	l.remember(c.ID, p)
	return store.Appended{Position: p, Duplicate: dup}, nil
}

func (l *Log) remember(id string, p store.Position) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recent) >= 1<<16 {
		clear(l.recent) // a bound, not a cache policy: the ingest index is the lasting record
	}
	l.recent[id] = p
}

// landedAt reports whether the event right after position want is id.
func (l *Log) landedAt(ctx context.Context, want store.Position, id uuid.UUID) (store.Position, bool) {
	rs, err := l.client.ReadStream(ctx, l.stream, esdb.ReadStreamOptions{From: esdb.Revision(want), Direction: esdb.Forwards}, 1)
	if err != nil {
		return 0, false
	}
	defer rs.Close()
	ev, err := rs.Recv()
	if err != nil || ev.Event == nil || ev.Event.EventID != id {
		return 0, false
	}
	return store.Position(ev.Event.EventNumber) + 1, true
}

// Head is the position of the stream's last event.
func (l *Log) Head(ctx context.Context) (store.Position, error) {
	rs, err := l.client.ReadStream(ctx, l.stream, esdb.ReadStreamOptions{From: esdb.End{}, Direction: esdb.Backwards}, 1)
	if isNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, mapError(l.stream, err)
	}
	defer rs.Close()
	ev, err := rs.Recv()
	switch {
	case isNotFound(err), errors.Is(err, io.EOF):
		return 0, nil
	case err != nil:
		return 0, mapError(l.stream, err)
	}
	return store.Position(ev.Event.EventNumber) + 1, nil
}

// readBatch bounds one forward read request.
const readBatch = 512

// Read delivers the commits from position from up to the head as it was
// when Read began.
func (l *Log) Read(ctx context.Context, from store.Position, fn func(store.Stored) error) error {
	head, err := l.Head(ctx)
	if err != nil {
		return err
	}
	if from == 0 {
		from = 1
	}
	for from <= head {
		rs, err := l.client.ReadStream(ctx, l.stream, esdb.ReadStreamOptions{From: esdb.Revision(from - 1), Direction: esdb.Forwards}, readBatch)
		if err != nil {
			return mapError(l.stream, err)
		}
		next, err := l.drain(rs, head, fn)
		rs.Close()
		if err != nil {
			return err
		}
		if next == from {
			return nil // nothing more to read
		}
		from = next
	}
	return nil
}

// drain hands over the events of one read, up to head, and returns the
// position to read from next.
func (l *Log) drain(rs *esdb.ReadStream, head store.Position, fn func(store.Stored) error) (store.Position, error) {
	next := store.Position(0)
	for {
		ev, err := rs.Recv()
		switch {
		case errors.Is(err, io.EOF), isNotFound(err):
			return next, nil
		case err != nil:
			return 0, mapError(l.stream, err)
		}
		pos := store.Position(ev.Event.EventNumber) + 1
		if pos > head {
			return next, nil
		}
		if err := store.DeliverFrame(l.stream, pos, ev.Event.Data, fn); err != nil {
			return 0, err
		}
		next = pos + 1
	}
}

// Follow delivers every commit from position from on, catching up and then
// live, until ctx is done.
func (l *Log) Follow(ctx context.Context, from store.Position, fn func(store.Stored) error) error {
	// A subscription from revision r starts after r: to deliver position
	// from (revision from-1), subscribe from revision from-2.
	opts := esdb.SubscribeToStreamOptions{From: esdb.Start{}}
	if from >= 2 {
		opts.From = esdb.Revision(from - 2)
	}
	sub, err := l.client.SubscribeToStream(ctx, l.stream, opts)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return mapError(l.stream, err)
	}
	defer sub.Close()
	for {
		ev := sub.Recv()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case ev.SubscriptionDropped != nil:
			return fmt.Errorf("%w: stream %s: subscription dropped: %v", store.ErrUnavailable, l.stream, ev.SubscriptionDropped.Error)
		case ev.EventAppeared != nil && ev.EventAppeared.Event != nil:
			pos := store.Position(ev.EventAppeared.Event.EventNumber) + 1
			if pos < from {
				continue
			}
			if err := store.DeliverFrame(l.stream, pos, ev.EventAppeared.Event.Data, fn); err != nil {
				return err
			}
		}
	}
}

// errorCode is the client's code for err (ErrorCodeUnknown for others).
func errorCode(err error) esdb.ErrorCode {
	var e *esdb.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return esdb.ErrorCodeUnknown
}

func isNotFound(err error) bool {
	return err != nil && errorCode(err) == esdb.ErrorCodeResourceNotFound
}

// mapError turns a client error into the store's sentinels.
func mapError(stream string, err error) error {
	switch errorCode(err) {
	case esdb.ErrorCodeWrongExpectedVersion:
		return fmt.Errorf("%w: stream %s: %v", store.ErrWrongPosition, stream, err)
	case esdb.ErrorCodeResourceNotFound:
		return nil
	}
	return fmt.Errorf("%w: stream %s: %v", store.ErrUnavailable, stream, err)
}
