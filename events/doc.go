// Package events owns every event refledger stores: the CloudEvents 1.0
// envelope that facts travel in, one past-tense struct per fact type with an
// explicit type name and version, the codec that turns wire JSON into typed
// facts and validates them with errors that name the field and the rule, and
// the records of the ledger's own decisions (entries, attributions,
// refusals).
//
// Type names are string constants, never derived from Go type names, so a
// rename cannot break stored history. events imports only money; it must not
// import store backends, the ledger or anything above it.
package events
