package jetstream

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/refledger/refledger/events/store"
)

// damagedLog appends n commits to the facts log of a new embedded store,
// closes it, lets damage change the stream's files, and opens it again.
func damagedLog(t *testing.T, n int, damage func(t *testing.T, blk string)) (*Store, store.Log) {
	t.Helper()
	dir := t.TempDir()
	s, err := OpenEmbedded(EmbeddedConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Log(t.Context(), store.FactsLog)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c := store.Commit{ID: fmt.Sprint("c", i), Events: []store.Event{{ID: fmt.Sprint("e", i), Type: "t", Data: make([]byte, 100)}}}
		if _, err := l.Append(t.Context(), c, store.Any{}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	blks, _ := filepath.Glob(filepath.Join(dir, "jetstream", "*", "streams", streamName(store.FactsLog), "msgs", "*.blk"))
	if len(blks) != 1 {
		t.Fatalf("message blocks: %v", blks)
	}
	damage(t, blks[0])
	s, err = OpenEmbedded(EmbeddedConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l, err = s.Log(t.Context(), store.FactsLog)
	if err != nil {
		t.Fatal(err)
	}
	return s, l
}

// purge leaves st as a purge would, though it denies purges: deleted, and
// made again empty, its first position after its last message's.
func purge(t *testing.T, s *Store, st jetstream.Stream) {
	t.Helper()
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.js.DeleteStream(t.Context(), info.Config.Name); err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	cfg.FirstSeq = info.State.LastSeq + 1
	// The server removes a deleted stream's files after answering: making
	// it again at once can meet them ("error creating store"), so try for
	// a second.
	for attempt := 0; ; attempt++ {
		_, err := s.js.CreateStream(t.Context(), cfg)
		if err == nil {
			return
		}
		if attempt == 50 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func cutTail(bytes int64) func(*testing.T, string) {
	return func(t *testing.T, blk string) {
		st, err := os.Stat(blk)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(blk, st.Size()-bytes); err != nil {
			t.Fatal(err)
		}
	}
}

func flipMiddleByte(t *testing.T, blk string) {
	b, err := os.ReadFile(blk)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(blk, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readAll reads the whole log with a bound far above what a healthy read
// of it takes, so that a hang fails the test instead of stopping it.
func readAll(t *testing.T, l store.Log) ([]store.Stored, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got []store.Stored
	err := l.Read(ctx, 1, func(s store.Stored) error { got = append(got, s); return nil })
	if ctx.Err() != nil {
		t.Fatalf("the read hung on a damaged log (read %d commits)", len(got))
	}
	return got, err
}

// TestDamagedLogsSayWhere: a log whose file lost its tail, or a message in
// its middle, makes every read stop at once with an error naming the log
// and the first missing position; before, a read waited forever for
// positions the stream's head still counted.
func TestDamagedLogsSayWhere(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(*testing.T, string)
		// first is the first position the damage names; 0: any.
		first store.Position
	}{
		{"tail cut by 10 bytes", cutTail(10), 50},
		{"tail cut by 2000 bytes", cutTail(2000), 0},
		{"a byte flipped in the middle", flipMiddleByte, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, l := damagedLog(t, 50, tc.damage)
			got, err := readAll(t, l)
			d, ok := store.AsDamage(err)
			if !ok {
				t.Fatalf("read %d commits, then %v; want damage", len(got), err)
			}
			if d.Log != store.FactsLog || (tc.first != 0 && d.Position != tc.first) || d.Position != store.Position(len(got)+1) {
				t.Fatalf("damage %+v after %d commits read", d, len(got))
			}
			for i, s := range got {
				if s.Position != store.Position(i+1) {
					t.Fatalf("commit %d read at position %d", i, s.Position)
				}
			}
		})
	}
}

// TestHeadOfADamagedLog: a log with positions missing at its end has no
// head to wait for.
func TestHeadOfADamagedLog(t *testing.T) {
	_, l := damagedLog(t, 50, cutTail(2000))
	_, err := l.Head(t.Context())
	d, ok := store.AsDamage(err)
	if !ok || d.Missing == 0 || d.Position <= 1 || d.Position > 50 {
		t.Fatalf("head: %v", err)
	}
}

// TestPurgedLogIsDamage: a purged log (by an older refledger, which did
// not deny purges, or deleted and made again where it ended) is a stream
// whose positions start past 1.
func TestPurgedLogIsDamage(t *testing.T) {
	s, l := damagedLog(t, 20, func(*testing.T, string) {})
	purge(t, s, l.(*Log).stream)
	_, err := readAll(t, l)
	d, ok := store.AsDamage(err)
	if !ok || d.Position != 1 || d.Missing != 20 {
		t.Fatalf("read of a purged log: %v", err)
	}
	if _, err := l.Head(t.Context()); err == nil {
		t.Fatal("head of a purged log: no error")
	}
}

// TestForeignMessageIsSkippedAndReported: a message on the log's subject
// that refledger did not write is handed over as Foreign, and the commits
// after it still arrive.
func TestForeignMessageIsSkippedAndReported(t *testing.T) {
	s, err := OpenEmbedded(EmbeddedConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.Log(t.Context(), store.FactsLog)
	if err != nil {
		t.Fatal(err)
	}
	appendOne := func(id string) {
		t.Helper()
		if _, err := l.Append(t.Context(), store.Commit{ID: id, Events: []store.Event{{ID: id, Type: "t", Data: []byte("x")}}}, store.Any{}); err != nil {
			t.Fatal(err)
		}
	}
	appendOne("a")
	if _, err := s.js.PublishMsg(t.Context(), &nats.Msg{Subject: subject(store.FactsLog), Data: []byte(`{"hello":"world"}`)}); err != nil {
		t.Fatal(err)
	}
	appendOne("b")
	got, err := readAll(t, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Commit.ID != "a" || got[1].Foreign == nil || got[1].Position != 2 || len(got[1].Commit.Events) != 0 || got[2].Commit.ID != "b" {
		t.Fatalf("read %+v", got)
	}
}
