// Package ingest appends validated facts to the fact log exactly once per
// idempotency key (source + id), forever: the same key with the same payload
// is a duplicate, the same key with another payload a conflict. Its index of
// keys is rebuilt from the log itself (or loaded from its snapshot, then
// brought up to date from the log), so the guarantee survives restarts and
// outlives the broker's dedupe window. Each fact it appends keeps when the
// log received it (events.Fact.Arrived, by the clock SetClock gives), which
// the payload digests leave out: the same fact sent again later is still a
// duplicate.
//
// One Ingester is the single writer of the fact log in its process; its
// appends are fenced by the expected position, so a second writer elsewhere
// makes it re-read the log and decide again rather than double count.
//
// ingest imports events, events/store and internal/snapshot; the server and
// commands use it.
package ingest
