package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestProgressWaitsThenCounts: on a terminal, a job shorter than
// progressQuiet prints nothing; a longer one prints its count and rate,
// then a closing line.
func TestProgressWaitsThenCounts(t *testing.T) {
	var out bytes.Buffer
	env := &environment{stderr: &out, terminal: true}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newProgress(env, "ledger: facts folded", 0)
	p.start, p.now = clock, func() time.Time { return clock }

	clock = clock.Add(progressQuiet / 2)
	p.add(500)
	p.done()
	if out.Len() != 0 {
		t.Fatalf("a short job printed %q", out.String())
	}

	clock = clock.Add(progressQuiet * 3 / 2) // 2 s in
	p.add(1500)
	if got := out.String(); got != "\rledger: facts folded: 2000 (1000/s)   " {
		t.Fatalf("progress printed %q", got)
	}
	clock = clock.Add(100 * time.Millisecond)
	p.add(100) // within 200 ms of the last line: nothing
	p.done()
	if got := out.String(); !strings.HasSuffix(got, "   \rledger: facts folded: 2100 in 2.1s\n") {
		t.Fatalf("progress ended with %q", got)
	}
	off := &progress{env: &environment{stderr: &out}, start: clock.Add(-time.Hour), now: func() time.Time { return clock }}
	before := out.Len()
	off.add(1)
	off.done()
	if out.Len() != before {
		t.Error("progress printed off a terminal")
	}
}
