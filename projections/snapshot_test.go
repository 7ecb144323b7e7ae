package projections

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/ingest"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/internal/snapshot"
	"github.com/refledger/refledger/ledger"
)

func seedFacts(t testing.TB) []events.Fact {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "scenarios", "seed", "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []events.Fact
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fact, err := events.Decode(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fact)
	}
	return out
}

type logs struct {
	facts, ledger store.Log
	in            *ingest.Ingester
}

func newLogs(t testing.TB) logs {
	ctx := context.Background()
	mem := store.NewMemory()
	facts, _ := mem.Log(ctx, store.FactsLog)
	ledgerLog, _ := mem.Log(ctx, store.LedgerLog)
	in, err := ingest.Open(ctx, facts)
	if err != nil {
		t.Fatal(err)
	}
	return logs{facts, ledgerLog, in}
}

// submit appends facts three to a commit, so that cursors fall inside and
// between commits.
func (l logs) submit(t testing.TB, facts []events.Fact) {
	for len(facts) > 0 {
		n := min(3, len(facts))
		if _, err := l.in.Submit(context.Background(), facts[:n]); err != nil {
			t.Fatal(err)
		}
		facts = facts[n:]
	}
}

func engineBytes(t *testing.T, w *Writer) []byte {
	var b bytes.Buffer
	e := snapshot.NewEncoder(&b, "test", 1)
	w.engine.EncodeSnapshot(e)
	if err := e.Finish(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sameAsRebuilt requires a resumed writer and view to equal what a writer
// rebuilt from the logs alone makes.
func sameAsRebuilt(t *testing.T, l logs, w *Writer, view *Ledger) {
	t.Helper()
	freshView := NewLedger(l.ledger)
	fresh, err := OpenWriter(context.Background(), l.facts, l.ledger, freshView)
	if err != nil {
		t.Fatal(err)
	}
	if w.Next() != fresh.Next() || w.next != fresh.next || w.LedgerHead() != fresh.LedgerHead() {
		t.Fatalf("resumed writer at fact %+v, ledger %d; rebuilt at %+v, %d", w.next, w.LedgerHead(), fresh.next, fresh.LedgerHead())
	}
	if !bytes.Equal(engineBytes(t, w), engineBytes(t, fresh)) {
		t.Fatal("the resumed engine's state differs from the rebuilt one's")
	}
	if !reflect.DeepEqual(view.Entries(), freshView.Entries()) {
		t.Fatalf("resumed view entries:\n%+v\nrebuilt:\n%+v", view.Entries(), freshView.Entries())
	}
	if view.Head() != freshView.Head() || !view.Timeline().SamePolicies(freshView.Timeline()) {
		t.Fatalf("resumed view at ledger %d with timeline %+v; rebuilt at %d with %+v", view.Head(), view.Timeline().Versions(), freshView.Head(), freshView.Timeline().Versions())
	}
	if !slices.Equal(view.explained, freshView.explained) {
		t.Fatalf("resumed view lists the explained orders as %v; rebuilt, %v", view.explained, freshView.explained)
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if !reflect.DeepEqual(view.Balances(now), freshView.Balances(now)) || !reflect.DeepEqual(view.Refusals(), freshView.Refusals()) {
		t.Fatal("resumed view balances or refusals differ from the rebuilt ones")
	}
	for _, e := range freshView.Entries() {
		if e.OrderID == "" {
			continue
		}
		got, ok, err := view.Attribution(context.Background(), e.OrderID)
		want, _, _ := freshView.Attribution(context.Background(), e.OrderID)
		if !ok || err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("explanation of %s differs after resume", e.OrderID)
		}
	}
}

// decided submits facts to new logs and has a writer decide them all,
// feeding the view it returns.
func decided(t testing.TB, facts []events.Fact) (logs, *Writer, *Ledger) {
	t.Helper()
	l := newLogs(t)
	l.submit(t, facts)
	w, view := l.decideAll(t)
	return l, w, view
}

// decideAll opens a writer on the logs and has it decide every fact,
// feeding the view it returns.
func (l logs) decideAll(t testing.TB) (*Writer, *Ledger) {
	t.Helper()
	ctx := context.Background()
	view := NewLedger(l.ledger)
	w, err := OpenWriter(ctx, l.facts, l.ledger, view)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	return w, view
}

// snapshotAfter submits facts to new logs, has a writer decide them, and
// snapshots it; the writer goes on being usable.
func snapshotAfter(t *testing.T, facts []events.Fact) (logs, *Writer, string) {
	t.Helper()
	ctx := context.Background()
	l, w, view := decided(t, facts)
	path := filepath.Join(t.TempDir(), "writer.snap")
	if err := w.WriteSnapshot(ctx, path, view); err != nil {
		t.Fatal(err)
	}
	return l, w, path
}

// TestSnapshotKeepsTheExplainedOrder: the view's explained orders come
// back from a snapshot in the order the log explained them, not sorted,
// as a view rebuilt from the log lists them.
func TestSnapshotKeepsTheExplainedOrder(t *testing.T) {
	var facts []events.Fact
	for _, id := range []string{"o-c", "o-a", "o-b"} {
		facts = append(facts, fact(t, id, events.TypeOrderPlaced, `{"order_id":"`+id+`","currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":"10.00"}]}`))
	}
	l, _, path := snapshotAfter(t, facts)
	resumed, view, reason, err := ResumeWriter(context.Background(), l.facts, l.ledger, path)
	if err != nil || reason != nil {
		t.Fatalf("resume: %v, %v", err, reason)
	}
	if want := []string{"o-c", "o-a", "o-b"}; !slices.Equal(view.explained, want) {
		t.Fatalf("explained %v after a snapshot, want %v", view.explained, want)
	}
	sameAsRebuilt(t, l, resumed, view)
}

func TestResumeWriterFromASnapshot(t *testing.T) {
	ctx := context.Background()
	all := seedFacts(t)
	if len(all) < 12 {
		t.Fatalf("the seed has %d facts: too few to cut", len(all))
	}
	for _, cut := range []int{0, 4, len(all) / 2, len(all) - 2} {
		l, w, path := snapshotAfter(t, all[:cut])
		// The writer goes on after the snapshot, as a service does until
		// it stops.
		more := cut + (len(all)-cut)/2
		l.submit(t, all[cut:more])
		if err := w.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		loaded, reason, err := LoadLedgerView(ctx, l.ledger, path)
		if err != nil || reason != nil {
			t.Fatalf("cut %d: load the view: %v, %v", cut, err, reason)
		}
		if full, _ := LoadLedger(ctx, l.ledger); !reflect.DeepEqual(loaded.Entries(), full.Entries()) || !loaded.Timeline().SamePolicies(full.Timeline()) {
			t.Fatalf("cut %d: the view loaded from the snapshot differs from the ledger log's", cut)
		}
		if _, reason, _ := LoadLedgerView(ctx, l.ledger, path+".none"); reason == nil {
			t.Fatal("a missing snapshot gave no reason")
		}
		if none, reason, err := LoadLedgerView(ctx, l.ledger, ""); reason != nil || err != nil || !reflect.DeepEqual(none.Entries(), loaded.Entries()) {
			t.Fatalf("no snapshot asked for: %v, %v, or other entries", reason, err)
		}
		resumed, rview, reason, err := ResumeWriter(ctx, l.facts, l.ledger, path)
		if err != nil || reason != nil {
			t.Fatalf("cut %d: resume: %v, %v", cut, err, reason)
		}
		sameAsRebuilt(t, l, resumed, rview)
		// The resumed writer carries on writing the ledger correctly.
		l.submit(t, all[more:])
		if err := resumed.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		sameAsRebuilt(t, l, resumed, rview)
	}
}

// A view loaded from the writer's snapshot knows the sizes of the writer's
// engine state then, for a replay to reserve room by; one read from the
// log alone knows none.
func TestTheSnapshotCarriesTheEngineSizes(t *testing.T) {
	ctx := context.Background()
	l, w, path := snapshotAfter(t, seedFacts(t))
	want := w.Sizes()
	if want.Orders == 0 || want.Visitors == 0 || want.Facts == 0 { // the seed's click ids are short: none is in the arena
		t.Fatalf("the seed's engine holds %+v", want)
	}
	loaded, reason, err := LoadLedgerView(ctx, l.ledger, path)
	if err != nil || reason != nil {
		t.Fatal(err, reason)
	}
	summed, reason, err := SumLedgerView(ctx, l.ledger, path, func(*ledger.Entry) {}, func() {})
	if err != nil || reason != nil {
		t.Fatal(err, reason)
	}
	for name, v := range map[string]*Ledger{"loaded": loaded, "summed": summed} {
		if got := v.FoldSizes(); got != want {
			t.Errorf("%s view: sizes %+v, the writer's were %+v", name, got, want)
		}
	}
	if none, _, err := LoadLedgerView(ctx, l.ledger, ""); err != nil || none.FoldSizes() != (ledger.Sizes{}) {
		t.Errorf("a view read from the log alone: sizes %+v, %v", none.FoldSizes(), err)
	}
}

func TestResumeWriterSaysWhyItRebuilt(t *testing.T) {
	ctx := context.Background()
	all := seedFacts(t)
	setup := func() (logs, string) {
		l, _, path := snapshotAfter(t, all)
		return l, path
	}
	resume := func(l logs, path string) error {
		w, view, reason, err := ResumeWriter(ctx, l.facts, l.ledger, path)
		if err != nil {
			t.Fatal(err)
		}
		sameAsRebuilt(t, l, w, view)
		return reason
	}

	l, path := setup()
	if reason := resume(l, filepath.Join(filepath.Dir(path), "none")); !errors.Is(reason, os.ErrNotExist) {
		t.Errorf("no snapshot: reason %v", reason)
	}
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 1
	os.WriteFile(path, data, 0o644)
	if reason := resume(l, path); !errors.Is(reason, snapshot.ErrUnusable) {
		t.Errorf("damaged snapshot: reason %v", reason)
	}

	// Another store's snapshot: the commits it names are not there.
	_, path = setup()
	other := newLogs(t)
	other.submit(t, all[:len(all)-3])
	if reason := resume(other, path); !errors.Is(reason, snapshot.ErrUnusable) {
		t.Errorf("another store's snapshot: reason %v", reason)
	}

}

// TestResumeWriterPastAReplay resumes from a snapshot taken before replays
// were applied: the engine is restated as a rebuild from the logs restates
// it, and the view still comes from the snapshot, whether facts came
// between the snapshot and the replay, after it, or neither, and with one
// replay or two in a row.
func TestResumeWriterPastAReplay(t *testing.T) {
	ctx := context.Background()
	all := seedFacts(t)
	cookiesOnly := ledger.DefaultPolicy()
	cookiesOnly.Tracking = events.TrackingCookiesOnly
	linkProgram := ledger.DefaultPolicy()
	linkProgram.ProgramBinding = events.BindingLinkProgram
	catchUp := func(l logs, facts []events.Fact) {
		t.Helper()
		l.submit(t, facts)
		w, err := OpenWriter(ctx, l.facts, l.ledger, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	third := len(all) / 3
	for _, tc := range []struct {
		name          string
		before, after []events.Fact // facts decided between the snapshot and the replays, and after them
		twice         bool
	}{
		{name: "replay right after the snapshot"},
		{name: "facts between", before: all[third : 2*third]},
		{name: "facts after", after: all[third:]},
		{name: "facts between and after", before: all[third : 2*third], after: all[2*third:]},
		{name: "two replays in a row", before: all[third : 2*third], after: all[2*third:], twice: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _, path := snapshotAfter(t, all[:third])
			catchUp(l, tc.before)
			appendReplay(t, l, "r1", cookiesOnly)
			if tc.twice {
				appendReplay(t, l, "r2", linkProgram)
			}
			catchUp(l, tc.after)
			w, view, reason, err := ResumeWriter(ctx, l.facts, l.ledger, path)
			if err != nil || reason != nil {
				t.Fatalf("resume past a replay: %v, %v", err, reason)
			}
			sameAsRebuilt(t, l, w, view)
			// The policy in force is the last replay's.
			want := cookiesOnly
			if tc.twice {
				want = linkProgram
			}
			if got := w.engine.Timeline().At(time.Now()).Policy; got != want {
				t.Errorf("policy in force after resuming = %+v, want %+v", got, want)
			}
		})
	}
}

// appendReplay appends a replay's record over the whole timeline, through
// every fact in the log, as an apply does: fenced, with a checkpoint. Its
// adjusting entries do not matter to a writer, and are left out.
func appendReplay(t testing.TB, l logs, id string, p ledger.Policy) ledger.ReplayApplied {
	t.Helper()
	ctx := context.Background()
	head, _ := l.facts.Head(ctx)
	ledgerHead, _ := l.ledger.Head(ctx)
	r := ledger.ReplayApplied{ReplayID: id, Policy: p, Whole: true, FactsThrough: head, LedgerAt: ledgerHead}
	rec, _ := json.Marshal(r)
	cp, _ := json.Marshal(ledger.Checkpoint{FactsThrough: head, FactsFolded: -1})
	_, err := l.ledger.Append(ctx, store.Commit{ID: "replay:" + id, Events: []store.Event{
		{ID: "replay:" + id + ":cp", Type: ledger.TypeCheckpoint, Data: cp},
		{ID: "replay:" + id, Type: ledger.TypeReplayApplied, Data: rec},
	}}, store.At(ledgerHead))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// snapshotMidway snapshots a writer halfway through facts, has it decide
// the rest, and returns the logs, the snapshot and the whole ledger read
// from the log.
func snapshotMidway(t *testing.T, facts []events.Fact) (logs, string, *Ledger) {
	t.Helper()
	l, w, path := snapshotAfter(t, facts[:len(facts)/2])
	l.submit(t, facts[len(facts)/2:])
	if err := w.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	full, err := LoadLedger(context.Background(), l.ledger)
	if err != nil {
		t.Fatal(err)
	}
	return l, path, full
}

// SumLedgerView hands on exactly the ledger's entries, in log order: from a
// snapshot and the log after it, from the log alone, and from the log
// after a snapshot that proved another store's only once decoded (what it
// had handed on is forgotten).
func TestSumLedgerViewHandsOnTheLedgersEntries(t *testing.T) {
	ctx := context.Background()
	all := seedFacts(t)
	l, path, full := snapshotMidway(t, all)
	sum := func(lg store.Log, path string) ([]ledger.Entry, int, *Ledger, error) {
		var got []ledger.Entry
		restarts := 0
		view, reason, err := SumLedgerView(ctx, lg, path, func(e *ledger.Entry) { got = append(got, *e) }, func() { got, restarts = nil, restarts+1 })
		if err != nil {
			t.Fatal(err)
		}
		if len(view.Entries()) != 0 {
			t.Error("a summing view kept entries")
		}
		return got, restarts, view, reason
	}
	for _, p := range []string{path, ""} {
		got, restarts, view, reason := sum(l.ledger, p)
		if reason != nil || restarts != 0 || !reflect.DeepEqual(got, full.Entries()) || view.Head() != full.Head() || !view.Timeline().SamePolicies(full.Timeline()) {
			t.Fatalf("snapshot %q: reason %v, %d restarts, head %d of %d, %d entries of %d", p, reason, restarts, view.Head(), full.Head(), len(got), len(full.Entries()))
		}
	}

	other := newLogs(t)
	other.submit(t, all[:len(all)-3])
	ow, err := OpenWriter(ctx, other.facts, other.ledger, NewLedger(other.ledger))
	if err != nil {
		t.Fatal(err)
	}
	if err := ow.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	otherFull, _ := LoadLedger(ctx, other.ledger)
	got, restarts, _, reason := sum(other.ledger, path)
	if !errors.Is(reason, snapshot.ErrUnusable) || restarts != 1 || !reflect.DeepEqual(got, otherFull.Entries()) {
		t.Fatalf("another store's snapshot: reason %v, %d restarts, %d entries of %d", reason, restarts, len(got), len(otherFull.Entries()))
	}
}

// LoadExplanations answers every order's explanation as the whole view
// does, from a snapshot and from the log alone, holding no entries.
func TestLoadExplanationsKeepsOnlyTheExplanations(t *testing.T) {
	ctx := context.Background()
	l, path, full := snapshotMidway(t, seedFacts(t))
	for _, p := range []string{path, ""} {
		view, reason, err := LoadExplanations(ctx, l.ledger, p)
		if err != nil || reason != nil || len(view.Entries()) != 0 {
			t.Fatalf("snapshot %q: %v, %v, %d entries kept", p, err, reason, len(view.Entries()))
		}
		orders := 0
		for _, e := range full.Entries() {
			if e.OrderID == "" {
				continue
			}
			orders++
			got, ok, err := view.Attribution(ctx, e.OrderID)
			want, _, _ := full.Attribution(ctx, e.OrderID)
			if !ok || err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("snapshot %q: the explanation of %s differs", p, e.OrderID)
			}
		}
		if orders == 0 {
			t.Fatal("the seed gave no orders to explain")
		}
	}
}

// FuzzLedgerViewSnapshot: whatever the bytes, a ledger view's snapshot
// body fails to decode or gives a view whose reads answer without
// panicking, kept or summed.
func FuzzLedgerViewSnapshot(f *testing.F) {
	logs, _, view := decided(f, seedFacts(f))
	var body, header bytes.Buffer
	enc := snapshot.NewEncoder(&body, writerSnapshotKind, writerSnapshotVersion)
	view.encodeSnapshot(enc)
	if err := enc.Finish(); err != nil {
		f.Fatal(err)
	}
	snapshot.NewEncoder(&header, writerSnapshotKind, writerSnapshotVersion).Finish()
	data := body.Bytes()
	f.Add(data[header.Len()-4 : len(data)-4])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		summed := 0
		lean := NewLeanLedger()
		lean.onEntry = func(*ledger.Entry) { summed++ }
		decodeLedgerSnapshot(snapshot.NewDecoder(data), lean)
		// Explanations are read from the real ledger log, at whatever
		// positions the bytes name.
		l, err := decodeLedgerSnapshot(snapshot.NewDecoder(data), NewLedger(logs.ledger))
		if err != nil {
			return
		}
		if summed != len(l.Entries()) {
			t.Fatalf("a summing view was handed %d entries, a kept one holds %d", summed, len(l.Entries()))
		}
		at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		l.Balances(at)
		l.Refusals()
		l.Timeline().At(at)
		l.Decided()
		l.Covers(l.Head() + 1)
		for _, e := range l.Entries() {
			if a, ok, _ := l.Attribution(ctx, e.OrderID); ok && a.OrderID != e.OrderID {
				t.Fatalf("the explanation of %s is %s's", e.OrderID, a.OrderID)
			}
		}
	})
}
