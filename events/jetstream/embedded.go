package jetstream

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// EmbeddedConfig configures the in-process NATS server.
type EmbeddedConfig struct {
	// DataDir holds JetStream's files.
	DataDir string
	// Listen is the client address ("127.0.0.1:4222"); port 0 picks a free
	// port. Empty means no network listener: in-process clients only.
	Listen string
	// Auth, when set, decides who may connect and what each may do
	// (nats-server's custom authentication); ServiceToken is then the
	// token of the store's own in-process connection, which Auth must
	// give every permission. Without Auth every client may do anything.
	Auth         server.Authentication
	ServiceToken string
	// Log, when set, takes the server's warnings and errors (a refused
	// client, a slow consumer, trouble with its files); nil keeps the
	// server's log off.
	Log *zap.Logger
}

// startTimeout bounds how long the embedded server may take to be ready.
const startTimeout = 10 * time.Second

// StartServer starts an embedded nats-server with JetStream on file storage
// and SyncAlways: every stored message is fsynced before it is acknowledged.
func StartServer(cfg EmbeddedConfig) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "refledger",
		JetStream:  true,
		StoreDir:   cfg.DataDir,
		SyncAlways: true,
		NoSigs:     true,
		NoLog:      cfg.Log == nil,
		MaxPayload: 8 << 20,
		// Refused clients get an authorization violation, and are logged
		// as errors when the server's log is on (cfg.Log).
		CustomClientAuthentication: cfg.Auth,
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		host, portText, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %q: %w", cfg.Listen, err)
		}
		port, err := strconv.Atoi(portText)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %q: port: %w", cfg.Listen, err)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		} else if ln, err := net.Listen("tcp", cfg.Listen); err != nil {
			// Say it now, naming the address: the server would only fail
			// to be ready, and say nothing of why.
			return nil, fmt.Errorf("nats listen address %s: %w (another NATS server or refledger there? choose another with --nats-listen, or port 0 for any free one)", cfg.Listen, err)
		} else {
			ln.Close()
		}
		opts.Host, opts.Port = host, port
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats-server: %w", err)
	}
	if cfg.Log != nil {
		srv.SetLoggerV2(newNATSLog(cfg.Log), false, false, false)
	}
	go srv.Start()
	if !srv.ReadyForConnections(startTimeout) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats-server not ready after %s (data dir %s)", startTimeout, cfg.DataDir)
	}
	return srv, nil
}
