// Package replay answers "what if we had been on this policy?": it runs the
// same ledger.Engine over the same facts under a candidate policy timeline,
// compares the result with the ledger as it stands, order line by order line
// and partner by partner, and can apply the difference as adjusting entries
// in one atomic, fenced, idempotent ledger commit.
//
// replay imports events, events/store, internal/intern, ledger and
// projections; it must not import server or any store backend.
package replay
