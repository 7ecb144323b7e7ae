package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/jetstream"
	"github.com/refledger/refledger/events/store"
)

// benchService runs a Server on an embedded store in a temporary folder,
// with a catalog of one partner, program and link, over real loopback HTTP.
type benchService struct {
	srv    *Server
	js     *jetstream.Store
	url    string
	cancel context.CancelFunc
	done   chan struct{}
}

func startBench(tb testing.TB) *benchService {
	js, err := jetstream.OpenEmbedded(jetstream.EmbeddedConfig{DataDir: tb.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	facts, _ := js.Log(ctx, store.FactsLog)
	ledgerLog, _ := js.Log(ctx, store.LedgerLog)
	srv, err := New(ctx, Config{}, facts, ledgerLog)
	if err != nil {
		tb.Fatal(err)
	}
	b := &benchService{srv: srv, js: js, cancel: cancel, done: make(chan struct{})}
	go func() { srv.Run(ctx); close(b.done) }()
	if _, err := srv.ServeNATS(ctx, js.Conn()); err != nil {
		tb.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go http.Serve(ln, srv.Handler())
	b.url = "http://" + ln.Addr().String()
	for i, body := range []string{
		`{"partner_id":"maria","name":"Maria"}`,
		`{"program_id":"scm","name":"SCM","priority":1,"default_rate":"10%"}`,
		`{"partner_id":"maria","program_id":"scm"}`,
		`{"link_code":"maria-scm","partner_id":"maria","program_id":"scm","landing_url":"https://shop.example/scm"}`,
	} {
		path := []string{"/v1/partners", "/v1/programs", "/v1/enrollments", "/v1/links"}[i]
		resp, err := http.Post(b.url+path, "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != 201 {
			tb.Fatalf("seed %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, ok := srv.live.catalog.Link("maria-scm"); ok {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatal("link never became visible")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return b
}

func (b *benchService) stop() {
	b.cancel()
	<-b.done
	b.js.Close()
}

// load sends GETs for d from workers keep-alive connections and returns the
// rate and latency percentiles of the answers that had status want. It is
// a lean client, as wrk is: each worker writes a prepared request on its own
// connection and reads the answer's status line, headers and body, with no
// allocation per request, so that the machine's two cores go to the server
// under test rather than to net/http's client. Every answer is checked.
// The first loadWarmup is not counted: connections are being opened and the
// server's buffers, pools and log files are growing to their working size.
//
// It returns the rate and the latencies counted, and how many answers came
// in all, the warm-up's too.
func load(target string, workers int, d time.Duration, want int) (float64, []time.Duration, int, error) {
	u, err := url.Parse(target)
	if err != nil {
		return 0, nil, 0, err
	}
	request := []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUser-Agent: refledger-bench\r\nAccept: */*\r\n\r\n")
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Value
	var answered atomic.Int64
	var wg sync.WaitGroup
	start := time.Now().Add(loadWarmup)
	end := start.Add(d)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				failed.Store(err)
				return
			}
			defer conn.Close()
			rd := bufio.NewReaderSize(conn, 4096)
			mine := make([]time.Duration, 0, 1<<14)
			for time.Now().Before(end) {
				t0 := time.Now()
				if _, err := conn.Write(request); err != nil {
					failed.Store(err)
					return
				}
				status, err := readAnswer(rd)
				if err != nil {
					failed.Store(err)
					return
				}
				if status != want {
					failed.Store(fmt.Errorf("status %d", status))
					return
				}
				answered.Add(1)
				if t0.After(start) {
					mine = append(mine, time.Since(t0))
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start) // the last answers may come after end: counted, and timed
	if err, _ := failed.Load().(error); err != nil {
		return 0, nil, 0, err
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return float64(len(lat)) / elapsed.Seconds(), lat, int(answered.Load()), nil
}

// readAnswer reads one HTTP/1.1 answer with a Content-Length (as both
// servers under test give) and returns its status.
func readAnswer(rd *bufio.Reader) (int, error) {
	line, err := rd.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		line, err := rd.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		if name, value, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(name, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", value)
			}
		}
	}
	if length < 0 {
		return 0, fmt.Errorf("answer %d has no Content-Length", status)
	}
	_, err = rd.Discard(length)
	return status, err
}

func pct(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[int(float64(len(lat)-1)*p)]
}

const (
	loadTime   = 3 * time.Second
	loadWarmup = 500 * time.Millisecond
)

// BenchmarkRedirect measures durable click redirects beside a bare net/http
// 302 handler, with the load generator on the same machine, in one run, at
// four numbers of keep-alive connections. Every request comes without a
// cookie (a new visitor), and the fact log is checked afterwards to hold a
// click for every 302 counted.
// histogramCountSum reads a histogram's count and sum.
func histogramCountSum(tb testing.TB, h prometheus.Histogram) (uint64, float64) {
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		tb.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

func BenchmarkRedirect(b *testing.B) {
	for _, workers := range []int{64, 96, 128, 256} {
		b.Run(fmt.Sprintf("bare-302/workers=%d", workers), func(b *testing.B) {
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			defer ln.Close()
			go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://shop.example/scm", http.StatusFound)
			}))
			report(b, "http://"+ln.Addr().String()+"/r/x", workers)
		})
		b.Run(fmt.Sprintf("refledger-durable/workers=%d", workers), func(b *testing.B) {
			svc := startBench(b)
			defer svc.stop()
			count0, sum0 := histogramCountSum(b, svc.srv.metrics.appendLatency)
			answered := report(b, svc.url+"/r/maria-scm", workers)
			// The group commit behind the figures: appends' mean time, and
			// clicks per append.
			count, sum := histogramCountSum(b, svc.srv.metrics.appendLatency)
			count, sum = count-count0, sum-sum0
			b.ReportMetric(sum/float64(count)*1000, "append-ms")
			b.ReportMetric(float64(answered)/float64(count), "clicks/append")
			// Every 302 was durable before it was sent: the log holds a
			// click for each.
			if stored := svc.storedClicks(b); stored < answered {
				b.Fatalf("%d redirects answered, but only %d clicks in the fact log", answered, stored)
			}
		})
	}
}

// report loads url and reports the rate and latencies; it returns how many
// redirects were answered, in the warm-up too.
func report(b *testing.B, url string, workers int) int {
	b.ResetTimer()
	rate, lat, answered, err := load(url, workers, loadTime, http.StatusFound)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rate, "req/s")
	b.ReportMetric(float64(pct(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(lat, 0.99).Microseconds())/1000, "p99-ms")
	return answered
}

// storedClicks counts the click.recorded events in the fact log.
func (b *benchService) storedClicks(tb testing.TB) int {
	facts, err := b.js.Log(context.Background(), store.FactsLog)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	err = facts.Read(context.Background(), 0, func(s store.Stored) error {
		for _, e := range s.Commit.Events {
			if e.Type == events.TypeClickRecorded {
				n++
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkOrders sends orders as NATS requests and times each until its
// ledger entry exists: paced at 1,000/s for the latency goal, then from 64
// concurrent publishers for the sustained rate.
func BenchmarkOrders(b *testing.B) {
	svc := startBench(b)
	defer svc.stop()
	nc, err := nats.Connect(svc.js.Server().ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	var seq atomic.Int64
	// send returns how long the order took to be durable in the fact log
	// (the reply) and to have its ledger entry.
	send := func() (durable, decided time.Duration, err error) {
		n := seq.Add(1)
		id := fmt.Sprintf("bo-%d", n)
		body := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"bench","type":"order.placed","time":%q,"data":{"order_id":%q,"visitor_id":"v%d","contact_id":"c%d","currency":"USD","lines":[{"line_id":"l1","product_id":"p","quantity":1,"amount":"10.00"}]}}`,
			id, time.Now().UTC().Format(time.RFC3339), id, n, n)
		t0 := time.Now()
		if _, err := nc.Request(IngestSubject, []byte(body), 10*time.Second); err != nil {
			return 0, 0, err
		}
		durable = time.Since(t0)
		for {
			if svc.srv.live.ledgerView().Explained(id) {
				return durable, time.Since(t0), nil
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.Run("paced-1000-per-s", func(b *testing.B) {
		var lat, ingest []time.Duration
		var mu sync.Mutex
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for end := time.Now().Add(loadTime); time.Now().Before(end); <-tick.C {
			wg.Add(1)
			go func() {
				defer wg.Done()
				durable, decided, err := send()
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				lat, ingest = append(lat, decided), append(ingest, durable)
				mu.Unlock()
			}()
		}
		wg.Wait()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(len(lat))/loadTime.Seconds(), "orders/s")
		b.ReportMetric(float64(pct(lat, 0.50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(pct(lat, 0.99).Microseconds())/1000, "p99-ms")
		// The same orders' wait for the fact log alone: what the ledger
		// adds is the difference.
		sort.Slice(ingest, func(i, j int) bool { return ingest[i] < ingest[j] })
		b.ReportMetric(float64(pct(ingest, 0.99).Microseconds())/1000, "durable-p99-ms")
	})
	b.Run("sustained-64-publishers", func(b *testing.B) {
		var done atomic.Int64
		var wg sync.WaitGroup
		end := time.Now().Add(loadTime)
		start := time.Now()
		for w := 0; w < 64; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(end) {
					n := seq.Add(1)
					id := fmt.Sprintf("bo-%d", n)
					body := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"bench","type":"order.placed","time":%q,"data":{"order_id":%q,"currency":"USD","lines":[{"line_id":"l1","product_id":"p","quantity":1,"amount":"10.00"}]}}`,
						id, time.Now().UTC().Format(time.RFC3339), id)
					if _, err := nc.Request(IngestSubject, []byte(body), 10*time.Second); err != nil {
						b.Error(err)
						return
					}
					done.Add(1)
				}
			}()
		}
		wg.Wait()
		// Sustained means decided too: wait for the ledger to catch up.
		for svc.srv.live.lag() > 0 {
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(float64(done.Load())/time.Since(start).Seconds(), "orders/s")
	})
}

// BenchmarkRouteTiming measures what timing a request by route and code
// adds to it, in process, away from the network's noise: a bare ServeMux
// beside the same mux under timedMux, both answering a 302 on /r/{code}.
// Compare the difference with a redirect's whole cost (BenchmarkRedirect:
// 2 cores at 20,000 redirects/s leave 100µs each).
func BenchmarkRouteTiming(b *testing.B) {
	newMux := func() *http.ServeMux {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /r/{code}", func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Location"] = []string{"https://shop.example/scm"}
			w.WriteHeader(http.StatusFound)
		})
		return mux
	}
	vec := newMetrics().http
	for _, tt := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", newMux()},
		{"timed", newTimedMux(vec, newMux(), []string{"GET /r/{code}"})},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{h: http.Header{}}
				r, _ := http.NewRequest(http.MethodGet, "/r/maria-scm", nil)
				for pb.Next() {
					tt.h.ServeHTTP(w, r)
				}
			})
		})
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
