package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/ledger"
	"github.com/refledger/refledger/replay"

	"go.uber.org/zap"
)

// replayDoc is the JSON answer of replay (CONTRACT §3).
type replayDoc struct {
	*replay.Result
	Applied *replay.Applied `json:"applied"`
}

func runReplay(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	var sf storeFlags
	var out format
	var from timeFlag
	var policyFile, explainOrder string
	var apply, current bool
	sf.register(fs)
	out.register(fs)
	from.register(fs, "from", "the candidate replaces the timeline from this time on (default: the whole timeline)")
	fs.StringVar(&policyFile, "policy", "", "candidate policy document (JSON)")
	fs.BoolVar(&apply, "apply", false, "append the policy change and the adjusting entries")
	fs.BoolVar(&current, "current", false, "replay under the timeline as it stands (no candidate): the diff shows what history's own policy changes would restate")
	fs.StringVar(&explainOrder, "explain", "", "show this order's explanation in the ledger and under the replay")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	req := replay.Request{Current: current, LedgerSnapshot: sf.writerSnapshot()}
	batchGC()
	switch {
	case policyFile == "" && !current:
		return usagef("replay needs --policy FILE.json (or --current)")
	case policyFile != "" && current:
		return usagef("--policy and --current are exclusive")
	case policyFile != "":
		p, at, err := readPolicyFile(policyFile)
		if err != nil {
			return err
		}
		req.Policy, req.From = p, at
	}
	if from.set {
		req.From = &from.t
	}

	// Without a service, the replay owns the data folder until it ends: a
	// second replay --apply waits for it, then finds it applied.
	st, facts, ledgerLog, err := sf.openLogs(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	// A running service keeps the ledger: replay what it has decided.
	req.Live = sf.service != nil
	if sf.service != nil && apply && explainOrder == "" {
		// The service pauses its ledger writer for an apply: through its
		// API, the apply lands however busy it is.
		res, applied, err := applyThroughService(ctx, env, *sf.service, req)
		if err == nil {
			return writeReplay(env, out, replayDoc{Result: res, Applied: applied})
		}
		if !errors.Is(err, errServiceRefused) {
			return err
		}
		// Without the service's leave, apply beside it, as before it had
		// an API for it: that lands unless the service is busy.
		env.log.Warn("applying beside the running service, not through it", zap.Error(err))
	}
	res, applied, err := whatIfAndApply(ctx, env, facts, ledgerLog, req, apply)
	if err != nil {
		return err
	}
	if explainOrder != "" {
		return writeReplayExplain(ctx, env, out, res, explainOrder)
	}
	return writeReplay(env, out, replayDoc{Result: res, Applied: applied})
}

// whatIfAndApply runs the what-if and, when asked, applies it. If the
// ledger moves in between (a running service decided more facts), it runs
// the what-if again, a bounded number of times, and prints the one it
// applied.
func whatIfAndApply(ctx context.Context, env *environment, facts, ledgerLog store.Log, req replay.Request, apply bool) (*replay.Result, *replay.Applied, error) {
	head, err := facts.Head(ctx)
	if err != nil {
		return nil, nil, err
	}
	p := newProgress(env, "replay", int64(head))
	progress := func(done, total store.Position) {
		if int64(done) < p.n || int64(total) != p.total { // a recompute, from the start
			p.done()
			p = newProgress(env, "replay", int64(total))
		}
		p.add(int64(done) - p.n)
	}
	defer func() { p.done() }()
	res, err := replay.WhatIf(ctx, facts, ledgerLog, req, progress)
	if err == nil && res.SnapshotUnusable != nil && req.LedgerSnapshot != "" {
		env.log.Info("the ledger snapshot was not used: read the ledger log instead", zap.Error(res.SnapshotUnusable))
	}
	if err != nil || !apply {
		return res, nil, err
	}
	res, applied, err := replay.ApplyLatest(ctx, res, time.Now().UTC(), applyRetries, progress)
	if errors.Is(err, replay.ErrLedgerMoved) {
		return nil, nil, fmt.Errorf("%w %d times: the running service decides facts faster than a what-if runs; apply through it (POST /v1/replays, then POST /v1/replays/{id}/apply), which pauses its ledger writer", err, applyRetries+1)
	}
	if err != nil {
		return nil, nil, err
	}
	return res, &applied, nil
}

// applyRetries bounds how often replay --apply runs its what-if again
// because the ledger moved.
const applyRetries = 3

// readPolicyFile reads a candidate policy document; a bad one is a usage
// error naming the file and the field.
func readPolicyFile(path string) (ledger.Policy, *time.Time, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ledger.Policy{}, nil, fmt.Errorf("policy file: %w", err)
	}
	p, at, err := ledger.DecodePolicyDocument(raw)
	if err != nil {
		return ledger.Policy{}, nil, usagef("policy file %s: %v", path, err)
	}
	return p, at, nil
}

func writeReplay(env *environment, f format, doc replayDoc) error {
	res := doc.Result
	t := table{header: []string{"record", "order_id", "line_id", "partner_before", "partner_after", "amount_before", "amount_after", "currency", "partner_id", "before", "after", "delta"}}
	for _, c := range res.Changes {
		t.rows = append(t.rows, []string{"change", c.OrderID, c.LineID, nullable(c.PartnerBefore), nullable(c.PartnerAfter), c.AmountBefore, c.AmountAfter, c.Currency, "", "", "", ""})
	}
	for _, tot := range res.Totals {
		t.rows = append(t.rows, []string{"total", "", "", "", "", "", "", tot.Currency, tot.PartnerID, tot.Before, tot.After, tot.Delta})
	}
	if f != formatTable {
		return writeReport(env.stdout, f, doc, t)
	}
	w := env.stdout
	scope := "over the whole timeline"
	if res.From != nil {
		scope = "from " + res.From.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "replay %s %s, facts through %d, ledger at %d\n\n", res.ReplayID, scope, res.FactsThrough, res.LedgerAt)
	changes := table{header: []string{"order_id", "line_id", "partner_before", "partner_after", "amount_before", "amount_after", "currency"}}
	for _, c := range res.Changes {
		changes.rows = append(changes.rows, []string{c.OrderID, c.LineID, nullable(c.PartnerBefore), nullable(c.PartnerAfter), c.AmountBefore, c.AmountAfter, c.Currency})
	}
	if len(changes.rows) == 0 {
		fmt.Fprintln(w, "no order line changes")
	} else if err := writeReport(w, formatTable, nil, changes); err != nil {
		return err
	}
	fmt.Fprintln(w)
	totals := table{header: []string{"partner_id", "currency", "before", "after", "delta"}}
	for _, tot := range res.Totals {
		totals.rows = append(totals.rows, []string{tot.PartnerID, tot.Currency, tot.Before, tot.After, tot.Delta})
	}
	if err := writeReport(w, formatTable, nil, totals); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d orders changed, %d partners affected", res.Summary.OrdersChanged, res.Summary.PartnersAffected)
	for _, n := range res.Summary.NetDelta {
		fmt.Fprintf(w, ", net %s %s", n.Delta, n.Currency)
	}
	fmt.Fprintln(w)
	switch a := doc.Applied; {
	case a == nil:
	case a.AlreadyApplied:
		fmt.Fprintln(w, "already applied: nothing changed")
	default:
		fmt.Fprintf(w, "applied at ledger position %d with %d adjusting entries\n", a.Position, a.Adjustments)
	}
	return nil
}

// nullable is a partner that may be nobody: an empty cell.
func nullable(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func writeReplayExplain(ctx context.Context, env *environment, f format, res *replay.Result, order string) error {
	before, after, ok, err := res.Explain(ctx, order)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("replay --explain: order %q: %w", order, errUnknownOrder)
	}
	if f == formatJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"order_id": order, "replay_id": res.ReplayID, "before": before, "after": after})
	}
	fmt.Fprintln(env.stdout, "=== in the ledger ===")
	if err := explainText(env.stdout, before); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "\n=== under replay %s ===\n", res.ReplayID)
	return explainText(env.stdout, after)
}
