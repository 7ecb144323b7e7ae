package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/refledger/refledger/events/ingest"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/internal/snapshot"
	"github.com/refledger/refledger/projections"
	"github.com/refledger/refledger/server"
)

// checkReport is check's JSON answer.
type checkReport struct {
	Checks []projections.Finding `json:"checks"`
	Faults int                   `json:"faults"`
}

// errFaults makes check exit 1 once its report is written.
var errFaults = errors.New("check found faults")

// runCheck verifies both logs, the ingest index and the snapshots, and
// the ledger's invariants, and exits 1 on any fault (see docs/operations.md).
func runCheck(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	var sf storeFlags
	var out format
	sf.register(fs)
	out.register(fs)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	st, facts, ledgerLog, err := sf.openLogs(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	findings, err := projections.Check(ctx, facts, ledgerLog)
	if err != nil {
		return err
	}
	findings = append(findings, indexFinding(ctx, &sf, facts))
	findings = append(findings, snapshotFindings(sf.snapshotDir())...)
	rep := checkReport{Checks: findings}
	t := table{header: []string{"check", "status", "detail"}}
	for _, f := range findings {
		if f.Status == projections.StatusFault {
			rep.Faults++
		}
		t.rows = append(t.rows, []string{f.Check, f.Status, f.Detail})
	}
	if err := writeReport(env.stdout, out, rep, t); err != nil {
		return err
	}
	if rep.Faults > 0 {
		return fmt.Errorf("%w: %d (see the report; docs/operations.md says how to recover)", errFaults, rep.Faults)
	}
	return nil
}

// indexFinding opens the ingest index as the service would, from its
// snapshot and then the fact log after it.
func indexFinding(ctx context.Context, sf *storeFlags, facts store.Log) projections.Finding {
	f := projections.Finding{Check: "ingest index"}
	in, reason, err := ingest.OpenFrom(ctx, facts, filepath.Join(sf.snapshotDir(), server.IndexSnapshotFile))
	switch {
	case err != nil:
		f.Status, f.Detail = projections.StatusFault, err.Error()
	case reason != nil && !errors.Is(reason, os.ErrNotExist):
		f.Status, f.Detail = projections.StatusWarning, fmt.Sprintf("rebuilt from the fact log through position %d; its snapshot is not usable: %v", in.Head(), reason)
	default:
		f.Status, f.Detail = projections.StatusOK, fmt.Sprintf("knows the fact log through position %d", in.Head())
	}
	return f
}

// snapshotFindings checks the checksum of every snapshot file. A damaged
// one is a fault (the disk damaged it, or something wrote over it),
// though refledger rebuilds it from the logs.
func snapshotFindings(dir string) []projections.Finding {
	names, _ := filepath.Glob(filepath.Join(dir, "*.snap"))
	slices.Sort(names)
	var out []projections.Finding
	for _, path := range names {
		f := projections.Finding{Check: "snapshot " + filepath.Base(path)}
		kind, version, err := snapshot.Inspect(path)
		if err != nil {
			f.Status, f.Detail = projections.StatusFault, fmt.Sprintf("%v (delete it: it is rebuilt from the logs)", err)
		} else {
			f.Status, f.Detail = projections.StatusOK, fmt.Sprintf("%s, format %d, checksum good", kind, version)
		}
		out = append(out, f)
	}
	return out
}
