package store

import (
	"context"
	"fmt"
	"sync"
)

// Memory is an in-process Store for tests and for engines that fold facts
// held in memory. It keeps every commit ID forever, so its dedupe window has
// no end. It is safe for concurrent use.
type Memory struct {
	mu     sync.Mutex
	logs   map[string]*memoryLog
	closed bool
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{logs: map[string]*memoryLog{}} }

// Log opens or creates the named log.
func (m *Memory) Log(_ context.Context, name string) (Log, error) {
	if !ValidLogName(name) {
		return nil, fmt.Errorf("store: %q is not a log name: use a-z, 0-9 and -", name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	l, ok := m.logs[name]
	if !ok {
		l = &memoryLog{store: m, ids: map[string]Position{}, grew: make(chan struct{})}
		m.logs[name] = l
	}
	return l, nil
}

// Close stops every log of the store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		for _, l := range m.logs {
			l.mu.Lock()
			close(l.grew)
			l.closed = true
			l.mu.Unlock()
		}
	}
	return nil
}

type memoryLog struct {
	store   *Memory
	mu      sync.Mutex
	commits []Stored
	ids     map[string]Position
	grew    chan struct{} // closed and replaced on every append
	closed  bool
}

func (l *memoryLog) Append(ctx context.Context, c Commit, exp Expected) (Appended, error) {
	if err := c.Validate(); err != nil {
		return Appended{}, err
	}
	if err := ctx.Err(); err != nil {
		return Appended{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Appended{}, ErrClosed
	}
	if pos, ok := l.ids[c.ID]; ok {
		return Appended{Position: pos, Duplicate: true}, nil
	}
	head := Position(len(l.commits))
	if want, ok := ExpectedPosition(exp); ok && want != head {
		return Appended{}, fmt.Errorf("%w: expected %s, log is at %d", ErrWrongPosition, exp, head)
	}
	pos := head + 1
	l.commits = append(l.commits, Stored{Position: pos, Commit: cloneCommit(c)})
	l.ids[c.ID] = pos
	close(l.grew)
	l.grew = make(chan struct{})
	return Appended{Position: pos}, nil
}

// cloneCommit copies the caller's slices so later changes to them cannot
// rewrite history.
func cloneCommit(c Commit) Commit {
	out := Commit{ID: c.ID, Events: make([]Event, len(c.Events))}
	for i, e := range c.Events {
		out.Events[i] = Event{ID: e.ID, Type: e.Type, Data: append([]byte(nil), e.Data...)}
	}
	return out
}

func (l *memoryLog) Head(context.Context) (Position, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	return Position(len(l.commits)), nil
}

// snapshot returns the commits from position from on, and the channel that
// closes when the log grows past them.
func (l *memoryLog) snapshot(from Position) ([]Stored, <-chan struct{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, nil, ErrClosed
	}
	if from == 0 {
		from = 1
	}
	if from > Position(len(l.commits)) {
		return nil, l.grew, nil
	}
	return l.commits[from-1:], l.grew, nil
}

func (l *memoryLog) Read(ctx context.Context, from Position, fn func(Stored) error) error {
	commits, _, err := l.snapshot(from)
	if err != nil {
		return err
	}
	for i, s := range commits {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

func (l *memoryLog) Follow(ctx context.Context, from Position, fn func(Stored) error) error {
	if from == 0 {
		from = 1
	}
	for {
		commits, grew, err := l.snapshot(from)
		if err != nil {
			return err
		}
		for _, s := range commits {
			if err := fn(s); err != nil {
				return err
			}
			from = s.Position + 1
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-grew:
		}
	}
}
