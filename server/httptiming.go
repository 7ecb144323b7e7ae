package server

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// timedMux times every answer of mux into refledger_http_request_duration_seconds,
// by the route pattern the mux matched and the status code. It sits on the
// redirect's hot path, so a request allocates nothing and looks up no
// labels: a route's observers are found by pattern in a map built at start,
// and by code in the few the route has answered before.
type timedMux struct {
	mux    *http.ServeMux
	routes map[string]*routeTimer // by pattern; read-only once built
	none   *routeTimer            // requests no route matched
	pool   sync.Pool              // *statusWriter
}

// routeTimer holds one route's observers, one per status code it has
// answered: a handful, so a scan beats a map.
type routeTimer struct {
	vec   *prometheus.HistogramVec
	route string
	mu    sync.Mutex                  // taken only to add a code
	codes atomic.Pointer[[]codeTimer] // copied on write
}

type codeTimer struct {
	code int
	obs  prometheus.Observer
}

func newTimedMux(vec *prometheus.HistogramVec, mux *http.ServeMux, patterns []string) *timedMux {
	t := &timedMux{mux: mux, routes: make(map[string]*routeTimer, len(patterns)), none: &routeTimer{vec: vec, route: "unmatched"}}
	for _, p := range patterns {
		t.routes[p] = &routeTimer{vec: vec, route: p}
	}
	t.pool.New = func() any { return new(statusWriter) }
	return t
}

func (t *timedMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := t.pool.Get().(*statusWriter)
	sw.ResponseWriter, sw.code = w, 0
	t.mux.ServeHTTP(sw, r) // sets r.Pattern to the route it matched
	code := sw.code
	sw.ResponseWriter = nil
	t.pool.Put(sw)
	if code == 0 {
		code = http.StatusOK // the handler wrote nothing
	}
	rt, ok := t.routes[r.Pattern]
	if !ok {
		rt = t.none
	}
	rt.observer(code).Observe(time.Since(start).Seconds())
}

// observer is the route's observer for code.
func (rt *routeTimer) observer(code int) prometheus.Observer {
	if codes := rt.codes.Load(); codes != nil {
		for _, c := range *codes {
			if c.code == code {
				return c.obs
			}
		}
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var grown []codeTimer
	if codes := rt.codes.Load(); codes != nil {
		for _, c := range *codes {
			if c.code == code { // added meanwhile
				return c.obs
			}
		}
		grown = append(grown, *codes...)
	}
	obs := rt.vec.WithLabelValues(rt.route, strconv.Itoa(code))
	grown = append(grown, codeTimer{code: code, obs: obs})
	rt.codes.Store(&grown)
	return obs
}

// statusWriter notes the status code of the answer it passes on. Unwrap
// lets http.ResponseController reach the connection (deadlines.go).
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
