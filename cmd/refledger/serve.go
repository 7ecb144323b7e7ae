package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/server"
)

// shutdownGrace bounds how long in-flight requests may take to finish.
const shutdownGrace = 15 * time.Second

func runServe(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var sf storeFlags
	var listen, natsListen, tokenSpec, proxySpec string
	var anonymize bool
	var future futureFlag
	sf.register(fs)
	future.register(fs)
	fs.StringVar(&listen, "listen", envOr("REFLEDGER_LISTEN", "127.0.0.1:8080"), "HTTP address (port 0 picks a free one)")
	fs.StringVar(&natsListen, "nats-listen", envOr("REFLEDGER_NATS_LISTEN", "127.0.0.1:4222"), "embedded NATS client address (port 0 picks a free one)")
	fs.StringVar(&tokenSpec, "tokens", envOr("REFLEDGER_TOKENS", ""), "bearer tokens: role:token,... (roles publisher, finance, operator; a partner's own token is partner:ID:token)")
	fs.StringVar(&proxySpec, "trusted-proxies", envOr("REFLEDGER_TRUSTED_PROXIES", ""), "reverse proxies whose Forwarded and X-Forwarded-For/-Proto headers are believed: CIDR,... (default none: those headers are ignored)")
	fs.BoolVar(&anonymize, "anonymize-ip", envOr("REFLEDGER_ANONYMIZE_IP", "") == "true", "drop the host part of click IP addresses")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	tokens, err := server.ParseTokens(tokenSpec)
	if err != nil {
		return usagef("--tokens: %v", err)
	}
	proxies, err := server.ParseTrustedProxies(proxySpec)
	if err != nil {
		return usagef("--trusted-proxies: %v", err)
	}
	maxFuture, err := future.value()
	if err != nil {
		return err
	}
	if len(tokens) == 0 {
		if listen, err = loopbackOnly(listen); err != nil {
			return err
		}
		if natsListen, err = loopbackOnly(natsListen); err != nil {
			return err
		}
		env.log.Warn("no tokens configured: the API is open, so serve binds to loopback only; set REFLEDGER_TOKENS to serve other hosts",
			zap.String("listen", listen), zap.String("nats_listen", natsListen))
	}

	auth := server.NewNATSAuth(tokens)
	o, err := sf.openOwned(ctx, env, natsListen, auth)
	if err != nil {
		return err
	}
	defer o.close()
	st := o.store
	facts, err := st.Log(ctx, store.FactsLog)
	if err != nil {
		return err
	}
	ledgerLog, err := st.Log(ctx, store.LedgerLog)
	if err != nil {
		return err
	}
	rejections, err := st.Log(ctx, store.RejectionsLog)
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, server.Config{Tokens: tokens, TrustedProxies: proxies, AnonymizeIP: anonymize, MaxFuture: maxFuture, Log: env.log, SnapshotDir: sf.snapshotDir(),
		Rejections: rejections, IntakeReplicas: sf.replicas}, facts, ledgerLog)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("http listen address %s: %w (choose another with --listen, or port 0 for any free one)", listen, err)
	}
	httpSrv := newHTTPServer(srv.Handler(), serveBounds)

	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	runDone := make(chan error, 1)
	go func() { runDone <- srv.Run(runCtx) }()
	sub, err := srv.ServeNATS(runCtx, o.nc)
	if err != nil {
		return err
	}
	batchSub, err := srv.ServeNATSBatches(runCtx, o.nc)
	if err != nil {
		return err
	}
	httpDone := make(chan error, 1)
	go func() { httpDone <- httpSrv.Serve(ln) }()

	httpURL := "http://" + ln.Addr().String()
	if o.lock != nil {
		// The data folder is this process's: tell other commands to come
		// through its NATS server (and its API, for a replay's apply).
		if err := o.lock.describe(o.natsURL, auth.Secret(), httpURL); err != nil {
			return err
		}
	}
	env.log.Info("refledger serving", zap.String("http", httpURL), zap.String("nats", o.natsURL),
		zap.String("ingest_subject", server.IngestSubject), zap.String("data", sf.dataDir))

	select {
	case <-ctx.Done():
	case err := <-httpDone:
		return fmt.Errorf("http server: %w", err)
	case err := <-runDone:
		return fmt.Errorf("live ledger: %w", err)
	}
	env.log.Info("shutting down: draining requests and appends")
	if o.lock != nil {
		if err := o.lock.stopping(); err != nil {
			env.log.Warn("commands may still come through this stopping service", zap.Error(err))
		}
	}
	// Stop taking work, let what was taken finish durably, then stop the
	// loops; the store closes last (deferred).
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := httpSrv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("drain http: %w", err)
	}
	for _, sub := range []*nats.Subscription{sub, batchSub} {
		if err := sub.Drain(); err != nil {
			return fmt.Errorf("drain nats %s: %w", sub.Subject, err)
		}
	}
	for (sub.IsValid() || batchSub.IsValid()) && shutCtx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	srv.WaitNATS()
	stopRun()
	if err := <-runDone; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	env.log.Info("stopped cleanly")
	return nil
}

// Bounds of serve's HTTP server: no connection is held longer than these
// say, however slowly a client sends or reads.
const (
	// readHeaderTimeout bounds the arrival of a request's headers.
	readHeaderTimeout = 10 * time.Second
	// readTimeout bounds the arrival of a whole request, headers and body:
	// a slow body is cut off when it passes. The largest body taken (4 MiB,
	// a batch of 1000 events) arrives in it at 140 KB/s. net/http also ends
	// the request's context when it passes (it reads the connection in the
	// background to learn that a client went away), so a handler that may
	// run longer moves the deadline once it has read its body: the
	// what-if and apply answered in their request do (server/replays.go).
	readTimeout = 30 * time.Second
	// writeTimeout bounds an answer, counted from the end of its request's
	// headers. The service answers from memory: redirects and ingestion in
	// milliseconds, reads in seconds. The answers that may take longer
	// move their own deadline: a what-if or apply answered in its request
	// (most of a minute at millions of facts) to replayAnswerTimeout,
	// a ledger read (a whole commissions CSV to a slow client) to
	// ledgerAnswerTimeout (server/deadlines.go).
	writeTimeout = 2 * time.Minute
	// idleTimeout bounds how long a kept-alive connection waits for its
	// next request.
	idleTimeout = 60 * time.Second
	// maxHeaderBytes bounds a request's headers (its body is bounded by
	// each handler: 4 MiB at most).
	maxHeaderBytes = 64 << 10
)

// httpBounds are the limits of an HTTP server; tests make them small.
type httpBounds struct {
	readHeader, read, write, idle time.Duration
	headerBytes                   int
}

// serveBounds are the limits refledger serve runs with.
var serveBounds = httpBounds{readHeader: readHeaderTimeout, read: readTimeout, write: writeTimeout, idle: idleTimeout, headerBytes: maxHeaderBytes}

// newHTTPServer is the HTTP server of refledger serve, bounded by b.
func newHTTPServer(h http.Handler, b httpBounds) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: b.readHeader, ReadTimeout: b.read,
		WriteTimeout: b.write, IdleTimeout: b.idle, MaxHeaderBytes: b.headerBytes}
}

// loopbackOnly keeps an address's port but binds it to 127.0.0.1 unless it
// already names a loopback host.
func loopbackOnly(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", usagef("address %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return addr, nil
	}
	return net.JoinHostPort("127.0.0.1", port), nil
}
