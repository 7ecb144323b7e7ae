package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/ingest"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/internal/synth"
	"github.com/refledger/refledger/ledger"
	"github.com/refledger/refledger/replay"

	"go.uber.org/zap"
)

// runBench is "refledger bench generate|replay": the synthetic history of
// the speed goals, and the replay rate printed beside the raw read rate of
// the same store, measured in the same run.
func runBench(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 {
		return usagef("bench needs generate or replay")
	}
	fs := flag.NewFlagSet("bench "+args[0], flag.ContinueOnError)
	var sf storeFlags
	var scale int
	sf.register(fs)
	fs.IntVar(&scale, "scale", 1, "divide the standard history (10M events) by this")
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	if scale < 1 {
		return usagef("--scale must be 1 or more")
	}
	st, facts, ledgerLog, err := sf.openLogs(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	switch args[0] {
	case "generate":
		return benchGenerate(ctx, env, &sf, facts, ledgerLog, synth.Standard().Scaled(scale))
	case "replay":
		return benchReplay(ctx, env, &sf, facts, ledgerLog)
	}
	return usagef("bench %q: want generate or replay", args[0])
}

func benchGenerate(ctx context.Context, env *environment, sf *storeFlags, facts, ledgerLog store.Log, cfg synth.Config) error {
	in, err := ingest.Open(ctx, facts)
	if err != nil {
		return err
	}
	if in.Head() != 0 {
		return fmt.Errorf("bench generate: the fact log already holds %d commits: use an empty --data folder", in.Head())
	}
	p := newProgress(env, "generate", int64(cfg.Total()))
	batch := make([]events.Fact, 0, ingest.MaxBatch)
	var submitErr error
	start := time.Now()
	flush := func() {
		if submitErr == nil && len(batch) > 0 {
			_, submitErr = in.Submit(ctx, batch)
			p.add(int64(len(batch)))
			batch = batch[:0]
		}
	}
	synth.Generate(cfg, func(f events.Fact) {
		batch = append(batch, f)
		if len(batch) == ingest.MaxBatch {
			flush()
		}
	})
	flush()
	p.done()
	if submitErr != nil {
		return submitErr
	}
	fmt.Fprintf(env.stdout, "generated %d facts in %s\n", cfg.Total(), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if _, _, err := catchUpLedger(ctx, env, sf, facts, ledgerLog); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "ledger decided in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func benchReplay(ctx context.Context, env *environment, sf *storeFlags, facts, ledgerLog store.Log) error {
	batchGC()
	start := time.Now()
	n := 0
	if err := facts.Read(ctx, 1, func(s store.Stored) error { n += len(s.Commit.Events); return nil }); err != nil {
		return err
	}
	raw := time.Since(start)
	runtime.GC()
	cookiesOnly := ledger.DefaultPolicy()
	cookiesOnly.Tracking = events.TrackingCookiesOnly
	start = time.Now()
	res, err := replay.WhatIf(ctx, facts, ledgerLog, replay.Request{Policy: cookiesOnly, LedgerSnapshot: sf.writerSnapshot()}, nil)
	if err != nil {
		return err
	}
	if res.SnapshotUnusable != nil {
		env.log.Warn("the ledger snapshot was not used, so the what-if read the whole ledger log: run `refledger report balances` once to save one", zap.Error(res.SnapshotUnusable))
	}
	whatIf := time.Since(start)
	fmt.Fprintf(env.stdout, "events             %d\n", n)
	fmt.Fprintf(env.stdout, "raw read           %.0f events/s (%s)\n", float64(n)/raw.Seconds(), raw.Round(time.Millisecond))
	fmt.Fprintf(env.stdout, "replay what-if     %.0f events/s (%s), %d lines changed\n", float64(n)/whatIf.Seconds(), whatIf.Round(time.Millisecond), len(res.Changes))
	fmt.Fprintf(env.stdout, "  of which        ledger sums %s, fold %s, compare %s\n", res.Took.Ledger.Round(time.Millisecond), res.Took.Fold.Round(time.Millisecond), res.Took.Compare.Round(time.Millisecond))
	fmt.Fprintf(env.stdout, "peak RSS           %s\n", peakRSS())
	return nil
}

// peakRSS reads the process's high-water resident set size (Linux).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return fmt.Sprintf("%.0f MiB", float64(kb)/1024)
		}
	}
	return "unknown"
}
