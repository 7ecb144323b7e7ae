package store

import (
	"errors"
	"fmt"
)

// Damage is a log that is not what was written to it: positions missing
// (a file cut short, a purge, a message the backend dropped when it
// rebuilt its index), or a record of refledger's that no longer decodes.
// refledger never deletes a commit, so any of these means that something
// outside it changed the files. A reader that meets damage stops there
// with this error instead of waiting for what will never come, or reading
// past a hole as if nothing were missing. It wraps ErrCorrupt.
type Damage struct {
	Log string
	// Position is the first position concerned.
	Position Position
	// Missing counts the positions missing, when that is the damage.
	Missing uint64
	// Problem says what is wrong, in words.
	Problem string
}

func (d *Damage) Error() string {
	return fmt.Sprintf("log %s is damaged at position %d: %s; refledger cannot read past it (run refledger check, then restore the data folder from a backup)", d.Log, d.Position, d.Problem)
}

func (d *Damage) Unwrap() error { return ErrCorrupt }

// MissingPositions is the damage of a log whose positions from first on
// are gone: n of them, or all those after it when n is 0.
func MissingPositions(log string, first Position, n uint64) *Damage {
	problem := fmt.Sprintf("%d positions from %d on are missing", n, first)
	switch n {
	case 0:
		problem = fmt.Sprintf("the positions from %d on are missing", first)
	case 1:
		problem = fmt.Sprintf("position %d is missing", first)
	}
	return &Damage{Log: log, Position: first, Missing: n, Problem: problem}
}

// AsDamage returns the damage err reports, if any.
func AsDamage(err error) (*Damage, bool) {
	var d *Damage
	ok := errors.As(err, &d)
	return d, ok
}

// Foreign describes a message at a position of a log that refledger did
// not write (it is not a frame): a client with publish rights on the
// log's subject put it there. Readers skip it (it holds no commit) so
// that one stray message does not stop everything after it, and report
// it, so that it is not skipped silently.
type Foreign struct {
	Position Position
	Size     int
	Reason   string
}

func (f *Foreign) String() string {
	return fmt.Sprintf("position %d holds %d bytes that refledger did not write (%s)", f.Position, f.Size, f.Reason)
}
