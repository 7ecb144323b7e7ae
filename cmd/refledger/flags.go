package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/esdb"
	"github.com/refledger/refledger/events/jetstream"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/server"
)

// storeFlags are the flags that choose the event store.
type storeFlags struct {
	dataDir       string
	natsURL       string
	eventstoreURL string
	replicas      int
	external      natsCredentials // of --nats-url
	wait          time.Duration
	command       string // the command's name, which its lock on the data folder says
	// service is the serve that owns the data folder, once open went
	// through it: the command then leaves deciding and snapshots to it.
	service *ownerInfo
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	s.command = fs.Name()
	fs.StringVar(&s.dataDir, "data", envOr("REFLEDGER_DATA", "./data"), "embedded store folder")
	fs.StringVar(&s.natsURL, "nats-url", envOr("REFLEDGER_NATS_URL", ""), "external NATS JetStream URL (instead of the embedded store)")
	fs.StringVar(&s.eventstoreURL, "eventstore-url", envOr("REFLEDGER_EVENTSTORE_URL", ""), "EventStoreDB URL, esdb://host:2113?tls=false (instead of the embedded store)")
	s.external.register(fs)
	fs.IntVar(&s.replicas, "replicas", 1, "stream replicas on an external JetStream cluster (3 on a three-node cluster)")
	fs.DurationVar(&s.wait, "wait", defaultLockWait, "how long to wait while another command (import, replay, report) holds the data folder; Ctrl-C stops waiting too")
}

// claimer is how this command asks for the data folder.
func (s *storeFlags) claimer(env *environment, serve bool, storeKind string) claimer {
	return claimer{command: s.command, store: storeKind, serve: serve, until: time.Now().Add(s.wait), stderr: env.stderr}
}

// opened is a store opened by a command that owns it (serve), with the
// NATS connection that ingestion listens on.
type opened struct {
	store   store.Store
	nc      *nats.Conn
	natsURL string      // the embedded NATS server's client URL, if one runs here
	lock    *folderLock // the data folder's, when this process owns it
	close   func()
}

// openOwned opens the chosen store for serve: listen is the embedded NATS
// server's client address. Serve owns the data folder for its life (also
// on EventStoreDB, whose ingestion NATS server keeps its files there).
func (s *storeFlags) openOwned(ctx context.Context, env *environment, listen string, auth *server.NATSAuth) (*opened, error) {
	switch {
	case s.natsURL != "" && s.eventstoreURL != "":
		return nil, usagef("--nats-url and --eventstore-url are exclusive: choose one store")
	case s.natsURL != "":
		js, err := s.connectExternal()
		if err != nil {
			return nil, err
		}
		return &opened{store: js, nc: js.Conn(), close: func() { js.Close() }}, nil
	}
	kind := ""
	if s.eventstoreURL != "" {
		kind = storeEventStore
	}
	lock, _, err := claimFolder(ctx, s.dataDir, s.claimer(env, true, kind))
	if err != nil {
		return nil, err
	}
	var o *opened
	if s.eventstoreURL != "" {
		o, err = s.openEventStore(listen, auth, env.log)
	} else {
		o, err = s.openEmbedded(listen, auth, env.log)
	}
	if err != nil {
		lock.release()
		return nil, err
	}
	closeStore := o.close
	o.lock, o.close = lock, func() { closeStore(); lock.release() }
	return o, nil
}

// openEmbedded opens the embedded store of a data folder this process
// owns. auth, when given, decides who else may use its NATS server; log,
// when given, takes the server's warnings and errors.
func (s *storeFlags) openEmbedded(listen string, auth *server.NATSAuth, log *zap.Logger) (*opened, error) {
	cfg := jetstream.EmbeddedConfig{DataDir: s.dataDir, Listen: listen, Log: log}
	if auth != nil {
		cfg.Auth, cfg.ServiceToken = auth, auth.Secret()
	}
	js, err := jetstream.OpenEmbedded(cfg)
	if err != nil {
		return nil, fmt.Errorf("open embedded store in %s: %w", s.dataDir, err)
	}
	return &opened{store: js, nc: js.Conn(), natsURL: js.Server().ClientURL(), close: func() { js.Close() }}, nil
}

// openEventStore opens EventStoreDB as the store, and an embedded NATS
// server for the ingestion subject only.
func (s *storeFlags) openEventStore(listen string, auth *server.NATSAuth, log *zap.Logger) (*opened, error) {
	es, err := esdb.Connect(s.eventstoreURL)
	if err != nil {
		return nil, err
	}
	srv, err := jetstream.StartServer(jetstream.EmbeddedConfig{DataDir: filepath.Join(s.dataDir, "nats"), Listen: listen, Auth: auth, ServiceToken: auth.Secret(), Log: log})
	if err != nil {
		es.Close()
		return nil, err
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Token(auth.Secret()))
	if err != nil {
		srv.Shutdown()
		es.Close()
		return nil, fmt.Errorf("connect to embedded nats-server: %w", err)
	}
	return &opened{store: es, nc: nc, natsURL: srv.ClientURL(), close: func() {
		nc.Close()
		srv.Shutdown()
		es.Close()
	}}, nil
}

// open opens the store for a command that does not serve. On the embedded
// store it owns the data folder until Close, waiting for another command
// that holds it; when a serve owns it, the command talks to the service
// through its NATS server instead of opening the files a second time.
func (s *storeFlags) open(ctx context.Context, env *environment) (store.Store, error) {
	switch {
	case s.natsURL != "" && s.eventstoreURL != "":
		return nil, usagef("--nats-url and --eventstore-url are exclusive: choose one store")
	case s.eventstoreURL != "":
		return esdb.Connect(s.eventstoreURL)
	case s.natsURL != "":
		return s.connectExternal()
	}
	if err := s.needData(); err != nil {
		return nil, err
	}
	c := s.claimer(env, false, "")
	var firstTry time.Time // of a serving owner's NATS server
	for {
		lock, svc, err := claimFolder(ctx, s.dataDir, c)
		if err != nil {
			return nil, err
		}
		if lock != nil {
			o, err := s.openEmbedded("", nil, nil)
			if err != nil {
				lock.release()
				return nil, err
			}
			o.lock = lock
			return closer{o}, nil
		}
		js, err := jetstream.Connect(svc.NATSURL, jetstream.Options{NATS: []nats.Option{nats.Token(svc.NATSToken)}})
		if err == nil {
			s.service = svc
			return js, nil
		}
		// A service that is stopping lets the folder go soon; one that
		// serves but does not answer is stuck: say so, and give up after
		// serviceAnswerWait rather than the whole --wait.
		if firstTry.IsZero() {
			firstTry = time.Now()
			fmt.Fprintf(env.stderr, "refledger: %s owns %s, and its NATS server %s does not answer (%v): waiting for it\n", svc, s.dataDir, svc.NATSURL, err)
		}
		if time.Now().After(c.until) || time.Since(firstTry) > serviceAnswerWait {
			return nil, fmt.Errorf("%s owns %s but its NATS server %s did not answer for %s: %w (is the service stuck? its /readyz says why)",
				svc, s.dataDir, svc.NATSURL, time.Since(firstTry).Round(time.Second), err)
		}
		if err := sleepCtx(ctx, lockPoll); err != nil {
			return nil, err
		}
	}
}

// serviceAnswerWait bounds how long a command waits for the NATS server of
// a service that owns the data folder to answer.
const serviceAnswerWait = 30 * time.Second

// closer makes an opened store close everything it opened, then let the
// data folder go.
type closer struct{ *opened }

func (c closer) Log(ctx context.Context, name string) (store.Log, error) {
	return c.store.Log(ctx, name)
}
func (c closer) Close() error {
	c.close()
	if c.lock != nil {
		c.lock.release()
	}
	return nil
}

// openLogs opens the store and both logs for a command that does not serve.
func (s *storeFlags) openLogs(ctx context.Context, env *environment) (store.Store, store.Log, store.Log, error) {
	st, err := s.open(ctx, env)
	if err != nil {
		return nil, nil, nil, err
	}
	facts, err := st.Log(ctx, store.FactsLog)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	ledger, err := st.Log(ctx, store.LedgerLog)
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	return st, facts, ledger, nil
}

// format is the --format flag of reports.
type format string

const (
	formatTable format = "table"
	formatJSON  format = "json"
	formatCSV   format = "csv"
)

func (f *format) register(fs *flag.FlagSet) {
	*f = formatTable
	fs.Func("format", "output format: table, json or csv (default table)", func(v string) error {
		switch format(v) {
		case formatTable, formatJSON, formatCSV:
			*f = format(v)
			return nil
		}
		return fmt.Errorf("%q is not a format: want table, json or csv", v)
	})
}

// parse parses flags that may stand before, between or after positional
// arguments, and returns the positional ones. A flag error is a usage error.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &helpRequest{usage: flagUsage(fs)}
			}
			if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
				return nil, usagef("unknown flag --%s%s", name, didYouMean(name, flagNames(fs), "--"))
			}
			return nil, usagef("%v", err)
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// parseNoArgs parses the flags of a command that takes no positional
// argument, and refuses one.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	rest, err := parse(fs, args)
	if err == nil && len(rest) > 0 {
		err = usagef("%s takes no arguments, got %q", fs.Name(), rest[0])
	}
	return err
}

func flagUsage(fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage of %s:\n", fs.Name())
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
}

// writerSnapshot is the ledger writer's snapshot in the data folder: serve
// keeps it, and the other commands use it (and save it when no service
// owns the folder).
func (s *storeFlags) writerSnapshot() string {
	return filepath.Join(s.snapshotDir(), server.WriterSnapshotFile)
}

// readModelsSnapshot is where serve keeps the catalog and click history.
func (s *storeFlags) readModelsSnapshot() string {
	return filepath.Join(s.snapshotDir(), server.ReadModelsFile)
}

// snapshotDir is where serve keeps its snapshots: in the data folder, also
// when the logs are elsewhere (--nats-url, --eventstore-url).
func (s *storeFlags) snapshotDir() string { return filepath.Join(s.dataDir, "snapshots") }

// batchGC tunes the collector for a batch command such as a replay, which
// keeps a large, long-lived state: the heap may grow to three times what is
// live between collections (GOGC=200; collecting at the default pace costs
// about a quarter of the time), but the collector works harder as it nears
// batchMemoryLimit, which keeps a replay of 10 million facts under 2 GiB.
// GOGC and GOMEMLIMIT, when set, win.
func batchGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(batchMemoryLimit)
	}
}

// batchMemoryLimit is the soft heap limit of batch commands.
const batchMemoryLimit = 1792 << 20

// needData refuses a command that only reads a data folder with no
// refledger data in it (a typo in --data, a command run in the wrong
// folder): it says so rather than create an empty store and answer with
// empty tables that read as "no money". import, serve and bench create.
func (s *storeFlags) needData() error {
	switch {
	case s.command == "import" || s.command == "serve" || strings.HasPrefix(s.command, "bench"):
		return nil
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "jetstream")); err == nil {
		return nil
	}
	return fmt.Errorf("no refledger data in %s: import events first (refledger import FILE.jsonl --data %s), or pass the right --data", s.dataDir, s.dataDir)
}

// natsCredentials are how refledger proves who it is to an external NATS
// server (--nats-url), and the TLS it speaks there.
type natsCredentials struct {
	creds, nkey, user, password, token string
	ca, cert, key                      string
}

func (n *natsCredentials) register(fs *flag.FlagSet) {
	fs.StringVar(&n.creds, "nats-creds", envOr("REFLEDGER_NATS_CREDS", ""), "external NATS: a credentials file (JWT and nkey seed)")
	fs.StringVar(&n.nkey, "nats-nkey", envOr("REFLEDGER_NATS_NKEY", ""), "external NATS: an nkey seed file")
	fs.StringVar(&n.user, "nats-user", envOr("REFLEDGER_NATS_USER", ""), "external NATS: user name (with REFLEDGER_NATS_PASSWORD)")
	n.password = os.Getenv("REFLEDGER_NATS_PASSWORD") // never a flag: it would show in ps
	n.token = os.Getenv("REFLEDGER_NATS_TOKEN")
	fs.StringVar(&n.ca, "nats-ca", envOr("REFLEDGER_NATS_CA", ""), "external NATS: CA certificates file for TLS")
	fs.StringVar(&n.cert, "nats-cert", envOr("REFLEDGER_NATS_CERT", ""), "external NATS: client certificate file for TLS (with --nats-key)")
	fs.StringVar(&n.key, "nats-key", envOr("REFLEDGER_NATS_KEY", ""), "external NATS: client key file for TLS")
}

// options are the nats.go options the credentials give.
func (n *natsCredentials) options() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case n.creds != "":
		opts = append(opts, nats.UserCredentials(n.creds))
	case n.nkey != "":
		o, err := nats.NkeyOptionFromSeed(n.nkey)
		if err != nil {
			return nil, usagef("--nats-nkey: %v", err)
		}
		opts = append(opts, o)
	case n.user != "":
		opts = append(opts, nats.UserInfo(n.user, n.password))
	case n.token != "":
		opts = append(opts, nats.Token(n.token))
	}
	if n.ca != "" {
		opts = append(opts, nats.RootCAs(n.ca))
	}
	switch {
	case n.cert != "" && n.key != "":
		opts = append(opts, nats.ClientCert(n.cert, n.key))
	case n.cert != "" || n.key != "":
		return nil, usagef("--nats-cert and --nats-key go together")
	}
	return opts, nil
}

// connectExternal connects to the external NATS JetStream of --nats-url.
func (s *storeFlags) connectExternal() (*jetstream.Store, error) {
	opts, err := s.external.options()
	if err != nil {
		return nil, err
	}
	return jetstream.Connect(s.natsURL, jetstream.Options{Replicas: s.replicas, NATS: opts})
}

// futureFlag is --max-future (REFLEDGER_MAX_FUTURE): how far ahead of its
// arrival an event's time may lie before it is rejected, naming the field
// time (events.CheckArrival).
type futureFlag struct{ text string }

func (f *futureFlag) register(fs *flag.FlagSet) {
	fs.StringVar(&f.text, "max-future", envOr("REFLEDGER_MAX_FUTURE", events.DefaultMaxFuture.String()),
		"reject an event whose time is more than this ahead of when it arrives (a Go duration: 24h, 90m)")
}

// value is the bound, or a usage error naming the flag.
func (f *futureFlag) value() (time.Duration, error) {
	d, err := time.ParseDuration(f.text)
	switch {
	case err != nil:
		return 0, usagef("--max-future %q: want a duration such as 24h or 90m", f.text)
	case d <= 0:
		return 0, usagef("--max-future %s: want a duration above zero", f.text)
	}
	return d, nil
}
