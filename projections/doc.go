// Package projections turns the logs into what people read, and keeps the
// ledger log in step with the fact log:
//
//   - Fold runs ledger.Engine over the fact log in log order;
//   - Writer is the single, fenced writer of the ledger log: it folds new
//     facts and appends their entries, attributions and refusals in commits
//     that each say through which fact position they are decided;
//   - Ledger is the read model of the ledger log: commissions, balances as
//     of any time, statements, explanations, refusals;
//   - Clicks is the read model of click history per partner.
//
// projections imports events, events/store and ledger; it must not import
// replay, server, or any store backend.
package projections
