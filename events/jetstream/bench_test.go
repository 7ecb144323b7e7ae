package jetstream

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/refledger/refledger/events/store"
)

// clickPayload is the size of a typical encoded click.recorded fact.
var clickPayload = []byte(`{"specversion":"1.0","id":"c-000000000","source":"tracker","type":"click.recorded","time":"2017-06-01T08:00:00Z","datacontenttype":"application/json","schemaversion":1,"data":{"click_id":"clk-000000000","link_code":"maria-scm","visitor_id":"9f86d081884c7d659a2feaa0c55ad015","ip":"203.0.113.0","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"}}`)

const appenders = 64

// BenchmarkAppend compares single-event commits from 64 goroutines through
// the store (group committed) with raw JetStream publishes of the same
// events, both with SyncAlways, in the same run.
func BenchmarkAppend(b *testing.B) {
	b.Run("store-group-commit", func(b *testing.B) {
		s, err := OpenEmbedded(EmbeddedConfig{DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		l, err := s.Log(context.Background(), "facts")
		if err != nil {
			b.Fatal(err)
		}
		runParallel(b, func(i int64) error {
			id := fmt.Sprintf("c-%d", i)
			_, err := l.Append(context.Background(), store.Commit{ID: id, Events: []store.Event{{ID: id, Type: "click.recorded", Data: clickPayload}}}, store.Any{})
			return err
		})
	})
	b.Run("raw-jetstream-publish", func(b *testing.B) {
		s, err := OpenEmbedded(EmbeddedConfig{DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		js, _ := jetstream.New(s.Conn())
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "RAW", Subjects: []string{"raw"}, Storage: jetstream.FileStorage}); err != nil {
			b.Fatal(err)
		}
		runParallel(b, func(i int64) error {
			m := nats.NewMsg("raw")
			m.Data = clickPayload
			_, err := js.PublishMsg(context.Background(), m, jetstream.WithMsgID(fmt.Sprintf("c-%d", i)))
			return err
		})
	})
}

func runParallel(b *testing.B, op func(i int64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, appenders)
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < appenders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := op(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// BenchmarkRead reads group-committed clicks back from the embedded store.
func BenchmarkRead(b *testing.B) {
	s, err := OpenEmbedded(EmbeddedConfig{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	l, err := s.Log(context.Background(), "facts")
	if err != nil {
		b.Fatal(err)
	}
	const perCommit = 256
	written := 0
	for written < b.N {
		c := store.Commit{ID: fmt.Sprintf("batch-%d", written)}
		for j := 0; j < perCommit; j++ {
			c.Events = append(c.Events, store.Event{ID: fmt.Sprintf("e-%d", written+j), Type: "click.recorded", Data: clickPayload})
		}
		if _, err := l.Append(context.Background(), c, store.Any{}); err != nil {
			b.Fatal(err)
		}
		written += perCommit
	}
	b.ResetTimer()
	start := time.Now()
	events := 0
	if err := l.Read(context.Background(), 0, func(s store.Stored) error { events += len(s.Commit.Events); return nil }); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
}
