package projections

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/ingest"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/ledger"
)

// failingLog lets a real log take n appends, then fails, as a crash
// between two ledger commits would.
type failingLog struct {
	store.Log
	n int
}

var errCrash = errors.New("crash")

func (f *failingLog) Append(ctx context.Context, c store.Commit, exp store.Expected) (store.Appended, error) {
	if f.n == 0 {
		return store.Appended{}, errCrash
	}
	f.n--
	return f.Log.Append(ctx, c, exp)
}

// crashAfter runs a writer over the logs that crashes after n appends.
func crashAfter(ctx context.Context, t *testing.T, facts, ledgerLog store.Log, n int) {
	t.Helper()
	w, err := OpenWriter(ctx, facts, &failingLog{Log: ledgerLog, n: n}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.CatchUp(ctx); !errors.Is(err, errCrash) {
		t.Fatalf("catch-up = %v, want the crash", err)
	}
}

func fact(t *testing.T, id, typ, data string) events.Fact {
	t.Helper()
	f, err := events.Decode([]byte(fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"t","type":%q,"time":"2017-06-02T00:00:00Z","data":%s}`, id, typ, data)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestWriterResumesInsideAFactCommit makes one fact commit whose decisions
// need several ledger commits, crashes the writer after the first, and
// checks that a new writer finishes the job with no entry lost or doubled.
func TestWriterResumesInsideAFactCommit(t *testing.T) {
	ctx := context.Background()
	l := newLogs(t)
	facts, ledgerLog, in := l.facts, l.ledger, l.in
	catalog := []events.Fact{
		fact(t, "p", events.TypePartnerRegistered, `{"partner_id":"maria","name":"Maria"}`),
		fact(t, "g", events.TypeProgramDefined, `{"program_id":"scm","name":"SCM","priority":1,"default_rate":"10%"}`),
		fact(t, "e", events.TypePartnerEnrolled, `{"partner_id":"maria","program_id":"scm"}`),
		fact(t, "r", events.TypeReferralAssigned, `{"contact_id":"katie","partner_id":"maria"}`),
	}
	if _, err := in.Submit(ctx, catalog); err != nil {
		t.Fatal(err)
	}
	var orders []events.Fact
	for i := 0; i < ingest.MaxBatch; i++ {
		orders = append(orders, fact(t, fmt.Sprintf("o%d", i), events.TypeOrderPlaced, fmt.Sprintf(
			`{"order_id":"o%d","contact_id":"katie","currency":"USD","lines":[{"line_id":"a","product_id":"x","quantity":1,"amount":"10.00"},{"line_id":"b","product_id":"y","quantity":1,"amount":"20.00"}]}`, i)))
	}
	if _, err := in.Submit(ctx, orders); err != nil {
		t.Fatal(err)
	}
	// 1000 orders x (1 attribution + 2 entries) = 3000 records: more than
	// one ledger commit holds. Let the first commits through, then crash.
	crashAfter(ctx, t, facts, ledgerLog, 2)
	view := NewLedger(ledgerLog)
	w, err := OpenWriter(ctx, facts, ledgerLog, view)
	if err != nil {
		t.Fatal(err)
	}
	if w.next.index == 0 {
		t.Fatalf("the crash did not leave the writer inside a fact commit (cursor %+v): the test does not test what it says", w.next)
	}
	if err := w.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range view.Entries() {
		if seen[e.EntryID] {
			t.Fatalf("entry %s written twice", e.EntryID)
		}
		seen[e.EntryID] = true
	}
	if len(seen) != 2*ingest.MaxBatch {
		t.Fatalf("%d entries, want %d", len(seen), 2*ingest.MaxBatch)
	}
	if !view.Covers(2) {
		t.Error("the ledger does not say it covers the fact log")
	}
	// A third writer has nothing left to do.
	w, _ = OpenWriter(ctx, facts, ledgerLog, nil)
	head, _ := ledgerLog.Head(ctx)
	if err := w.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := ledgerLog.Head(ctx); again != head {
		t.Errorf("a caught-up writer appended %d more commits", again-head)
	}
	if _, ok, err := view.Attribution(ctx, "o999"); !ok || err != nil {
		t.Errorf("the last order has no explanation: %v", err)
	}
}

// A run of fact commits handed over together is decided in one ledger
// commit, with the same entries as one commit at a time; positions
// already folded are skipped, and a gap is refused.
func TestWriterDecidesARunInOneAppend(t *testing.T) {
	ctx := context.Background()
	all := seedFacts(t)
	decide := func(asRun bool) (*Ledger, store.Position) {
		l := newLogs(t)
		l.submit(t, all) // three facts a commit
		view := NewLedger(l.ledger)
		w, err := OpenWriter(ctx, l.facts, l.ledger, view)
		if err != nil {
			t.Fatal(err)
		}
		var run []FactCommit
		if err := ReadFacts(ctx, l.facts, w.Next(), 0, func(fc FactCommit) error { run = append(run, fc); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(run) < 3 {
			t.Fatalf("only %d fact commits to decide", len(run))
		}
		if asRun {
			if err := w.ApplyRun(ctx, run); err != nil {
				t.Fatal(err)
			}
			if err := w.ApplyRun(ctx, run); err != nil { // all folded already: nothing to do
				t.Fatal(err)
			}
		} else {
			for _, fc := range run {
				if err := w.Apply(ctx, fc); err != nil {
					t.Fatal(err)
				}
			}
		}
		gap := FactCommit{Position: w.Next() + 1}
		if err := w.ApplyRun(ctx, []FactCommit{gap}); err == nil {
			t.Error("a gap in the positions was not refused")
		}
		read, err := LoadLedger(ctx, l.ledger)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(read.Entries(), view.Entries()) {
			t.Fatal("the writer's view differs from the ledger log")
		}
		head, _ := l.ledger.Head(ctx)
		return read, head
	}
	one, oneHead := decide(false)
	run, runHead := decide(true)
	if !reflect.DeepEqual(one.Entries(), run.Entries()) || len(run.Entries()) == 0 {
		t.Fatal("a run decided other entries than one commit at a time")
	}
	if runHead != 1 || oneHead <= runHead {
		t.Errorf("a run took %d ledger commits, one at a time %d: want 1, and fewer", runHead, oneHead)
	}
}

// TestAdoptReplayIsARebuild: a writer that takes a replay's own fold (as
// the service's does after an apply) stands where a writer rebuilt from
// the logs stands, and writes the same ledger after, whether or not it
// had folded facts past the replay's (facts that made no record); a
// ledger that holds anything else after the writer's last append is
// refused, and the writer is left to be rebuilt.
func TestAdoptReplayIsARebuild(t *testing.T) {
	ctx := context.Background()
	all := seedFacts(t)
	cookiesOnly := ledger.DefaultPolicy()
	cookiesOnly.Tracking = events.TrackingCookiesOnly
	// fold is what an apply leaves: every fact the what-if covered, under
	// the replay's timeline, explaining nothing.
	fold := func(l logs, view *Ledger, through store.Position) *ledger.Engine {
		e := ledger.NewEngine(view.Timeline().WithCandidate("r1", cookiesOnly, time.Time{}, true))
		e.StateOnly()
		if err := ReadFacts(ctx, l.facts, 1, through, func(fc FactCommit) error { Fold(e, fc); return nil }); err != nil {
			t.Fatal(err)
		}
		return e
	}
	click := fact(t, "late-click", events.TypeClickRecorded, `{"click_id":"clk-late","link_code":"maria-scm","visitor_id":"v-late"}`)
	for _, clicksAfter := range []bool{false, true} {
		half := len(all) / 2
		l, w, view := decided(t, all[:half])
		through, _ := l.facts.Head(ctx)
		engine := fold(l, view, through)
		if clicksAfter {
			// The live writer folded a click after the what-if: no record,
			// so no append.
			l.submit(t, []events.Fact{click})
			head, _ := l.facts.Head(ctx)
			if err := ReadFacts(ctx, l.facts, head, head, func(fc FactCommit) error { return w.Apply(ctx, fc) }); err != nil {
				t.Fatal(err)
			}
			if ledgerHead, _ := l.ledger.Head(ctx); ledgerHead != w.LedgerHead() {
				t.Fatal("a click made the writer append: the test does not test what it says")
			}
		}
		r := appendReplay(t, l, "r1", cookiesOnly)
		r.FactsThrough = through
		if err := w.AdoptReplay(ctx, r, engine); err != nil {
			t.Fatalf("adopt (clicks after: %v): %v", clicksAfter, err)
		}
		if err := w.Checkpoint(ctx); err != nil { // as the live writer's idle tick does
			t.Fatal(err)
		}
		sameAsRebuilt(t, l, w, view)
		l.submit(t, all[half:])
		if err := w.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		sameAsRebuilt(t, l, w, view)
	}

	// Anything after the writer's last append but the replay's own
	// commits is refused.
	l, w, view := decided(t, all)
	through, _ := l.facts.Head(ctx)
	engine := fold(l, view, through)
	other, err := OpenWriter(ctx, l.facts, l.ledger, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.submit(t, []events.Fact{click})
	if err := other.CatchUp(ctx); err != nil { // another writer's checkpoint
		t.Fatal(err)
	}
	r := appendReplay(t, l, "r1", cookiesOnly)
	if err := w.AdoptReplay(ctx, r, engine); !errors.Is(err, errNotAdoptable) {
		t.Fatalf("adopt past another writer's commit = %v, want refused", err)
	}
}

// TestCatchUpSpansFactCommits: catching up over many small fact commits
// writes ledger commits up to the commit bounds, not one per fact commit,
// and the view the writer fed is the ledger log's.
func TestCatchUpSpansFactCommits(t *testing.T) {
	ctx := context.Background()
	l := newLogs(t)
	catalog := []events.Fact{
		fact(t, "p", events.TypePartnerRegistered, `{"partner_id":"maria","name":"Maria"}`),
		fact(t, "g", events.TypeProgramDefined, `{"program_id":"scm","name":"SCM","priority":1,"default_rate":"10%"}`),
		fact(t, "e", events.TypePartnerEnrolled, `{"partner_id":"maria","program_id":"scm"}`),
		fact(t, "r", events.TypeReferralAssigned, `{"contact_id":"katie","partner_id":"maria"}`),
	}
	if _, err := l.in.Submit(ctx, catalog); err != nil {
		t.Fatal(err)
	}
	const commits, perCommit = 100, 10
	for c := 0; c < commits; c++ {
		var orders []events.Fact
		for i := 0; i < perCommit; i++ {
			id := fmt.Sprintf("o%d-%d", c, i)
			orders = append(orders, fact(t, id, events.TypeOrderPlaced, fmt.Sprintf(
				`{"order_id":%q,"contact_id":"katie","currency":"USD","lines":[{"line_id":"a","product_id":"x","quantity":1,"amount":"10.00"}]}`, id)))
		}
		if _, err := l.in.Submit(ctx, orders); err != nil {
			t.Fatal(err)
		}
	}
	_, view := l.decideAll(t)
	// 1000 orders x (an explanation and an entry) = 2000 records, about
	// 1.5 MB: a few ledger commits (the byte bound cuts), not 100.
	if head, _ := l.ledger.Head(ctx); head > 5 {
		t.Errorf("%d ledger commits for %d fact commits: catch-up did not gather them", head, commits+1)
	}
	read, err := LoadLedger(ctx, l.ledger)
	if err != nil {
		t.Fatal(err)
	}
	if len(view.Entries()) != commits*perCommit || !reflect.DeepEqual(read.Entries(), view.Entries()) {
		t.Fatalf("the writer's view holds %d entries, the log %d: want %d, the same", len(view.Entries()), len(read.Entries()), commits*perCommit)
	}
	if !view.Covers(commits+1) || !read.Covers(commits+1) {
		t.Error("the ledger does not say it covers the fact log")
	}
}

// One fact whose decisions are more than a commit holds (an order of a
// thousand lines, each earning three tiers) is written in parts. A writer
// that crashes between parts leaves orphans that readers drop; the next
// writer decides the fact again and its parts are taken, once.
func TestWriterWritesALargeFactInParts(t *testing.T) {
	ctx := context.Background()
	l := newLogs(t)
	facts, ledgerLog, in := l.facts, l.ledger, l.in
	lines := make([]string, 1000)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"line_id":"%d","product_id":"x","quantity":1,"amount":"1.00"}`, i)
	}
	batch := []events.Fact{
		fact(t, "p0", events.TypePartnerRegistered, `{"partner_id":"boss","name":"Boss"}`),
		fact(t, "p1", events.TypePartnerRegistered, `{"partner_id":"sam","name":"Sam","parent_partner_id":"boss"}`),
		fact(t, "p2", events.TypePartnerRegistered, `{"partner_id":"kim","name":"Kim","parent_partner_id":"sam"}`),
		fact(t, "g", events.TypeProgramDefined, `{"program_id":"main","name":"Main","priority":1,"default_rate":"10%","tier_rates":["5%","2%"]}`),
		fact(t, "e", events.TypePartnerEnrolled, `{"partner_id":"kim","program_id":"main"}`),
		fact(t, "r", events.TypeReferralAssigned, `{"contact_id":"katie","partner_id":"kim"}`),
	}
	if _, err := in.Submit(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Submit(ctx, []events.Fact{fact(t, "big", events.TypeOrderPlaced,
		`{"order_id":"big","contact_id":"katie","currency":"USD","lines":[`+strings.Join(lines, ",")+`]}`)}); err != nil {
		t.Fatal(err)
	}
	// The catalog's commit, then the first part of the order's: then a crash.
	crashAfter(ctx, t, facts, ledgerLog, 2)
	orphans, _ := ledgerLog.Head(ctx)
	view := NewLedger(ledgerLog)
	w, err := OpenWriter(ctx, facts, ledgerLog, view)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(view.Entries()); n != 0 || !view.ApplyingReplay() {
		t.Fatalf("after the crash the view took %d entries of an orphan part (holding: %v)", n, view.ApplyingReplay())
	}
	if err := w.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	head, _ := ledgerLog.Head(ctx)
	if head-orphans < 3 {
		t.Fatalf("the order took %d commits after the orphan, want parts", head-orphans)
	}
	check := func(what string, view *Ledger) {
		t.Helper()
		seen := map[string]bool{}
		for _, e := range view.Entries() {
			if seen[e.EntryID] {
				t.Fatalf("%s: entry %s taken twice", what, e.EntryID)
			}
			seen[e.EntryID] = true
		}
		if len(seen) != 3000 || view.ApplyingReplay() || !view.Covers(2) {
			t.Errorf("%s: %d entries, holding %v, covers the facts %v; want 3000, false, true", what, len(seen), view.ApplyingReplay(), view.Covers(2))
		}
		if _, ok, err := view.Attribution(ctx, "big"); !ok || err != nil {
			t.Errorf("%s: the order has no explanation: %v", what, err)
		}
	}
	check("the live view", view)
	again := NewLedger(ledgerLog)
	if _, err := OpenWriter(ctx, facts, ledgerLog, again); err != nil {
		t.Fatal(err)
	}
	check("a view read from the log", again)
}
