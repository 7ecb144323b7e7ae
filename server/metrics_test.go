package server

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// scrape answers GET /metrics from a running service that has redirected
// one click, and returns the exposition.
func scrape(t *testing.T) string {
	t.Helper()
	srv := linkServer(t, Config{})
	h := srv.Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/r/maria-scm", nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("redirect: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// families are the metric names in an exposition.
func families(t *testing.T, exposition string) map[string]bool {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(exposition))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	names := map[string]bool{}
	for name := range fams {
		names[name] = true
	}
	return names
}

// TestMetricsLint is `promtool check metrics` over a real scrape: no
// problem, the Go and process collectors and the build info are there,
// and every label set an alert may read exists before its first event.
func TestMetricsLint(t *testing.T) {
	body := scrape(t)
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	names := families(t, body)
	want := []string{"go_goroutines", "refledger_build_info", "refledger_ready", "refledger_http_request_duration_seconds", "refledger_append_seconds",
		"refledger_engine_lag_commits", "refledger_ledger_lag_facts", "refledger_ledger_lag_seconds", "refledger_ledger_paused_seconds_total",
		"refledger_ledger_read_back_commits_total", "refledger_replay_applies_total", "refledger_replay_whatifs_total"}
	if runtime.GOOS == "linux" {
		want = append(want, "process_cpu_seconds_total")
	}
	for _, name := range want {
		if !names[name] {
			t.Errorf("no %s in the scrape", name)
		}
	}
	var series []string
	for _, p := range ingestPaths {
		for _, o := range ingestOutcomes {
			series = append(series, `refledger_ingest_total{outcome="`+o+`",path="`+p+`"}`)
		}
	}
	for _, k := range problemKinds {
		series = append(series, `refledger_problem{kind="`+k+`"} 0`)
	}
	for _, o := range applyOutcomes {
		series = append(series, `refledger_replay_applies_total{outcome="`+o+`"} 0`)
	}
	series = append(series, `refledger_redirects_unrecorded_total{reason="head"} 0`, `refledger_redirects_unrecorded_total{reason="bot"} 0`,
		`refledger_http_request_duration_seconds_count{code="302",route="GET /r/{code}"} 1`, "refledger_ready 1")
	for _, s := range series {
		if !strings.Contains(body, s) {
			t.Errorf("no %s in the scrape", s)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

// TestRefledgerReadyFollowsReadyz: the readiness gauges say what /readyz
// does, at scrape time.
func TestRefledgerReadyFollowsReadyz(t *testing.T) {
	srv := linkServer(t, Config{})
	for deadline := time.Now().Add(10 * time.Second); !srv.live.ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
	}
	srv.health.set(problemIntake, os.ErrDeadlineExceeded)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{"refledger_ready 0\n", `refledger_problem{kind="intake"} 1` + "\n", `refledger_problem{kind="fact_log"} 0` + "\n"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("no %q in the scrape", want)
		}
	}
}

// TestPrometheusRules checks deploy/prometheus-rules.yml: its three
// alerts, each complete, reading only metrics a running service exports.
func TestPrometheusRules(t *testing.T) {
	raw, err := os.ReadFile("../deploy/prometheus-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("prometheus-rules.yml: %v", err)
	}
	exported := families(t, scrape(t))
	metricName := regexp.MustCompile(`\b[a-z_]+_[a-z_]+\b`)
	alerts := map[string]bool{}
	for _, g := range file.Groups {
		if g.Name == "" {
			t.Error("a group has no name")
		}
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			if _, err := time.ParseDuration(r.For); err != nil || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %q: want expr, for (a duration), labels.severity and annotations.summary", r.Alert)
			}
			for _, name := range metricName.FindAllString(r.Expr, -1) {
				if strings.HasPrefix(name, "refledger_") && !exported[name] {
					t.Errorf("alert %s reads %s, which the service does not export", r.Alert, name)
				}
			}
		}
	}
	for _, want := range []string{"RefledgerIngestRejectionsRising", "RefledgerLedgerLag", "RefledgerNotReady"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
}
