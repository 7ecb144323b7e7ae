// Command refledger is the event-sourced referral commission ledger: the
// service (serve), bulk import, reports, explanations and replay. It is the
// only place that wires packages together, reads flags and environment, and
// logs errors: each error is logged once, here, and decides the exit status
// (0 success, 1 operating error, 2 usage error).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// helpRequest is -h or --help: the usage goes to stdout, exit status 0.
type helpRequest struct{ usage string }

func (h *helpRequest) Error() string { return "help requested" }

func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "-help" }

const usageText = `refledger: an event-sourced referral commission ledger

usage:
  refledger serve [--listen ADDR] [--nats-listen ADDR] [--tokens SPEC] [--trusted-proxies CIDR,...] [--anonymize-ip]
  refledger import FILE.jsonl [--format table|json|csv]
  refledger report commissions [--partner P] [--order O] [--from T] [--to T] [--as-of T] [--format ...]
  refledger report balances [--as-of TIME] [--format ...]
  refledger report clicks --partner P [--format ...]
  refledger report statement --partner P [--from T] [--to T] [--format ...]
  refledger report refusals [--format ...]
  refledger report rejections [--format ...]    events published on NATS without a reply that were not taken, with why
  refledger explain --order O [--format ...]
  refledger replay --policy FILE.json [--from TIME] [--format ...] [--apply]
  refledger bench generate|replay [--scale N]
  refledger health [--url URL]
  refledger check [--format ...]        verify both logs, the index, the snapshots and the ledger's invariants

Every command that reads or writes the log takes --data DIR (the embedded
store, default ./data), or --nats-url URL (an external NATS JetStream), or
--eventstore-url URL (EventStoreDB). refledger help COMMAND (or COMMAND
--help) prints a command's flags; refledger --version its version.
One process owns a data folder at a time: beside serve, commands go
through it; while another command holds the folder, a command waits for
it, up to --wait (default 30m; Ctrl-C stops waiting).

Exit status: 0 success, 1 operating error, 2 usage error, 3 an import
that appended its valid lines but rejected others (its report says which).
`

// command is one subcommand: it parses its own flags from args.
type command func(ctx context.Context, env *environment, args []string) error

// environment is what every command gets: its output streams and logger.
type environment struct {
	stdout io.Writer
	stderr io.Writer
	log    *zap.Logger
	// terminal is true when stderr is a terminal: show progress there.
	terminal bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	log := newLogger(stderr)
	defer log.Sync() //nolint:errcheck // nothing to do about a failed sync at exit
	env := &environment{stdout: stdout, stderr: stderr, log: log, terminal: isTerminal(stderr)}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	if args[0] == "help" && len(args) > 1 {
		// refledger help CMD [SUB] is CMD [SUB] --help.
		args = append(args[1:len(args):len(args)], "--help")
	}
	if args[0] == "help" || isHelp(args[0]) {
		fmt.Fprint(stdout, usageText)
		return 0
	}
	if args[0] == "version" || args[0] == "--version" || args[0] == "-version" {
		fmt.Fprintln(stdout, "refledger", version())
		return 0
	}
	if path := os.Getenv("REFLEDGER_CPUPROFILE"); path != "" {
		stopProfile, err := startCPUProfile(path)
		if err != nil {
			return exitStatus(env, args[0], err)
		}
		defer stopProfile()
	}
	if path := os.Getenv("REFLEDGER_MEMPROFILE"); path != "" {
		defer writeMemProfile(env, path)
	}
	cmd, rest, err := lookup(args)
	if err == nil {
		err = cmd(ctx, env, rest)
	}
	return exitStatus(env, commandName(args), err)
}

// commandName is how errors name the command: "report balances", "serve".
func commandName(args []string) string {
	if args[0] == "report" && len(args) > 1 && !strings.HasPrefix(args[1], "-") {
		return "report " + args[1]
	}
	return args[0]
}

// commands are refledger's commands, for suggestions.
var commands = []string{"serve", "import", "report", "explain", "replay", "check", "bench", "health", "help", "version"}

// reports are the kinds of report.
var reports = []string{"commissions", "balances", "clicks", "statement", "refusals", "rejections"}

func lookup(args []string) (command, []string, error) {
	switch args[0] {
	case "import":
		return runImport, args[1:], nil
	case "serve":
		return runServe, args[1:], nil
	case "report":
		if len(args) < 2 {
			return nil, nil, usagef("report needs a kind: commissions, balances, clicks, statement, refusals or rejections")
		}
		switch args[1] {
		case "-h", "--help", "-help":
			return nil, nil, &helpRequest{usage: usageText}
		case "commissions":
			return runReportCommissions, args[2:], nil
		case "balances":
			return runReportBalances, args[2:], nil
		case "clicks":
			return runReportClicks, args[2:], nil
		case "statement":
			return runReportStatement, args[2:], nil
		case "refusals":
			return runReportRefusals, args[2:], nil
		case "rejections":
			return runReportRejections, args[2:], nil
		}
		return nil, nil, usagef("%q is not a report%s: want commissions, balances, clicks, statement, refusals or rejections", args[1], didYouMean(args[1], reports, ""))
	case "explain":
		return runExplain, args[1:], nil
	case "replay":
		return runReplay, args[1:], nil
	case "bench":
		return runBench, args[1:], nil
	case "health":
		return runHealth, args[1:], nil
	case "check":
		return runCheck, args[1:], nil
	}
	return nil, nil, usagef("%q is not a refledger command%s", args[0], didYouMean(args[0], commands, ""))
}

func exitStatus(env *environment, name string, err error) int {
	var usage *usageError
	var help *helpRequest
	switch {
	case err == nil:
		return 0
	case errors.As(err, &help):
		fmt.Fprint(env.stdout, help.usage)
		return 0
	case errors.As(err, &usage):
		// One plain line for a person, and where to read more.
		switch {
		case strings.Contains(usage.msg, "not a refledger command"):
			fmt.Fprintf(env.stderr, "refledger: %s (see refledger help)\n", usage.msg)
		case strings.Contains(usage.msg, "not a report"), strings.HasPrefix(usage.msg, "report needs"):
			fmt.Fprintf(env.stderr, "refledger: report: %s (see refledger report --help)\n", usage.msg)
		default:
			fmt.Fprintf(env.stderr, "refledger: %s: %s (see refledger %s --help)\n", name, usage.msg, name)
		}
		return 2
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(env.stderr, "refledger: %s: interrupted\n", name)
		return 1
	case errors.Is(err, errRejectedLines):
		return 3 // the report says which lines and why
	case name == "serve":
		// The service's log is structured, its last line too.
		env.log.Error("command failed", zap.String("command", name), zap.Error(err))
		return 1
	}
	fmt.Fprintf(env.stderr, "refledger: %s: %v\n", name, err)
	return 1
}

// version is the module version and the VCS revision the binary was built
// from, as the build recorded them.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown build)"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			if s.Value == "true" {
				v += " (modified)"
			}
		}
	}
	return v + " " + info.GoVersion
}

// newLogger logs to stderr in a console layout for people; set
// REFLEDGER_LOG_FORMAT=json for machines.
func newLogger(w io.Writer) *zap.Logger {
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if os.Getenv("REFLEDGER_LOG_FORMAT") == "json" {
		enc = zapcore.NewJSONEncoder(cfg)
	} else {
		cfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(cfg)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), zapcore.InfoLevel))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// startCPUProfile writes a CPU profile of the command to path
// (REFLEDGER_CPUPROFILE), for finding where a slow run spends its time.
// writeMemProfile writes the allocation profile (every allocation since
// the start, and what is still in use) to path, for REFLEDGER_MEMPROFILE.
func writeMemProfile(env *environment, path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		env.log.Error("REFLEDGER_MEMPROFILE", zap.Error(err))
	}
}

func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("REFLEDGER_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("REFLEDGER_CPUPROFILE: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
