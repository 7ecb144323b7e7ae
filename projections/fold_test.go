package projections

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/refledger/refledger/events"
)

// ReadFactsAhead hands fn the same commits as ReadFacts, in order, while it
// decodes into the slices of commits fn is done with: the facts fn keeps
// stay as they were.
func TestReadFactsAheadReusesOnlyWhatFnIsDoneWith(t *testing.T) {
	l := newLogs(t)
	n := 0
	for size := 1; n < 400; size = size%7 + 1 {
		var batch []events.Fact
		for range size {
			n++
			id := fmt.Sprintf("c%d", n)
			batch = append(batch, events.Fact{ID: id, Source: "test", Type: events.TypeClickRecorded, Time: time.Unix(int64(n), 0).UTC(),
				Data: &events.ClickRecorded{ClickID: id, LinkCode: "l", VisitorID: fmt.Sprintf("v%d", n%13)}})
		}
		if _, err := l.in.Submit(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	type commit struct {
		pos   uint64
		facts []events.Fact
		raw   [][]byte
	}
	read := func(readFn func(context.Context, func(FactCommit) error) error) ([]commit, int) {
		var out []commit
		arrays := map[*events.Fact]bool{}
		err := readFn(context.Background(), func(fc FactCommit) error {
			arrays[&fc.Facts[:1][0]] = true
			out = append(out, commit{fc.Position, append([]events.Fact(nil), fc.Facts...), append([][]byte(nil), fc.Raw...)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out, len(arrays)
	}
	want, _ := read(func(ctx context.Context, fn func(FactCommit) error) error { return ReadFacts(ctx, l.facts, 1, 0, fn) })
	got, arrays := read(func(ctx context.Context, fn func(FactCommit) error) error {
		return ReadFactsAhead(ctx, l.facts, 1, 0, func(fc FactCommit) error {
			time.Sleep(10 * time.Microsecond) // let the reader get ahead
			return fn(fc)
		})
	})
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("read ahead: %d commits differ from the %d read in order", len(got), len(want))
	}
	if arrays >= len(got) {
		t.Errorf("%d commits were decoded into %d arrays: none was used again", len(got), arrays)
	}
}

// TestWithProgressCountsTheFoldedFacts: a writer opened and caught up
// under WithProgress reports every fact it folded, once.
func TestWithProgressCountsTheFoldedFacts(t *testing.T) {
	l := newLogs(t)
	all := seedFacts(t)
	l.submit(t, all)
	reported := 0
	ctx := WithProgress(context.Background(), func(facts int) { reported += facts })
	w, err := OpenWriter(ctx, l.facts, l.ledger, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if reported != len(all) {
		t.Fatalf("progress reported %d facts, want the %d folded", reported, len(all))
	}
}
