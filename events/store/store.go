package store

import (
	"context"
	"fmt"
)

// Position is the place of a commit in a log: 1 for the first durable write.
// Position 0 stands before the first commit.
type Position = uint64

// Limits of one commit. A backend may lower them but must document it.
const (
	MaxCommitEvents = 4096
	MaxCommitBytes  = 900 << 10
	MaxIDBytes      = 512
)

// Event is one stored event: an ID unique within its log (for facts, the
// source and id; for ledger records, the entry id), a type name, and the
// encoded payload.
type Event struct {
	ID   string
	Type string
	Data []byte
}

// Commit is an atomic group of 1..MaxCommitEvents events. ID is the dedupe
// key: the same ID is never appended twice.
type Commit struct {
	ID     string
	Events []Event
}

// Size is the number of payload bytes the commit holds, for batching.
func (c Commit) Size() int {
	n := len(c.ID)
	for _, e := range c.Events {
		n += len(e.ID) + len(e.Type) + len(e.Data) + 8
	}
	return n
}

// Validate checks the commit against the limits every backend shares.
func (c Commit) Validate() error {
	switch {
	case c.ID == "":
		return fmt.Errorf("%w: commit id is required", ErrInvalidCommit)
	case len(c.ID) > MaxIDBytes:
		return fmt.Errorf("%w: commit id is %d bytes, more than %d", ErrInvalidCommit, len(c.ID), MaxIDBytes)
	case len(c.Events) == 0:
		return fmt.Errorf("%w: commit %q has no events", ErrInvalidCommit, c.ID)
	case len(c.Events) > MaxCommitEvents:
		return fmt.Errorf("%w: commit %q has %d events, more than %d", ErrInvalidCommit, c.ID, len(c.Events), MaxCommitEvents)
	case c.Size() > MaxCommitBytes:
		return fmt.Errorf("%w: commit %q is %d bytes, more than %d", ErrInvalidCommit, c.ID, c.Size(), MaxCommitBytes)
	}
	return nil
}

// Stored is a commit as read back, with its position.
type Stored struct {
	Position Position
	Commit   Commit
	// Foreign is set, and Commit empty, when the position holds a message
	// that refledger did not write: readers skip it and report it.
	Foreign *Foreign
}

// Appended is the outcome of a successful Append.
type Appended struct {
	// Position is where the commit is durable.
	Position Position
	// Duplicate is true when the commit ID had been appended already; then
	// Position is the original one and nothing new was written.
	Duplicate bool
}

// Log is one ordered, append-only log.
type Log interface {
	// Append writes the commit atomically and durably if the log is where
	// exp says. Errors: ErrWrongPosition, ErrInvalidCommit, ErrUnavailable,
	// ErrClosed, or the context's error.
	Append(ctx context.Context, c Commit, exp Expected) (Appended, error)
	// Read calls fn for every commit from position from (inclusive) up to
	// the head as it was when Read began, then returns. An error from fn
	// stops the read and is returned as is.
	Read(ctx context.Context, from Position, fn func(Stored) error) error
	// Follow reads like Read, then keeps calling fn for each new commit
	// until ctx is done (returning ctx.Err()) or fn returns an error.
	Follow(ctx context.Context, from Position, fn func(Stored) error) error
	// Head returns the position of the last commit, 0 for an empty log.
	Head(ctx context.Context) (Position, error)
}

// Store opens named logs. refledger uses two: "facts" and "ledger".
type Store interface {
	// Log opens (creating when needed) the log called name: lower-case
	// letters, digits and dashes.
	Log(ctx context.Context, name string) (Log, error)
	// Close releases the store; logs opened from it stop working.
	Close() error
}

// Names of the logs refledger keeps.
const (
	FactsLog  = "facts"
	LedgerLog = "ledger"
	// RejectionsLog keeps the events that came without anyone waiting for
	// an answer (a plain NATS publish) and were not appended, with why.
	RejectionsLog = "rejections"
)

// ValidLogName reports whether name is a usable log name.
func ValidLogName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
