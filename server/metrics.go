package server

import (
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/refledger/refledger/events/ingest"
)

// metrics are the service's Prometheus metrics, on a registry of the
// Server's own: a process may run many servers (tests do), and each
// exports only its own. Every labelled series that alerts may read exists
// from the start, at zero, so that "absent" never stands for "none yet".
// The names of the hand-written exposition that came before are kept:
// dashboards read them.
type metrics struct {
	reg           *prometheus.Registry
	ingested      *prometheus.CounterVec // path, outcome
	clicks        prometheus.Counter
	headRedirects prometheus.Counter // redirects that recorded no click: a HEAD
	botRedirects  prometheus.Counter // and a preview agent (previewAgents)
	appendLatency prometheus.Histogram
	applies       *prometheus.CounterVec // replay applies by outcome
	whatIfs       *prometheus.CounterVec // what-ifs run, by outcome
	http          *prometheus.HistogramVec
}

// Ways events come in (the path label of refledger_ingest_total).
const (
	pathHTTP   = "http"   // POST /v1/events and the operator's POSTs
	pathNATS   = "nats"   // a NATS request, answered
	pathIntake = "intake" // the NATS intake stream, acknowledged
)

var (
	ingestPaths    = []string{pathHTTP, pathNATS, pathIntake}
	ingestOutcomes = []string{string(ingest.Accepted), string(ingest.Duplicate), string(ingest.Rejected)}
	applyOutcomes  = []string{"applied", "recomputed", "already_applied", "conflict", "failed"}
	problemKinds   = []string{problemFactLog, problemLedgerLog, problemForeign, problemIngestion, problemIntake, problemWriter, problemStuck, problemBehind}
)

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refledger_ingest_total",
			Help: "Events submitted, by the way they came in (http, nats, intake) and outcome (accepted, duplicate, rejected).",
		}, []string{"path", "outcome"}),
		clicks: prometheus.NewCounter(prometheus.CounterOpts{Name: "refledger_clicks_total", Help: "Clicks redirected and recorded."}),
		appendLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "refledger_append_seconds",
			Help:    "Time to make an ingest batch durable.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1},
		}),
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refledger_replay_applies_total",
			Help: "Replay applies asked for, by outcome (applied, recomputed: applied after the what-if was run again, already_applied, conflict, failed).",
		}, []string{"outcome"}),
		whatIfs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "refledger_replay_whatifs_total",
			Help: "Replay what-ifs run, by outcome (done, failed).",
		}, []string{"outcome"}),
		http: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "refledger_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern (unmatched: no route) and status code.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10},
		}, []string{"route", "code"}),
	}
	unrecorded := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "refledger_redirects_unrecorded_total",
		Help: "Redirects answered without recording a click, by reason (head: a HEAD request; bot: a link-preview fetcher or crawler).",
	}, []string{"reason"})
	m.headRedirects, m.botRedirects = unrecorded.WithLabelValues(reasonHead), unrecorded.WithLabelValues(reasonBot)
	for _, p := range ingestPaths {
		for _, o := range ingestOutcomes {
			m.ingested.WithLabelValues(p, o)
		}
	}
	for _, o := range applyOutcomes {
		m.applies.WithLabelValues(o)
	}
	m.whatIfs.WithLabelValues("done")
	m.whatIfs.WithLabelValues("failed")
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(),
		m.ingested, m.clicks, unrecorded, m.appendLatency, m.applies, m.whatIfs, m.http,
	)
	return m
}

// buildInfo is refledger_build_info: 1, labelled with the module version
// and VCS revision the binary was built from, and the Go version.
func buildInfo() prometheus.Collector {
	version, revision := "(devel)", "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	return prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "refledger_build_info",
		Help:        "Always 1: the version and VCS revision refledger was built from, and the Go version.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
}

// watch registers the metrics read from the running service when
// scraped: the ledger's lag, the writer's pauses, and readiness.
func (m *metrics) watch(s *Server) {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.reg.MustRegister(
		gauge("refledger_engine_lag_commits", "Fact-log commits not yet folded into the ledger.", func() float64 { return float64(s.live.lag()) }),
		gauge("refledger_ledger_lag_facts", "Facts read from the fact log since the start that the ledger has yet to decide.", func() float64 { return float64(s.live.lagClock.facts(s.live.factsFolded.Load())) }),
		gauge("refledger_ledger_lag_seconds", "How long the oldest fact commit the ledger has yet to decide has waited since the service read it (0: none waits).", func() float64 {
			return s.live.lagClock.age(s.live.factsFolded.Load(), time.Now()).Seconds()
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "refledger_ledger_paused_seconds_total",
			Help: "Time the live ledger writer spent paused for replay applies (facts were taken in, and decided after).",
		}, func() float64 { return time.Duration(s.live.pausedNanos.Load()).Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "refledger_ledger_read_back_commits_total",
			Help: "Fact commits the ledger writer read back from the fact log, not handed over while it was paused or rebuilding.",
		}, func() float64 { return float64(s.live.handedOverLate.Load()) }),
		gauge("refledger_ready", "1 when /readyz answers 200: caught up with the fact log as it stood at start, and no problem stands; 0 otherwise.", func() float64 {
			return boolFloat(len(s.health.list()) == 0 && s.live.ready())
		}),
	)
	for _, kind := range problemKinds {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "refledger_problem",
			Help:        "1 while the problem of this kind stands (see /readyz for its reason), 0 otherwise.",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, func() float64 { _, bad := s.health.has(kind); return boolFloat(bad) }))
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (m *metrics) countIngest(path, outcome string) {
	m.ingested.WithLabelValues(path, outcome).Inc()
}

func (m *metrics) countUnrecorded(reason string) {
	if reason == reasonHead {
		m.headRedirects.Inc()
	} else {
		m.botRedirects.Inc()
	}
}

func (m *metrics) countApply(outcome string) {
	m.applies.WithLabelValues(outcome).Inc()
}
