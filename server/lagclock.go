package server

import (
	"sync"
	"time"
)

// lagClock tells how far behind the fact log the ledger is in facts and in
// time: the follower notes each fact commit it reads (seen), and the
// ledger's position (folded) says which of them wait. It knows only the
// commits read since the start; a writer that resumes from further back
// reads the rest from the log (catchUpFromLog), uncounted here.
//
// Marks are bounded (lagMarksMax): past that, a commit joins the newest
// mark, which then stands for a run of commits seen from its time on, so
// the age stays right and the facts count runs over by at most that run
// until the ledger passes its end.
type lagClock struct {
	mu    sync.Mutex
	marks []lagMark // oldest first, positions rising
	// seen is the facts in the commits read, in all; passed the facts
	// in the commits the ledger has decided, among those.
	seen, passed uint64
}

type lagMark struct {
	through uint64    // the last fact-log position it stands for
	seen    uint64    // lagClock.seen once it was read
	at      time.Time // when the first commit it stands for was read
}

// lagMarksMax bounds the marks; a mark is 32 bytes.
const lagMarksMax = 4096

// saw notes the fact commit at position, of n facts, read at now.
func (c *lagClock) saw(position uint64, n int, folded uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropFolded(folded)
	c.seen += uint64(n)
	if len(c.marks) >= lagMarksMax {
		last := &c.marks[len(c.marks)-1]
		last.through, last.seen = position, c.seen
		return
	}
	c.marks = append(c.marks, lagMark{through: position, seen: c.seen, at: now})
}

// dropFolded forgets the marks the ledger has passed; under mu.
func (c *lagClock) dropFolded(folded uint64) {
	i := 0
	for i < len(c.marks) && c.marks[i].through <= folded {
		c.passed = c.marks[i].seen
		i++
	}
	c.marks = c.marks[i:] // append reallocates once the front is used up
}

// facts is how many of the facts read wait for the ledger, folded through.
func (c *lagClock) facts(folded uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropFolded(folded)
	return c.seen - c.passed
}

// age is how long the oldest commit waiting for the ledger has waited.
func (c *lagClock) age(folded uint64, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropFolded(folded)
	if len(c.marks) == 0 {
		return 0
	}
	return max(now.Sub(c.marks[0].at), 0)
}
