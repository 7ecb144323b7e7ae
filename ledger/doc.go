// Package ledger is refledger's core: the attribution policy and its
// timeline, the catalog (partners, programs, enrollments, links), the
// attribution state (clicks by visitor, identifications, referral history),
// Decide (who earns an order, with every candidate and its reason), the
// commission rules, the ledger records, and Engine, the deterministic fold of
// facts into ledger entries, whose whole state encodes to a snapshot and
// decodes back to an engine that folds on exactly as if it never stopped.
// Attribution goes by the facts' time, not the log's order: a referral that
// reaches the engine after an order it happened before has the order
// decided again, with adjusting entries (late.go). A definition that
// arrives before the partner or program it names is held until it
// arrives, and the orders decided meanwhile are decided again then
// (held.go).
//
// Nothing here does I/O, reads a clock, logs, or takes a context: the same
// facts under the same policy give byte-identical entries, which is what
// makes replay trustworthy. ledger imports money, events,
// internal/snapshot (an encoding, no I/O) and internal/intern; it must not
// import the store, projections, replay or server.
package ledger
