package replay

import (
	"fmt"
	"testing"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/ledger"
)

// applyCommits keeps an apply in one commit when it fits; otherwise it
// lays the changes out in bounded parts, in order, each opening with a
// checkpoint, and ends with the checkpoint and the replay record.
func TestApplyCommitsSplitsOnlyWhatDoesNotFit(t *testing.T) {
	record := store.Event{ID: "replay:r1", Type: ledger.TypeReplayApplied, Data: []byte(`{}`)}
	changes := func(n int) []store.Event {
		var out []store.Event
		for i := range n {
			out = append(out, store.Event{ID: fmt.Sprintf("e%d", i), Type: ledger.TypeCommissionAdjusted, Data: []byte(`{}`)})
		}
		return out
	}
	one := applyCommits("r1", []byte(`{}`), record, changes(10))
	if len(one) != 1 || one[0].ID != "replay:r1" || len(one[0].Events) != 12 || one[0].Events[1].ID != "replay:r1" {
		t.Fatalf("a small apply: %d commits, %+v", len(one), one)
	}

	defer func(e, b int) { applyPartEvents, applyPartBytes = e, b }(applyPartEvents, applyPartBytes)
	applyPartEvents = 4
	many := applyCommits("r1", []byte(`{}`), record, changes(store.MaxCommitEvents))
	if want := (store.MaxCommitEvents+2)/3 + 1; len(many) != want {
		t.Fatalf("%d commits, want %d", len(many), want)
	}
	next := 0
	for i, c := range many[:len(many)-1] {
		if c.ID != fmt.Sprintf("replay:r1:part:%d", i+1) || c.Events[0].Type != ledger.TypeCheckpoint || len(c.Events) > applyPartEvents || c.Validate() != nil {
			t.Fatalf("part %d: %+v", i+1, c)
		}
		for _, e := range c.Events[1:] {
			if e.ID != fmt.Sprintf("e%d", next) {
				t.Fatalf("part %d holds %s, want e%d", i+1, e.ID, next)
			}
			next++
		}
	}
	last := many[len(many)-1]
	if next != store.MaxCommitEvents || last.ID != "replay:r1" || len(last.Events) != 2 || last.Events[1].ID != "replay:r1" {
		t.Fatalf("%d changes laid out; last commit %+v", next, last)
	}
}
