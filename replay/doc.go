// Package replay answers "what if we had been on this policy?": it runs the
// same ledger.Engine over the same facts under a candidate policy timeline,
// compares the result with the ledger as it stands, order line by order line
// and partner by partner, and can apply the difference as adjusting entries
// all or nothing, fenced and idempotent: in one ledger commit, or, when it
// does not fit one, in parts that readers take in only with the last.
//
// replay imports events, events/store, internal/intern, ledger and
// projections; it must not import server or any store backend.
package replay
