package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"time"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/ledger"
	"github.com/refledger/refledger/projections"
	"go.uber.org/zap"
)

// catchUpLedger folds every fact not yet in the ledger and appends the
// decisions, starting from the ledger writer's snapshot in the data folder
// when it is usable, and returns the ledger read model. If another writer
// moved the ledger, it rebuilds and tries again. When it folded anything
// and no service owns the data folder (a service keeps its own snapshot),
// it saves the snapshot for the next command.
//
// decidedAgain lists the orders that the facts it folded decided again
// (referrals that came late).
func catchUpLedger(ctx context.Context, env *environment, sf *storeFlags, facts, ledgerLog store.Log) (view *projections.Ledger, decidedAgain []string, err error) {
	// Rebuilding the writer and deciding what an import brought can take
	// a minute at ten million facts: say how far it is (on a terminal,
	// and only once it has taken a moment).
	p := newProgress(env, "ledger: facts folded", 0)
	defer p.done()
	ctx = projections.WithProgress(ctx, func(facts int) { p.add(int64(facts)) })
	path := sf.writerSnapshot()
	for attempt := 0; ; attempt++ {
		w, view, reason, err := projections.ResumeWriter(ctx, facts, ledgerLog, path)
		if err != nil {
			return nil, nil, err
		}
		before, entries := w.FactsFolded(), view.EntryCount()
		err = w.CatchUp(ctx)
		if errors.Is(err, projections.ErrLedgerMoved) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if sf.service == nil && (reason != nil || w.FactsFolded() > before) {
			if err := w.WriteSnapshot(ctx, path, view); err != nil {
				env.log.Warn("ledger snapshot not saved: the next command refolds the logs", zap.Error(err))
			}
		}
		return view, view.OrdersDecidedAgain(entries), nil
	}
}

// readSession opens the store, brings the ledger up to date, and loads the
// ledger read model, for the report commands. When the ledger has already
// decided every fact (the usual case: import and the service keep it so),
// only the view is read, from the snapshot and the ledger records since:
// at ten million facts that spares a report the engine's 2 to 3 s.
func readSession(ctx context.Context, env *environment, sf *storeFlags) (*projections.Ledger, store.Log, func(), error) {
	st, facts, ledgerLog, err := sf.openLogs(ctx, env)
	if err != nil {
		return nil, nil, nil, err
	}
	var wait time.Duration // none: the command decides what the ledger lacks
	if sf.service != nil {
		wait = serviceDecides
	}
	view, err := decidedView(ctx, env, facts, ledgerLog, sf.writerSnapshot(), wait)
	if err == nil && view == nil {
		view, _, err = catchUpLedger(ctx, env, sf, facts, ledgerLog)
	}
	if err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	return view, facts, func() { st.Close() }, nil
}

// decidedView reads the ledger view alone (not the engine beside it in the
// writer's snapshot), and returns it if the ledger has decided every fact
// in the log, or nil if the ledger is behind. (Then the view is read once
// more, with the engine: a ledger behind is rare, since import and the
// service keep it up to date.) Beside a running service, which decides
// the facts itself, wait is how long to wait for the service's ledger to
// catch up rather than race it; then the view is what the ledger holds.
func decidedView(ctx context.Context, env *environment, facts, ledgerLog store.Log, snapshotPath string, wait time.Duration) (*projections.Ledger, error) {
	head, err := facts.Head(ctx)
	if err != nil {
		return nil, err
	}
	view, unused, err := projections.LoadLedgerView(ctx, ledgerLog, snapshotPath)
	if err != nil {
		return nil, err
	}
	if unused != nil && wait == 0 && !errors.Is(unused, fs.ErrNotExist) {
		// A snapshot this build cannot read (another format, damaged):
		// decide through the writer, which saves a new one, rather than
		// have every command read the whole ledger log again.
		env.log.Info("the ledger snapshot was not used: rebuilding it", zap.Error(unused))
		return nil, nil
	}
	for deadline := time.Now().Add(wait); !view.Covers(head); {
		if wait == 0 {
			return nil, nil
		}
		if time.Now().After(deadline) {
			through, _ := view.Decided()
			env.log.Warn("the running service has not decided every fact yet: this report stops where its ledger is",
				zap.Uint64("facts_decided_through", through), zap.Uint64("fact_log_head", head))
			return view, nil
		}
		time.Sleep(50 * time.Millisecond)
		if err := view.ReadOn(ctx, ledgerLog); err != nil {
			return nil, err
		}
	}
	return view, nil
}

// serviceDecides bounds how long a report beside a running service waits
// for the service's ledger to decide the facts in the log.
const serviceDecides = 3 * time.Second

// parseTime reads a flag time: RFC 3339, or a date (midnight UTC at its end
// is not implied: 2017-06-01 means 2017-06-01T00:00:00Z).
func parseTime(flagName, v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, usagef("--%s %q is not a time: want RFC 3339 (2017-06-01T00:00:00Z) or a date (2017-06-01)", flagName, v)
}

type timeFlag struct {
	name string
	t    time.Time
	set  bool
	// dayEnds: a bare date means the last instant of that day (an
	// "as of" date: finance means its end), not its first.
	dayEnds bool
}

func (tf *timeFlag) register(fs *flag.FlagSet, name, usage string) {
	tf.name = name
	fs.Func(name, usage, func(v string) error {
		t, err := parseTime(name, v)
		if err != nil {
			return err
		}
		if _, bare := time.Parse(time.DateOnly, v); bare == nil && tf.dayEnds {
			t = t.AddDate(0, 0, 1).Add(-time.Nanosecond)
		}
		tf.t, tf.set = t, true
		return nil
	})
}

// registerAsOf registers --as-of, whose bare date means the end of that day.
func (tf *timeFlag) registerAsOf(fs *flag.FlagSet, what string) {
	tf.dayEnds = true
	tf.register(fs, "as-of", what+" as of this time (default now); a bare date (2018-02-02) means the end of that day, 2018-02-02T23:59:59.999999999Z")
}

func (tf *timeFlag) or(fallback time.Time) time.Time {
	if tf.set {
		return tf.t
	}
	return fallback
}

func runReportCommissions(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("report commissions", flag.ContinueOnError)
	var sf storeFlags
	var out format
	var asOf, from, to timeFlag
	var filter projections.CommissionFilter
	sf.register(fs)
	out.register(fs)
	asOf.registerAsOf(fs, "statuses")
	from.register(fs, "from", "only entries from this time on")
	to.register(fs, "to", "only entries before this time")
	fs.StringVar(&filter.PartnerID, "partner", "", "only this partner's entries")
	fs.StringVar(&filter.OrderID, "order", "", "only this order's entries")
	fs.StringVar(&filter.Kind, "kind", "", "only entries of this kind: accrued, reversed or adjusted")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if err := projections.CheckKind(filter.Kind); err != nil {
		return usagef("--kind: %v", err)
	}
	filter.From, filter.To = from.t, to.t
	view, _, done, err := readSession(ctx, env, &sf)
	if err != nil {
		return err
	}
	defer done()
	now := asOf.or(time.Now().UTC())
	rows := []projections.CommissionRow{}
	t := table{header: projections.CommissionHeader}
	for _, c := range view.Commissions(filter, now) {
		r := c.Row()
		rows = append(rows, r)
		t.rows = append(t.rows, r.Cells())
	}
	return writeReport(env.stdout, out, map[string]any{"commissions": rows}, t)
}

func runReportBalances(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("report balances", flag.ContinueOnError)
	var sf storeFlags
	var out format
	var asOf timeFlag
	sf.register(fs)
	out.register(fs)
	asOf.registerAsOf(fs, "balances")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	view, _, done, err := readSession(ctx, env, &sf)
	if err != nil {
		return err
	}
	defer done()
	at := asOf.or(time.Now().UTC())
	balances := view.Balances(at)
	t := table{header: projections.BalanceHeader}
	for _, b := range balances {
		t.rows = append(t.rows, b.Cells())
	}
	return writeReport(env.stdout, out, map[string]any{"as_of": at.Format(time.RFC3339), "balances": balances}, t)
}

// clickRow is one line of the clicks report (CONTRACT §3).
type clickRow struct {
	ClickID   string `json:"click_id"`
	Time      string `json:"time"`
	LinkCode  string `json:"link_code"`
	ProgramID string `json:"program_id"`
	VisitorID string `json:"visitor_id"`
	ContactID string `json:"contact_id"`
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Referrer  string `json:"referrer,omitempty"`
}

func runReportClicks(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("report clicks", flag.ContinueOnError)
	var sf storeFlags
	var out format
	var partner string
	sf.register(fs)
	out.register(fs)
	fs.StringVar(&partner, "partner", "", "the partner whose clicks to list (required)")
	var from, to timeFlag
	from.register(fs, "from", "only clicks from this time on")
	to.register(fs, "to", "only clicks before this time")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if partner == "" {
		return usagef("report clicks needs --partner P")
	}
	st, facts, _, err := sf.openLogs(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	cat, clicks, err := loadReadModels(ctx, env, sf, facts)
	if err != nil {
		return err
	}
	if _, ok := cat.Partner(partner); !ok {
		return unknownPartner(cat, partner)
	}
	rows := []clickRow{}
	t := table{header: []string{"click_id", "time", "link_code", "program_id", "visitor_id", "contact_id"}}
	for _, c := range clicks.OfPartner(partner, from.t, to.t) {
		r := clickRow{ClickID: c.ClickID, Time: c.Time.Format(time.RFC3339Nano), LinkCode: c.LinkCode, ProgramID: c.ProgramID, VisitorID: c.VisitorID, ContactID: c.ContactID, IP: c.IP, UserAgent: c.UserAgent, Referrer: c.Referrer}
		rows = append(rows, r)
		t.rows = append(t.rows, []string{r.ClickID, r.Time, r.LinkCode, r.ProgramID, r.VisitorID, r.ContactID})
	}
	return writeReport(env.stdout, out, map[string]any{"partner_id": partner, "clicks": rows}, t)
}

// loadReadModels reads the catalog and the click history from the
// service's snapshot and the facts since (at ten million facts, folding
// them all took 15 s). When it
// folded anything and no service owns the data folder, it saves the
// snapshot for the next command, as catchUpLedger does the ledger's.
func loadReadModels(ctx context.Context, env *environment, sf storeFlags, facts store.Log) (*projections.Catalog, *projections.Clicks, error) {
	path := sf.readModelsSnapshot()
	cat, clicks, through, folded, reason, err := projections.LoadReadModels(ctx, facts, path)
	if err != nil {
		return nil, nil, err
	}
	if sf.service == nil && through > 0 && (reason != nil || folded > 0) {
		if err := projections.WriteReadModels(ctx, facts, path, through, cat, clicks); err != nil {
			env.log.Warn("click history snapshot not saved: the next command refolds the fact log", zap.Error(err))
		}
	}
	return cat, clicks, nil
}

var errUnknownOrder = errors.New("unknown order")

func runExplain(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	var sf storeFlags
	var out format
	var orderID string
	sf.register(fs)
	out.register(fs)
	fs.StringVar(&orderID, "order", "", "the order to explain (required)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if orderID == "" {
		return usagef("explain needs --order O")
	}
	view, _, done, err := readSession(ctx, env, &sf)
	if err != nil {
		return err
	}
	defer done()
	a, ok, err := view.Attribution(ctx, orderID)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("explain: order %q: %w (no order.placed with that order_id was decided)", orderID, errUnknownOrder)
	}
	return writeExplanation(env, out, a)
}

// runReportRefusals lists the facts the ledger kept but could not honour
// (a refund of an unknown order, a payout over what is payable...), each
// with its reason.
func runReportRefusals(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("report refusals", flag.ContinueOnError)
	var sf storeFlags
	var out format
	sf.register(fs)
	out.register(fs)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	view, _, done, err := readSession(ctx, env, &sf)
	if err != nil {
		return err
	}
	defer done()
	refusals := view.Refusals()
	if refusals == nil {
		refusals = []ledger.Refusal{}
	}
	t := table{header: []string{"fact", "type", "time", "reason"}}
	for _, r := range refusals {
		t.rows = append(t.rows, []string{r.Fact, r.Type, r.Time.Format(time.RFC3339Nano), r.Reason})
	}
	return writeReport(env.stdout, out, map[string]any{"refusals": refusals}, t)
}

// runReportStatement is a partner's statement over a period, per
// currency: opening balance, accrued, reversed, adjusted, paid, closing
// (as GET /v1/partners/{id}/statement gives it).
func runReportStatement(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("report statement", flag.ContinueOnError)
	var sf storeFlags
	var out format
	var partner string
	var from, to timeFlag
	sf.register(fs)
	out.register(fs)
	fs.StringVar(&partner, "partner", "", "the partner whose statement to give (required)")
	from.register(fs, "from", "the period's start (default: the beginning)")
	to.register(fs, "to", "the period's end, not included (default now)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if partner == "" {
		return usagef("report statement needs --partner P")
	}
	end := to.or(time.Now().UTC())
	if !from.t.Before(end) {
		return usagef("--from %s is not before --to %s", from.t.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	view, facts, done, err := readSession(ctx, env, &sf)
	if err != nil {
		return err
	}
	defer done()
	statements := view.Statements(partner, from.t, end)
	if len(statements) == 0 {
		// No entry: a partner with none yet, or one that does not exist.
		if err := knownPartner(ctx, env, sf, facts, partner); err != nil {
			return err
		}
		statements = []projections.Statement{}
	}
	t := table{header: []string{"partner_id", "currency", "from", "to", "opening", "accrued", "reversed", "adjusted", "paid", "closing"}}
	for _, st := range statements {
		start := "" // no start: from the first entry
		if st.From != nil {
			start = st.From.Format(time.RFC3339)
		}
		t.rows = append(t.rows, []string{st.PartnerID, st.Currency, start, st.To.Format(time.RFC3339), st.Opening, st.Accrued, st.Reversed, st.Adjusted, st.Paid, st.Closing})
	}
	return writeReport(env.stdout, out, map[string]any{"partner_id": partner, "statements": statements}, t)
}

// knownPartner says, with the nearest ids, when partner is not registered:
// an empty answer would read as "no money" for a typo.
func knownPartner(ctx context.Context, env *environment, sf storeFlags, facts store.Log, partner string) error {
	cat, _, err := loadReadModels(ctx, env, sf, facts)
	if err != nil {
		return err
	}
	if _, ok := cat.Partner(partner); !ok {
		return unknownPartner(cat, partner)
	}
	return nil
}

func unknownPartner(cat *projections.Catalog, partner string) error {
	var ids []string
	for _, p := range cat.Partners() {
		ids = append(ids, p.PartnerID)
	}
	return fmt.Errorf("no partner %q is registered%s", partner, didYouMean(partner, ids, ""))
}
