// Package store defines the Store: named, append-only logs of commits, each
// commit an atomic group of 1..N events, appended with an expected position
// and read back in order, from any position, then followed live.
//
// Implementations must guarantee:
//   - a commit is all or nothing, and is durable when Append returns nil;
//   - positions start at 1 and only grow; reading from a position yields every
//     commit at or after it exactly once, in order;
//   - a commit whose ID is seen again is not appended twice: Append reports
//     Duplicate with the original position (within the backend's dedupe
//     window; refledger's own idempotency index covers the rest, forever);
//   - Append with At(n) or NoCommits fails with ErrWrongPosition when the log
//     has moved, and nothing is appended.
//
// Several commits may share one position when a backend group commits them
// into one durable write; they are then read back together, in append order.
//
// store imports only the standard library; backends (memory here,
// events/jetstream, events/esdb) import it, never the other way round.
// Package storetest holds the conformance suite every backend passes.
package store
