package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/refledger/refledger/events/jetstream"
	"github.com/refledger/refledger/events/store"
)

// storeFlags are the flags that choose the event store.
type storeFlags struct {
	dataDir       string
	natsURL       string
	eventstoreURL string
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.dataDir, "data", envOr("REFLEDGER_DATA", "./data"), "embedded store folder")
	fs.StringVar(&s.natsURL, "nats-url", envOr("REFLEDGER_NATS_URL", ""), "external NATS JetStream URL (instead of the embedded store)")
	fs.StringVar(&s.eventstoreURL, "eventstore-url", envOr("REFLEDGER_EVENTSTORE_URL", ""), "EventStoreDB URL (instead of the embedded store)")
}

// openOwned opens the chosen store for a command that owns it (serve):
// listen is the embedded server's client address.
func (s *storeFlags) openOwned(listen string) (store.Store, *jetstream.Store, error) {
	switch {
	case s.natsURL != "" && s.eventstoreURL != "":
		return nil, nil, usagef("--nats-url and --eventstore-url are exclusive: choose one store")
	case s.eventstoreURL != "":
		return nil, nil, usagef("--eventstore-url: the EventStoreDB backend is not in this build yet; use --data or --nats-url")
	case s.natsURL != "":
		js, err := jetstream.Connect(s.natsURL, jetstream.Options{})
		if err != nil {
			return nil, nil, err
		}
		return js, js, nil
	}
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("data folder: %w", err)
	}
	if info, running := runningService(s.dataDir); running {
		return nil, nil, fmt.Errorf("a refledger service (pid %d) already owns %s: stop it, or use --nats-url %s", info.PID, s.dataDir, info.NATSURL)
	}
	js, err := jetstream.OpenEmbedded(jetstream.EmbeddedConfig{DataDir: s.dataDir, Listen: listen})
	if err != nil {
		return nil, nil, fmt.Errorf("open embedded store in %s: %w", s.dataDir, err)
	}
	return js, js, nil
}

// open opens the store for a command that does not serve. When a service
// owns the embedded store, the command talks to it through its NATS
// server instead of opening the files a second time.
func (s *storeFlags) open() (store.Store, error) {
	if s.natsURL == "" && s.eventstoreURL == "" {
		if info, running := runningService(s.dataDir); running {
			js, err := jetstream.Connect(info.NATSURL, jetstream.Options{})
			if err != nil {
				return nil, fmt.Errorf("a refledger service (pid %d) owns %s but its NATS server %s does not answer: %w", info.PID, s.dataDir, info.NATSURL, err)
			}
			return js, nil
		}
	}
	st, _, err := s.openOwned("")
	return st, err
}

// openLogs opens the store and both logs for a command that does not serve.
func (s *storeFlags) openLogs(ctx context.Context) (store.Store, store.Log, store.Log, error) {
	st, err := s.open()
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
				return nil, usagef("%s", flagUsage(fs))
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func flagUsage(fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage of %s:\n", fs.Name())
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
}
