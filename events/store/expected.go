package store

import "fmt"

// Expected says where the log must be for an append to go ahead. It is a
// sealed type: Any{}, NoCommits{} or At(n).
type Expected interface {
	isExpected()
	fmt.Stringer
}

// Any appends wherever the log is. Backends may group commit Any appends.
type Any struct{}

// NoCommits appends only to an empty log.
type NoCommits struct{}

// At appends only if the last commit of the log is at position n; it is how
// a single writer fences out any other.
type At Position

func (Any) isExpected()       {}
func (NoCommits) isExpected() {}
func (At) isExpected()        {}

func (Any) String() string       { return "any position" }
func (NoCommits) String() string { return "an empty log" }
func (a At) String() string      { return fmt.Sprintf("position %d", uint64(a)) }

// ExpectedPosition returns the position exp requires and whether it requires
// one at all (Any does not).
func ExpectedPosition(exp Expected) (Position, bool) {
	switch e := exp.(type) {
	case NoCommits:
		return 0, true
	case At:
		return Position(e), true
	}
	return 0, false
}
