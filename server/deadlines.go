package server

import (
	"net/http"
	"time"
)

// How long the answers that may outlast the HTTP server's own timeouts
// (cmd/refledger/serve.go: 30 s to read a request, 2 min to answer it)
// may take, counted from when their handler moves its deadlines.
const (
	// replayAnswerTimeout bounds a what-if or apply answered in its
	// request: most of a minute at millions of facts. Longer ones run as
	// background jobs ("async").
	replayAnswerTimeout = 15 * time.Minute
	// ledgerAnswerTimeout bounds a read of the ledger view: a whole
	// commissions CSV of millions of entries, to a slow client.
	ledgerAnswerTimeout = 10 * time.Minute
)

// longAnswer gives a handler that has read its request's body d from now
// to answer. It moves the connection's write deadline and its read
// deadline too: net/http reads the connection in the background while a
// handler runs, to learn that the client went away, and ends the
// request's context when the read deadline passes. Where the deadlines
// cannot be moved (a test's recorder) it does nothing.
func longAnswer(w http.ResponseWriter, d time.Duration) {
	rc := http.NewResponseController(w)
	at := time.Now().Add(d)
	rc.SetReadDeadline(at)  //nolint:errcheck // ErrNotSupported: no deadlines to move
	rc.SetWriteDeadline(at) //nolint:errcheck
}

// longWrite gives a handler d from now to write its answer; unlike
// longAnswer it leaves the read deadline, for handlers that have not read
// their request's body.
func longWrite(w http.ResponseWriter, d time.Duration) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d)) //nolint:errcheck // as in longAnswer
}
