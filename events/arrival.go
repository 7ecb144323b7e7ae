package events

import (
	"fmt"
	"time"
)

// DefaultMaxFuture is how far ahead of its arrival a fact's time may lie
// unless configured otherwise: clocks a few hours off, or a publisher in
// another time zone that writes local time as UTC, pass; a fact stamped
// years ahead does not. Attribution goes by a fact's time, so one fact of
// 2199 would otherwise sit in the history as if it were to come.
const DefaultMaxFuture = 24 * time.Hour

// CheckArrival rejects a fact whose time lies more than maxFuture after
// arrived, when it reached refledger (the intake's clock). The error
// wraps ErrInvalid and names the field time. Only the event's time is
// bounded: a policy.changed's effective_at may lie further ahead (a
// policy announced in advance).
func CheckArrival(f Fact, arrived time.Time, maxFuture time.Duration) error {
	if f.Time.Sub(arrived) <= maxFuture {
		return nil
	}
	return &FieldError{Field: "time", Rule: fmt.Sprintf("is %s, more than %v after it arrived at %s",
		f.Time.UTC().Format(time.RFC3339Nano), maxFuture, arrived.UTC().Format(time.RFC3339Nano))}
}
