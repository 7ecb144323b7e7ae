// Package server is refledger's service: the click redirect, ingestion over
// NATS request-reply and HTTP, the live ledger loop, the finance and
// operator API, health, readiness and metrics.
//
// It imports events, events/store, events/ingest, ledger, projections and
// replay; it must not import a store backend (cmd wires one in).
package server
