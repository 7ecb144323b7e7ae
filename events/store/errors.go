package store

import "errors"

// Sentinel errors. Backends wrap them with context; callers use errors.Is.
var (
	// ErrWrongPosition: the log's last position is not the expected one.
	// Nothing was appended; read what moved, decide again, and retry.
	ErrWrongPosition = errors.New("store: log is not at the expected position")
	// ErrInvalidCommit: the commit is empty, too large, or lacks an ID.
	ErrInvalidCommit = errors.New("store: invalid commit")
	// ErrClosed: the store or log was closed.
	ErrClosed = errors.New("store: closed")
	// ErrUnavailable: the backend could not be reached or did not confirm
	// the write in time. The commit may or may not have been appended;
	// retrying with the same commit ID is safe within the dedupe window.
	ErrUnavailable = errors.New("store: backend unavailable")
	// ErrCorrupt: a stored record could not be decoded.
	ErrCorrupt = errors.New("store: corrupt record")
)
