package events

import (
	"errors"
	"testing"
	"time"
)

// A fact stamped further ahead of its arrival than the bound is invalid,
// with the field time named; one at the bound, or in the past, is not.
// effective_at, a separate field, may lie further ahead (a policy
// announced in advance): only the event's time is bounded.
func TestCheckArrivalBoundsTheFuture(t *testing.T) {
	arrived := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	fact := func(at string) Fact {
		f, err := Decode([]byte(`{"specversion":"1.0","id":"p","source":"s","type":"policy.changed","time":"` + at + `","data":{"tracking":"cookies-only","effective_at":"2199-01-01T00:00:00Z"}}`))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	tests := []struct {
		at        string
		maxFuture time.Duration
		rule      string // "" when the fact passes
	}{
		{"2017-03-02T10:00:00Z", DefaultMaxFuture, ""},
		{"2024-06-02T12:00:00Z", DefaultMaxFuture, ""},
		{"2024-06-02T12:00:00.000000001Z", DefaultMaxFuture, "is 2024-06-02T12:00:00.000000001Z, more than 24h0m0s after it arrived at 2024-06-01T12:00:00Z"},
		{"2199-12-31T00:00:00Z", DefaultMaxFuture, "is 2199-12-31T00:00:00Z, more than 24h0m0s after it arrived at 2024-06-01T12:00:00Z"},
		{"2024-06-01T12:00:01Z", 0, "is 2024-06-01T12:00:01Z, more than 0s after it arrived at 2024-06-01T12:00:00Z"},
		{"2199-12-31T00:00:00Z", 200 * 365 * 24 * time.Hour, ""},
	}
	for _, tt := range tests {
		err := CheckArrival(fact(tt.at), arrived, tt.maxFuture)
		if tt.rule == "" {
			if err != nil {
				t.Errorf("%s within %v: %v", tt.at, tt.maxFuture, err)
			}
			continue
		}
		fe := FirstField(err)
		if !errors.Is(err, ErrInvalid) || fe == nil || fe.Field != "time" || fe.Rule != tt.rule {
			t.Errorf("%s within %v: %v, want time: %s", tt.at, tt.maxFuture, err, tt.rule)
		}
	}
}
