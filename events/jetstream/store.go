package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/refledger/refledger/events/store"
)

// Options tunes the JetStream store.
type Options struct {
	// Replicas is the stream replication factor: 1 embedded, 3 on a cluster.
	Replicas int
	// DuplicateWindow is the broker's Nats-Msg-Id dedupe window.
	DuplicateWindow time.Duration
	// BatchEventsMax closes a group commit at this many events.
	BatchEventsMax int
	// NATS are further options of the connection Connect makes:
	// credentials (nats.UserCredentials, nats.UserInfo, nats.Token,
	// nats.Nkey) and TLS (nats.RootCAs, nats.ClientCert).
	NATS []nats.Option
}

func (o *Options) defaults() {
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = 2 * time.Minute
	}
	if o.BatchEventsMax == 0 {
		o.BatchEventsMax = 1024
	}
}

// Store is a store.Store on JetStream.
type Store struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	opts Options
	srv  *server.Server // owned when embedded
	own  bool           // close nc on Close

	mu     sync.Mutex
	logs   map[string]*Log
	closed bool
}

// Open uses an existing connection. The caller keeps ownership of nc.
func Open(nc *nats.Conn, opts Options) (*Store, error) {
	opts.defaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Store{nc: nc, js: js, opts: opts, logs: map[string]*Log{}}, nil
}

// Connect dials an external NATS server or cluster by URL.
func Connect(url string, opts Options) (*Store, error) {
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("refledger"), nats.MaxReconnects(-1)}, opts.NATS...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", url, err)
	}
	s, err := Open(nc, opts)
	if err != nil {
		nc.Close()
		return nil, err
	}
	s.own = true
	return s, nil
}

// OpenEmbedded starts an embedded server on cfg and opens a store on an
// in-process connection to it. Close shuts both down.
func OpenEmbedded(cfg EmbeddedConfig) (*Store, error) {
	srv, err := StartServer(cfg)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("refledger"), nats.Token(cfg.ServiceToken))
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("connect to embedded nats-server: %w", err)
	}
	s, err := Open(nc, Options{})
	if err != nil {
		nc.Close()
		srv.Shutdown()
		return nil, err
	}
	s.srv, s.own = srv, true
	return s, nil
}

// Server returns the embedded server, or nil for an external one.
func (s *Store) Server() *server.Server { return s.srv }

// Conn returns the store's NATS connection, which ingestion may share.
func (s *Store) Conn() *nats.Conn { return s.nc }

// Log opens (creating when needed) the stream behind the named log.
func (s *Store) Log(ctx context.Context, name string) (store.Log, error) {
	if !store.ValidLogName(name) {
		return nil, fmt.Errorf("jetstream: %q is not a log name: use a-z, 0-9 and -", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	if l, ok := s.logs[name]; ok {
		return l, nil
	}
	// Neither a purge nor a message delete is ever right on a log: either
	// leaves a hole every reader reports as damage. An existing stream made
	// without the denials is updated in place; JetStream never lifts them
	// again (an older refledger, which asks without them, is refused).
	cfg := jetstream.StreamConfig{
		Name:        streamName(name),
		Description: "refledger " + name + " log, append-only: each message is one durable write, a refledger store frame (binary) of one or more commits; read it with refledger (report, check), never purge or edit it",
		Subjects:    []string{subject(name)},
		DenyPurge:   true,
		DenyDelete:  true,
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		Replicas:    s.opts.Replicas,
		Duplicates:  s.opts.DuplicateWindow,
		MaxMsgSize:  int32(store.MaxCommitBytes * 2),
		AllowDirect: true,
	}
	st, err := s.js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: create stream %s: %v", store.ErrUnavailable, cfg.Name, err)
	}
	l := newLog(s, name, st)
	s.logs[name] = l
	return l, nil
}

// Close stops the logs' committers, then the connection and the embedded
// server it owns. Appends already acknowledged are on disk.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	logs := s.logs
	s.mu.Unlock()
	for _, l := range logs {
		l.stop()
	}
	if s.own {
		if err := s.nc.Drain(); err != nil {
			s.nc.Close()
		}
		for s.nc.IsDraining() {
			time.Sleep(time.Millisecond)
		}
	}
	if s.srv != nil {
		settle(s.srv, settleMax)
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
	return nil
}

// settleMax bounds Close's wait for the embedded server's streams to store
// what they were given. Storing is fsync-bound (about 4,000 messages a
// second here), so a burst of plain publishes just before a stop takes
// seconds to land; a stream takes what is queued in one go and stores it
// message by message, so its queue shows no progress until it is done.
const settleMax = 30 * time.Second

// settle waits, at most max, until no stream of srv holds messages it
// received but has not stored yet: a server shut down drops them, and a
// plain publish (the intake stream's) has no one to send it again.
func settle(srv *server.Server, max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		pending := 0
		for name, q := range *srv.Ipqueuesz(&server.IpqueueszOptions{All: true, Filter: "stream"}) {
			if strings.HasSuffix(name, "messages") {
				pending += q.Pending + q.InProgress
			}
		}
		if pending == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func streamName(log string) string {
	return "REFLEDGER_" + strings.ToUpper(strings.ReplaceAll(log, "-", "_"))
}

func subject(log string) string { return "refledger.log." + log }

// isWrongLastSequence reports whether err is JetStream refusing a publish
// because the stream's last sequence is not the expected one.
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
