package jetstream

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/refledger/refledger/events/store"
)

// TestLogsRefusePurgeAndDelete: a log's stream says what it holds, and
// refuses a purge and a message delete even from the store's own
// connection, which may do anything else. A stream an older refledger made
// without the denials gets them when the log is opened.
func TestLogsRefusePurgeAndDelete(t *testing.T) {
	for _, older := range []bool{false, true} {
		s, err := OpenEmbedded(EmbeddedConfig{DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if older {
			// The stream as refledger made it before it denied removals.
			_, err := s.js.CreateStream(t.Context(), jetstream.StreamConfig{
				Name: streamName(store.FactsLog), Subjects: []string{subject(store.FactsLog)}, Storage: jetstream.FileStorage,
				Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardNew, Duplicates: 2 * time.Minute,
				MaxMsgSize: int32(store.MaxCommitBytes * 2), AllowDirect: true,
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		l, err := s.Log(t.Context(), store.FactsLog)
		if err != nil {
			t.Fatalf("older stream %v: open: %v", older, err)
		}
		if _, err := l.Append(t.Context(), store.Commit{ID: "c", Events: []store.Event{{ID: "e", Type: "t", Data: []byte("x")}}}, store.Any{}); err != nil {
			t.Fatal(err)
		}
		st := l.(*Log).stream
		info, err := st.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if c := info.Config; !c.DenyPurge || !c.DenyDelete || !strings.Contains(c.Description, "refledger facts log") {
			t.Errorf("older stream %v: deny purge %v, deny delete %v, description %q", older, c.DenyPurge, c.DenyDelete, c.Description)
		}
		if err := st.Purge(t.Context()); err == nil {
			t.Errorf("older stream %v: the fact log was purged", older)
		}
		if err := st.DeleteMsg(t.Context(), 1); err == nil {
			t.Errorf("older stream %v: a message of the fact log was deleted", older)
		}
		if got, err := readAll(t, l); err != nil || len(got) != 1 {
			t.Errorf("older stream %v: the log after the refusals: %d commits, %v", older, len(got), err)
		}
	}
}

// tokenAuth lets in the clients that give its token.
type tokenAuth string

func (a tokenAuth) Check(c server.ClientAuthentication) bool { return c.GetOpts().Token == string(a) }

// TestEmbeddedServerLogsWarningsThroughZap: with a logger, the embedded
// server's errors (here, a refused client) reach it; its notices do not.
func TestEmbeddedServerLogsWarningsThroughZap(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s, err := OpenEmbedded(EmbeddedConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Auth: tokenAuth("service-token"), ServiceToken: "service-token", Log: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if nc, err := nats.Connect(s.Server().ClientURL(), nats.Token("wrong"), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("a wrong token connected")
	}
	deadline := time.Now().Add(5 * time.Second)
	for logs.FilterLevelExact(zapcore.ErrorLevel).Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, e := range logs.All() {
		if e.Level < zapcore.WarnLevel {
			t.Errorf("logged below warn: %s %q", e.Level, e.Message)
		}
		if e.LoggerName != "nats" {
			t.Errorf("logged as %q, want nats", e.LoggerName)
		}
	}
	if errs := logs.FilterLevelExact(zapcore.ErrorLevel).All(); len(errs) == 0 || !strings.Contains(errs[0].Message, "authentication error") {
		t.Errorf("the refused client was not logged as an error: %v", logs.All())
	}
}
