package ledger

import "time"

// ReplayApplied is the ledger record of an applied replay: from FactsThrough
// on, the policy timeline holds Policy from From (the whole timeline when
// Whole), and every past order is restated under it. The adjusting entries
// follow it in the same commit.
type ReplayApplied struct {
	ReplayID     string    `json:"replay_id"`
	Policy       Policy    `json:"policy"`
	From         time.Time `json:"from"`
	Whole        bool      `json:"whole_timeline"`
	FactsThrough uint64    `json:"facts_through"`
	LedgerAt     uint64    `json:"ledger_at"`
}

// WithCandidate returns a copy of the timeline with a candidate policy in
// force from 'from' on (or over the whole timeline when whole).
func (t *Timeline) WithCandidate(version string, p Policy, from time.Time, whole bool) *Timeline {
	c := t.Clone()
	if whole {
		from = time.Time{}
	}
	c.Change(version, from, p)
	return c
}

// Follow makes an engine that was built on a given timeline follow
// policy.changed facts from now on, as live processing does after a replay
// is applied.
func (e *Engine) Follow() { e.fixed = false }
