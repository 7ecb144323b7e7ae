package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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

// load sends GETs from workers goroutines for d and returns the rate and
// latency percentiles of the answers that had status want.
func load(url string, workers int, d time.Duration, want int) (float64, []time.Duration, error) {
	client := &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Value
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(end) {
				t0 := time.Now()
				resp, err := client.Get(url)
				if err != nil {
					failed.Store(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					failed.Store(fmt.Errorf("status %d", resp.StatusCode))
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		return 0, nil, err
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return float64(len(lat)) / elapsed.Seconds(), lat, nil
}

func pct(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	return lat[int(float64(len(lat)-1)*p)]
}

const loadTime = 3 * time.Second

// BenchmarkRedirect measures durable click redirects beside a bare net/http
// 302 handler, with the load generator on the same machine, in one run.
func BenchmarkRedirect(b *testing.B) {
	for _, workers := range []int{64, 256} {
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
			report(b, svc.url+"/r/maria-scm", workers)
		})
	}
}

func report(b *testing.B, url string, workers int) {
	b.ResetTimer()
	rate, lat, err := load(url, workers, loadTime, http.StatusFound)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rate, "req/s")
	b.ReportMetric(float64(pct(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(lat, 0.99).Microseconds())/1000, "p99-ms")
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
