package server

import (
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"sync/atomic"
)

// metrics are exported in the Prometheus text format. They are few, so they
// are written by hand rather than through a client library.
type metrics struct {
	mu            sync.Mutex
	ingested      map[string]uint64 // outcome -> count
	clicks        atomic.Uint64
	headRedirects atomic.Uint64 // redirects that recorded no click: a HEAD
	botRedirects  atomic.Uint64 // and a preview agent (previewAgents)
	appendLatency *histogram
	engineLag     func() uint64
	applies       map[string]uint64 // replay applies by outcome
	writerPaused  func() float64    // seconds the live writer spent paused
	readBack      func() uint64     // commits the writer read back from the fact log
}

func newMetrics() *metrics {
	return &metrics{
		ingested:      map[string]uint64{},
		applies:       map[string]uint64{},
		appendLatency: newHistogram([]float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}),
	}
}

func (m *metrics) countIngest(outcome string, n int) {
	m.mu.Lock()
	m.ingested[outcome] += uint64(n)
	m.mu.Unlock()
}

func (m *metrics) countUnrecorded(reason string) {
	if reason == reasonHead {
		m.headRedirects.Add(1)
	} else {
		m.botRedirects.Add(1)
	}
}

func (m *metrics) countApply(outcome string) {
	m.mu.Lock()
	m.applies[outcome]++
	m.mu.Unlock()
}

func (m *metrics) write(w io.Writer) {
	m.mu.Lock()
	writeByOutcome(w, "refledger_ingest_total", "Events submitted, by outcome.", m.ingested)
	writeByOutcome(w, "refledger_replay_applies_total", "Replay applies asked for, by outcome (applied, recomputed: applied after the what-if was run again, already_applied, conflict, failed).", m.applies)
	m.mu.Unlock()
	fmt.Fprintln(w, "# HELP refledger_clicks_total Clicks redirected and recorded.")
	fmt.Fprintln(w, "# TYPE refledger_clicks_total counter")
	fmt.Fprintf(w, "refledger_clicks_total %d\n", m.clicks.Load())
	fmt.Fprintln(w, "# HELP refledger_redirects_unrecorded_total Redirects answered without recording a click, by reason (head: a HEAD request; bot: a link-preview fetcher or crawler).")
	fmt.Fprintln(w, "# TYPE refledger_redirects_unrecorded_total counter")
	fmt.Fprintf(w, "refledger_redirects_unrecorded_total{reason=%q} %d\n", reasonBot, m.botRedirects.Load())
	fmt.Fprintf(w, "refledger_redirects_unrecorded_total{reason=%q} %d\n", reasonHead, m.headRedirects.Load())
	if m.engineLag != nil {
		fmt.Fprintln(w, "# HELP refledger_engine_lag_commits Fact-log commits not yet folded into the ledger.")
		fmt.Fprintln(w, "# TYPE refledger_engine_lag_commits gauge")
		fmt.Fprintf(w, "refledger_engine_lag_commits %d\n", m.engineLag())
	}
	if m.writerPaused != nil {
		fmt.Fprintln(w, "# HELP refledger_ledger_paused_seconds_total Time the live ledger writer spent paused for replay applies (facts were taken in, and decided after).")
		fmt.Fprintln(w, "# TYPE refledger_ledger_paused_seconds_total counter")
		fmt.Fprintf(w, "refledger_ledger_paused_seconds_total %g\n", math.Round(m.writerPaused()*1e6)/1e6)
	}
	if m.readBack != nil {
		fmt.Fprintln(w, "# HELP refledger_ledger_read_back_commits_total Fact commits the ledger writer read back from the fact log, not handed over while it was paused or rebuilding.")
		fmt.Fprintln(w, "# TYPE refledger_ledger_read_back_commits_total counter")
		fmt.Fprintf(w, "refledger_ledger_read_back_commits_total %d\n", m.readBack())
	}
	m.appendLatency.write(w, "refledger_append_seconds", "Time to make an ingest batch durable.")
}

// writeByOutcome writes a counter labelled by outcome, outcomes in order.
func writeByOutcome(w io.Writer, name, help string, counts map[string]uint64) {
	outcomes := make([]string, 0, len(counts))
	for o := range counts {
		outcomes = append(outcomes, o)
	}
	sort.Strings(outcomes)
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
	for _, o := range outcomes {
		fmt.Fprintf(w, "%s{outcome=%q} %d\n", name, o, counts[o])
	}
}

type histogram struct {
	mu      sync.Mutex
	bounds  []float64
	buckets []uint64
	count   uint64
	sum     float64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, buckets: make([]uint64, len(bounds))}
}

func (h *histogram) observe(v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, b := range h.bounds {
		if v <= b {
			h.buckets[i]++
		}
	}
	h.count++
	h.sum += v
}

func (h *histogram) write(w io.Writer, name, help string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	for i, b := range h.bounds {
		fmt.Fprintf(w, "%s_bucket{le=\"%g\"} %d\n", name, b, h.buckets[i])
	}
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", name, h.count, name, math.Round(h.sum*1e6)/1e6, name, h.count)
}
