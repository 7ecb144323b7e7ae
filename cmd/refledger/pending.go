package main

import (
	"context"
	"errors"

	"github.com/refledger/refledger/events/store"
)

var errNotYet = errors.New("not built yet")

func catchUpLedger(ctx context.Context, env *environment, facts, ledger store.Log) error { return nil }
func runServe(ctx context.Context, env *environment, args []string) error                { return errNotYet }
func runReportCommissions(ctx context.Context, env *environment, args []string) error {
	return errNotYet
}
func runReportBalances(ctx context.Context, env *environment, args []string) error { return errNotYet }
func runReportClicks(ctx context.Context, env *environment, args []string) error   { return errNotYet }
func runExplain(ctx context.Context, env *environment, args []string) error        { return errNotYet }
func runReplay(ctx context.Context, env *environment, args []string) error         { return errNotYet }
