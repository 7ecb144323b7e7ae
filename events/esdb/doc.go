// Package esdb is the EventStoreDB store, on EventStore-Client-Go/v4.
//
// Each refledger log is one stream ("refledger-facts", "refledger-ledger").
// A commit is one AppendToStream of one event whose data is the store frame
// of the commit and whose metadata names the commit id and the ids and
// types of the events inside; its event id is derived from the commit id,
// so EventStoreDB's own idempotent writes catch a retried commit. Stream
// revision r is position r+1, so an expected position maps exactly onto an
// expected revision. Reads are forward stream reads; Follow is a catch-up
// subscription to the stream.
//
// esdb imports events/store; only command wiring and tests import it.
package esdb
