package store

import (
	"context"
	"errors"
	"fmt"
)

// ErrNoCommit: the log holds no commit at the position asked for.
var ErrNoCommit = errors.New("no commit at that position")

var errFound = errors.New("found")

// CommitAt reads the one commit at position pos.
func CommitAt(ctx context.Context, log Log, pos Position) (Commit, error) {
	var c Commit
	found := false
	if pos > 0 {
		err := log.Read(ctx, pos, func(s Stored) error {
			if s.Position == pos {
				c, found = s.Commit, true
			}
			return errFound
		})
		if err != nil && !errors.Is(err, errFound) {
			return Commit{}, fmt.Errorf("read commit %d: %w", pos, err)
		}
	}
	if !found {
		return Commit{}, fmt.Errorf("%w: %d", ErrNoCommit, pos)
	}
	return c, nil
}

// CommitIDAt reads the id of the commit at position pos; position 0 (an
// empty log's head) has the id "". Snapshots keep the id of the commit
// they were taken at, to tell the log they came from from another one.
func CommitIDAt(ctx context.Context, log Log, pos Position) (string, error) {
	if pos == 0 {
		return "", nil
	}
	c, err := CommitAt(ctx, log, pos)
	return c.ID, err
}
