// Package projections turns the logs into what people read, and keeps the
// ledger log in step with the fact log:
//
//   - Fold runs ledger.Engine over the fact log in log order (ReadFactsAhead
//     decodes on its own goroutine ahead of the fold);
//   - Writer is the single, fenced writer of the ledger log: it folds new
//     facts and appends their entries, attributions and refusals in commits
//     that each say through which fact position they are decided;
//     ResumeWriter restarts it, and its Ledger view, from their snapshot;
//   - Ledger is the read model of the ledger log: commissions, balances as
//     of any time, statements, explanations (read from the ledger log when
//     asked for), refusals;
//   - Clicks is the read model of click history per partner, and Catalog
//     of partners, programs and links; WriteReadModels and ReadReadModels
//     snapshot both.
//
// projections imports events, events/store, ledger and internal/snapshot;
// it must not import replay, server, or any store backend.
package projections
