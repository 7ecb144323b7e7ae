package ledger

import "github.com/refledger/refledger/events"

// ApplyTransient is Apply, but the explanations of the output it returns
// (its attributions, with their candidates and lines) and the entries an
// order accrues are written into memory the engine takes back at its next
// ApplyTransient: they are good only until then. A caller that is done
// with each output before it applies the next fact, as the ledger writer
// is once it has encoded the output's records (Output.Records, which
// copies the entries its records point to), spares the engine writing
// about 2 KB of memory no cache holds for every order it explains: at ten
// million facts writing fresh memory costs about 1.5 µs a kilobyte. The
// output is otherwise the same as Apply's, byte for byte; the strings it
// holds, refusals and policies are Apply's own.
func (e *Engine) ApplyTransient(f events.Fact, canonical []byte) Output {
	s := e.state
	s.reuse.reset()
	s.reusing = true
	defer func() { s.reusing = false }()
	var out Output
	e.apply(&f, canonical, &out)
	out.transient = true
	return out
}

// reusedMemory is the memory ApplyTransient writes explanations and an
// order's accrued entries into. Each buffer hands out slices of its spare
// room (capped, so that an append to one does not run into the next), and
// starts over at the next fact; when one fact needs more than a buffer
// has, a larger one replaces it, and the old one is left to the output
// that holds it.
type reusedMemory struct {
	candidates   []Candidate
	attributions []Attribution
	lines        []LineExplanation
	tiers        []TierShare
	entries      []Entry
}

func (m *reusedMemory) reset() {
	m.candidates, m.attributions = m.candidates[:0], m.attributions[:0]
	m.lines, m.tiers, m.entries = m.lines[:0], m.tiers[:0], m.entries[:0]
}

// handOut hands out n zero values from buf (unlike the slabs' take, whose
// arrays are never handed out twice).
func handOut[T any](buf *[]T, n int) []T {
	b := *buf
	if cap(b)-len(b) < n {
		b = make([]T, 0, max(2*cap(b), n, 16))
	}
	start := len(b)
	b = b[:start+n]
	*buf = b
	out := b[start : start+n : start+n]
	clear(out)
	return out
}

// fresh returns n zero values: from buf while ApplyTransient applies a
// fact, else newly allocated.
func fresh[T any](s *State, buf *[]T, n int) []T {
	if !s.reusing {
		return make([]T, n)
	}
	return handOut(buf, n)
}

// renewalDecision is the decision of a subscription renewal: the referral
// the subscription keeps, its only candidate.
func (s *State) renewalDecision(renewal *Candidate) Decision {
	c := fresh(s, &s.reuse.candidates, 1)
	c[0] = *renewal
	return Decision{Winner: renewal, Candidates: c}
}
