package server

import (
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Kinds of problem the service reports on /readyz.
const (
	problemFactLog   = "fact_log"      // following the fact log fails (damage, the store away)
	problemLedgerLog = "ledger_log"    // following the ledger log fails (damage, the store away)
	problemForeign   = "foreign"       // the fact log holds messages refledger did not write
	problemIngestion = "ingestion"     // appends to the fact log fail: events get 503
	problemIntake    = "intake"        // the NATS intake stream cannot be read or taken in
	problemWriter    = "ledger_writer" // the ledger writer cannot decide (damage, a ledger ahead of the facts)
	problemStuck     = "writer_stuck"  // facts wait and the writer has not moved for writerStuckAfter
	problemBehind    = "ledger_behind" // the ledger is more than ledgerBehindMax fact commits behind
)

// Bounds of readiness: a writer that has facts to decide and decides
// none for writerStuckAfter is stuck (a pause for a replay's apply or a
// rebuild does not count), and a ledger more than ledgerBehindMax fact
// commits behind the log is behind (a commit holds up to a thousand
// facts; a healthy writer stays within a few).
const (
	writerStuckAfter = 30 * time.Second
	ledgerBehindMax  = 10_000
)

// health holds the problems the service knows of now, each set and
// cleared by the loop that meets it. A problem is logged when it starts
// or changes and when it ends, never in a loop: a store that stays
// damaged is one log line, not one every retry.
type health struct {
	log *zap.Logger
	now func() time.Time

	mu       sync.Mutex
	problems map[string]Problem
}

// Problem is one reason the service is not ready.
type Problem struct {
	Kind   string    `json:"kind"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

func newHealth(log *zap.Logger, now func() time.Time) *health {
	return &health{log: log, now: now, problems: map[string]Problem{}}
}

// set records the problem of kind, logging it if it is new or changed.
func (h *health) set(kind string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	reason := err.Error()
	if p, ok := h.problems[kind]; ok && p.Reason == reason {
		return
	}
	h.problems[kind] = Problem{Kind: kind, Reason: reason, Since: h.now()}
	h.log.Error("not ready", zap.String("problem", kind), zap.Error(err))
}

// clear ends the problem of kind, if there was one.
func (h *health) clear(kind string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.problems[kind]
	if !ok {
		return
	}
	delete(h.problems, kind)
	h.log.Info("problem over", zap.String("problem", kind), zap.Duration("lasted", h.now().Sub(p.Since)))
}

// setIf sets the problem when err is not nil and clears it otherwise.
func (h *health) setIf(kind string, err error) {
	if err != nil {
		h.set(kind, err)
	} else {
		h.clear(kind)
	}
}

// has reports whether the problem of kind stands.
func (h *health) has(kind string) (Problem, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.problems[kind]
	return p, ok
}

// list returns the problems, oldest first.
func (h *health) list() []Problem {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Problem, 0, len(h.problems))
	for _, p := range h.problems {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Problem) int { return a.Since.Compare(b.Since) })
	return out
}
