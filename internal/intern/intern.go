// Package intern keeps one copy of strings that recur, such as order line
// ids ("l1") and product ids, so that the millions of records a fold holds
// share a few strings instead of each holding its own: fewer objects for
// the garbage collector to trace. A table holds a bounded number of
// strings; past the bound it hands strings back as they are, so ids that
// never recur cost a lookup and nothing more.
//
// intern imports only the standard library.
package intern

import (
	"strings"
	"unsafe"
)

// Table interns strings, up to a bound. It is not safe for concurrent use.
type Table struct {
	strings map[string]string
	limit   int
}

// New returns a table that keeps at most limit strings.
func New(limit int) *Table {
	return &Table{strings: map[string]string{}, limit: limit}
}

// OfBytes returns the table's copy of the string b holds, making one (and
// keeping it, if the table has room) only when it has none.
func (t *Table) OfBytes(b []byte) string { return t.Copy(unsafe.String(unsafe.SliceData(b), len(b))) }

// Of returns the table's copy of s, keeping s as that copy if the table
// has room.
func (t *Table) Of(s string) string {
	if kept, ok := t.strings[s]; ok {
		return kept
	}
	if len(t.strings) < t.limit {
		t.strings[s] = s
	}
	return s
}

// Copy is Of for a string that must not be kept (it shares bytes that are
// not the caller's to keep): the table keeps, and hands out, a copy.
func (t *Table) Copy(s string) string {
	if kept, ok := t.strings[s]; ok {
		return kept
	}
	return t.Of(strings.Clone(s))
}
