// Package jsonw appends JSON values to a byte slice, byte for byte as
// encoding/json's Marshal writes them (HTML-safe string escaping, RFC 3339
// times with nanoseconds), for the few record types that the ledger writer
// encodes by the million: reflection there cost more than deciding the
// orders. Callers write their fields in declaration order, with the same
// names and omitempty rules as their struct tags; a test beside each caller
// compares its bytes with encoding/json's.
package jsonw

import (
	"encoding/json"
	"strconv"
	"time"
)

// String appends s as a JSON string. A string of plain ASCII (the ids,
// codes and amounts that make up nearly all of a ledger) is copied as is;
// anything else is escaped by encoding/json itself, so the two never
// disagree.
func String(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plain[s[i]] {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plain holds the bytes that encoding/json writes as they are: printable
// ASCII but for the quote, the backslash and the HTML-sensitive <, > and &.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

// Time appends t as time.Time's MarshalJSON does (RFC 3339 with the
// nanoseconds it has).
func Time(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// Int appends n.
func Int(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }

// Field appends a field's name, as given (the callers' names need no
// escaping), and a colon, after a comma unless it is the first field of its
// object (b ends with '{').
func Field(b []byte, name string) []byte {
	if len(b) > 0 && b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// Strings appends ss as a JSON array (null when nil, as encoding/json).
func Strings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = String(b, s)
	}
	return append(b, ']')
}
