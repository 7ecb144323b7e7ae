package ledger

import (
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/internal/synth"
)

// benchScale divides the standard 10M-event history: REFLEDGER_BENCH_SCALE=1
// is the full size of the speed goals (several GiB of decoded facts held in
// memory), the default 10 a tenth of it.
func benchScale() int {
	if n, err := strconv.Atoi(os.Getenv("REFLEDGER_BENCH_SCALE")); err == nil && n > 0 {
		return n
	}
	return 10
}

// benchHistory is the synthetic history of the fold benchmarks, decoded
// from its stored bytes as a replay decodes them (a click's strings share
// its bytes), so that the facts lie in memory as the engine meets them
// there, not as the generator made them; and those bytes.
func benchHistory(b *testing.B) (facts []events.Fact, raws [][]byte) {
	cfg := synth.Standard().Scaled(benchScale())
	facts, raws = make([]events.Fact, 0, cfg.Total()), make([][]byte, 0, cfg.Total())
	dec := events.StoredDecoder{TransientClicks: true}
	synth.Generate(cfg, func(f events.Fact) {
		raw := events.EncodeStored(f)
		decoded, err := dec.Decode(f.Type, raw)
		if err != nil {
			b.Fatal(err)
		}
		facts = append(facts, decoded)
		raws = append(raws, raw)
	})
	return facts, raws
}

// BenchmarkFold folds a synthetic history of decoded facts held in memory
// (8M clicks and 1M orders at full scale) on one goroutine, four times:
// as the ledger writer does, with every entry and explanation, the
// explanations' memory taken back at each fact (ApplyTransient; events/s);
// the same with every explanation in memory of its own (Apply, as imports
// and reports fold; allocating-events/s); keeping state only
// (state-only-events/s); and as a what-if does, keeping
// state only with room reserved for the state the first fold ended with
// (reserved-events/s: a replay takes the live engine's sizes). It reports the
// attribution state's bytes per click, the bytes the full and state-only
// folds allocate per fact, and beside it all the bare cost of
// walking the same facts, measured in the same run. Every fold hints the
// facts ahead of the one it applies (Engine.HintAhead), as the writer,
// imports and replays do.
//
// A first fold, as the writer does, goes before them and is reported on its
// own (first-events/s): it runs on memory the process has never touched
// (page faults, fresh spans), which made it a quarter to two fifths slower
// at full scale than the same fold run again (one first fold took 522,000
// faults and 6.6 s of system time: a first touch costs a virtual machine
// far more than a fault on memory it has backed before), and would
// otherwise be charged to whichever mode came first.
func BenchmarkFold(b *testing.B) {
	facts, raws := benchHistory(b)
	fold := func(how foldMode, sizes Sizes) (e *Engine, took time.Duration, kept, allocated float64) {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		e = NewEngine(nil)
		e.Reserve(sizes)
		if how == stateOnly {
			e.StateOnly()
		}
		apply := e.Apply
		if how == transient {
			apply = e.ApplyTransient
		}
		start := time.Now()
		for j, f := range facts {
			e.HintAhead(facts, raws, j) // as the writer does
			apply(f, raws[j])
		}
		took = time.Since(start)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		n := float64(len(facts))
		return e, took, float64(after.HeapAlloc-before.HeapAlloc) / n, float64(after.TotalAlloc-before.TotalAlloc) / n
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		sum := 0
		for j := range facts {
			sum += len(raws[j]) + len(facts[j].Type)
		}
		walk := time.Since(start)
		_, first, _, _ := fold(transient, Sizes{})
		e, full, perEvent, fullAllocated := fold(transient, Sizes{})
		b.ReportMetric(float64(e.State().ClickBytes())/float64(e.State().Clicks()), "click-bytes")
		b.ReportMetric(perEvent, "state-bytes/event")
		sizes := e.State().Sizes()
		e = nil
		_, plain, _, _ := fold(allocating, Sizes{})
		_, lean, _, leanAllocated := fold(stateOnly, Sizes{})
		_, reserved, _, _ := fold(stateOnly, sizes)
		// What the full fold allocates beyond the state-only one is the
		// entries and the strings of the explanations it hands out (the
		// explanations themselves reuse memory): at ten million facts most
		// of it is memory the caches have never held, and writing it is
		// much of the full fold's cost.
		b.ReportMetric(fullAllocated, "alloc-bytes/event")
		b.ReportMetric(leanAllocated, "state-only-alloc-bytes/event")
		b.ReportMetric(float64(len(facts))/first.Seconds(), "first-events/s")
		b.ReportMetric(float64(len(facts))/full.Seconds(), "events/s")
		b.ReportMetric(float64(len(facts))/plain.Seconds(), "allocating-events/s")
		b.ReportMetric(float64(len(facts))/lean.Seconds(), "state-only-events/s")
		b.ReportMetric(float64(len(facts))/reserved.Seconds(), "reserved-events/s")
		b.ReportMetric(float64(len(facts))/walk.Seconds(), "walk-events/s")
		_ = sum
	}
}

// foldMode is how a fold benchmark folds.
type foldMode int

const (
	transient  foldMode = iota // fully, with Engine.ApplyTransient, as the ledger writer does
	allocating                 // fully, with Engine.Apply
	stateOnly                  // keeping state only (Engine.StateOnly)
)

// BenchmarkFoldByType folds the same synthetic history as BenchmarkFold
// (REFLEDGER_BENCH_SCALE=1 for the full 10M facts), fully and keeping state
// only, after a first full fold that warms the memory, and reports what
// one fact of each common type costs: where the fold's time goes, which
// the whole-fold figures hide (orders are a tenth of the facts and most of
// the time). Each fact is timed on its own, so every figure includes the
// cost of reading the clock twice, reported beside them as timer-ns. The
// hints (Engine.HintAhead) are not timed: a change that moves work into
// them shows here as a gain that BenchmarkFold, which times them, may not
// confirm (one that walked each order's click chain ahead in the hints cut
// an order from 9.2 to 6.3 µs here and left the whole fold unchanged).
func BenchmarkFoldByType(b *testing.B) {
	facts, raws := benchHistory(b)
	kinds := []struct{ typ, name string }{
		{events.TypeClickRecorded, "click"}, {events.TypeOrderPlaced, "order"}, {events.TypeContactIdentified, "identified"},
		{events.TypePaymentReceived, "payment"}, {events.TypeOrderRefunded, "refund"},
	}
	fold := func(how foldMode) map[string]time.Duration {
		runtime.GC()
		e := NewEngine(nil)
		if how == stateOnly {
			e.StateOnly()
		}
		apply := e.Apply
		if how == transient {
			apply = e.ApplyTransient
		}
		took := map[string]time.Duration{}
		for j, f := range facts {
			e.HintAhead(facts, raws, j)
			start := time.Now()
			apply(f, raws[j])
			took[f.Type] += time.Since(start)
		}
		return took
	}
	counts := map[string]int{}
	for _, f := range facts {
		counts[f.Type]++
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fold(transient) // first: memory the process has never touched
		full, lean := fold(transient), fold(stateOnly)
		start := time.Now()
		for range len(facts) {
			_ = time.Since(time.Now())
		}
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(len(facts)), "timer-ns")
		for _, k := range kinds {
			if n := counts[k.typ]; n > 0 {
				b.ReportMetric(float64(full[k.typ].Nanoseconds())/float64(n), k.name+"-ns")
				b.ReportMetric(float64(lean[k.typ].Nanoseconds())/float64(n), k.name+"-state-only-ns")
			}
		}
	}
}
