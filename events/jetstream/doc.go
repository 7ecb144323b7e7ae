// Package jetstream is refledger's default store: NATS JetStream, either
// embedded in-process (nats-server as a Go module, file storage, SyncAlways
// so an acknowledgement means the bytes are fsynced) or an external server or
// cluster reached by URL.
//
// Each log is one stream with one subject; one JetStream message is one
// durable write holding 1..N commits (a store frame). Concurrent appends with
// store.Any are group committed into one message, so durability costs one
// fsync per batch rather than per event. Fenced appends (store.At,
// store.NoCommits) travel alone with Nats-Expected-Last-Sequence.
//
// jetstream imports events/store; nothing of refledger imports it but
// command wiring and tests.
package jetstream
