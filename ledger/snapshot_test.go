package ledger

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/internal/snapshot"
)

func encodeEngine(t testing.TB, e *Engine) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := snapshot.NewEncoder(&buf, "engine-test", 1)
	e.EncodeSnapshot(w)
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decodeEngine(data []byte) (*Engine, error) {
	var e *Engine
	err := snapshot.Decode(data, "engine-test", 1, func(r *snapshot.Decoder) error {
		var err error
		e, err = DecodeSnapshot(r)
		return err
	})
	return e, err
}

func records(out Output) []byte {
	var b bytes.Buffer
	for _, r := range out.Records() {
		b.WriteString(r.ID + " " + r.Type + " ")
		b.Write(r.Data)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// checkSnapshotResumes folds facts[:cut], snapshots, restores, folds the
// rest, and requires the restored engine to answer exactly as the engine
// that never stopped: the same records, and the same snapshot at the end.
func checkSnapshotResumes(t *testing.T, facts []events.Fact, cut int, tl *Timeline) {
	t.Helper()
	straight, _ := foldAll(facts[:cut], tl)
	data := encodeEngine(t, straight)
	restored, err := decodeEngine(data)
	if err != nil {
		t.Fatalf("cut %d: restore: %v", cut, err)
	}
	if again := encodeEngine(t, restored); !bytes.Equal(again, data) {
		t.Fatalf("cut %d: a restored engine snapshots to other bytes", cut)
	}
	// A restore keeps the orders as placed (EachShare walks them so).
	for i, o := range straight.state.orders.list {
		if got := restored.state.orders.list[i].id; got != o.id {
			t.Fatalf("cut %d: order %d restored as %s, placed as %s", cut, i, got, o.id)
		}
	}
	for i, f := range facts[cut:] {
		want, got := records(straight.Apply(f, nil)), records(restored.Apply(f, nil))
		if !bytes.Equal(got, want) {
			t.Fatalf("cut %d, fact %d (%s): after restore\n%s\nwithout\n%s", cut, cut+i, f.Type, got, want)
		}
	}
	if !bytes.Equal(encodeEngine(t, straight), encodeEngine(t, restored)) {
		t.Fatalf("cut %d: the engines' states differ at the end", cut)
	}
}

func TestSnapshotResumesExactly(t *testing.T) {
	for seed := int64(1); seed <= 12; seed++ {
		facts := generate(seed, 300)
		for _, cut := range []int{0, 20, len(facts) / 2, len(facts) - 1, len(facts)} {
			checkSnapshotResumes(t, facts, cut, nil)
		}
	}
	seed := loadFacts(t, filepath.Join("..", "testdata", "scenarios", "seed", "events.jsonl"))
	for cut := range len(seed) + 1 {
		checkSnapshotResumes(t, seed, cut, nil)
	}
	// A replay's engine: a fixed timeline, kept through the snapshot.
	tl := NewTimeline().WithCandidate("r1", Policy{Tracking: events.TrackingCookiesOnly, Credit: "first", CookieDays: 30,
		ReferralDays: 90, ProgramBinding: "partner-programs", SelfReferral: "reject", HoldingDays: 30, PayoutBasis: events.PayoutBasisUpfront}, time.Date(2017, 6, 1, 0, 0, 0, 0, time.UTC), false)
	checkSnapshotResumes(t, seed, len(seed)/2, tl)
}

func TestDamagedSnapshotsAreRefused(t *testing.T) {
	e, _ := foldAll(generate(3, 200), nil)
	data := encodeEngine(t, e)
	for _, cut := range []int{1, len(data) / 3, len(data) - 5} {
		if _, err := decodeEngine(data[:cut]); err == nil {
			t.Errorf("a snapshot cut at %d of %d bytes was accepted", cut, len(data))
		}
	}
}

// FuzzDecodeSnapshot: whatever the bytes, restoring fails cleanly or gives
// an engine that can fold on and snapshot again.
func FuzzDecodeSnapshot(f *testing.F) {
	var header bytes.Buffer
	snapshot.NewEncoder(&header, "engine-test", 1).Finish()
	body := func(data []byte) []byte { return data[header.Len()-4 : len(data)-4] }
	e, _ := foldAll(generate(5, 120), nil)
	f.Add(body(encodeEngine(f, e)))
	f.Add(body(encodeEngine(f, NewEngine(nil))))
	more := generate(6, 60)
	f.Fuzz(func(t *testing.T, data []byte) {
		// Skip the checksum so that the fuzzer reaches the body decoder.
		e, err := DecodeSnapshot(snapshot.NewDecoder(data))
		if err != nil {
			return
		}
		for _, f := range more {
			e.Apply(f, nil)
		}
		encodeEngine(t, e)
	})
}

// TestPrefetchChangesNothing folds random histories twice, once hinting
// facts ahead as the writer does (HintAhead, with and without their stored
// bytes) and also facts that never come or came long ago: every fact's
// records and the final state must be the same.
func TestPrefetchChangesNothing(t *testing.T) {
	for seed := int64(1); seed <= 12; seed++ {
		facts := generate(seed, 300)
		raws := make([][]byte, len(facts))
		for i, f := range facts {
			raws[i] = events.EncodeStored(f)
		}
		plain, hinted := NewEngine(nil), NewEngine(nil)
		for i, f := range facts {
			if seed%2 == 0 {
				hinted.HintAhead(facts, raws, i)
			} else {
				hinted.HintAhead(facts, nil, i)
			}
			hinted.HintAhead(facts, raws[:i/2], (i*7)%len(facts))
			hinted.Prefetch(&events.Fact{})
			hintFact(&events.Fact{}, nil)
			want, got := records(plain.Apply(f, nil)), records(hinted.Apply(f, nil))
			if !bytes.Equal(got, want) {
				t.Fatalf("seed %d, fact %d (%s): hinted\n%s\nplain\n%s", seed, i, f.Type, got, want)
			}
		}
		if !bytes.Equal(encodeEngine(t, plain), encodeEngine(t, hinted)) {
			t.Fatalf("seed %d: the states differ at the end", seed)
		}
	}
}

// A click holds an id of up to inlineID bytes itself and keeps a longer one
// in the arena: ids on both sides of the bound, and multi-byte ones across
// it, come back whole in explanations and entries, and through a snapshot.
func TestClickIDsOfEveryLengthComeBack(t *testing.T) {
	h := newHistory(t, "")
	ids := []string{"k", strings.Repeat("a", inlineID-1), strings.Repeat("b", inlineID), strings.Repeat("c", inlineID+1),
		strings.Repeat("é", 7) + "x", strings.Repeat("ü", 8), "click-" + strings.Repeat("0123456789", 10)}
	long := 0
	for i, id := range ids {
		if len(id) > inlineID {
			long += len(id)
		}
		visitor := fmt.Sprintf("v%d", i)
		h.click(id, "roger-event", visitor, "2017-03-01T10:00:00Z")
		out := h.order(fmt.Sprintf("o%d", i), visitor, "", "ticket", "100.00", "2017-03-02T10:00:00Z")
		if len(out.Entries) != 1 || out.Entries[0].ClickID != id || out.Attributions[0].ClickID != id || out.Attributions[0].Candidates[0].ClickID != id {
			t.Fatalf("click id %q (%d bytes) came back as %q", id, len(id), who(t, out))
		}
	}
	if got := h.e.State().Sizes().ClickIDBytes; got != long {
		t.Errorf("the arena holds %d bytes of ids, want the %d of those longer than %d", got, long, inlineID)
	}
	for cut := range len(h.facts) + 1 {
		checkSnapshotResumes(t, h.facts, cut, nil)
	}
}
