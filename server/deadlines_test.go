package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestLongAnswerOutlivesTheServerTimeouts: a handler that moves its
// deadlines with longAnswer answers after the server's read and write
// timeouts have passed, its request's context still alive; one that does
// not is cut off.
func TestLongAnswerOutlivesTheServerTimeouts(t *testing.T) {
	const timeout = 150 * time.Millisecond
	for _, extend := range []bool{true, false} {
		ctxErr := make(chan error, 1)
		ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body) //nolint:errcheck
			if extend {
				longAnswer(w, 10*timeout)
			}
			time.Sleep(3 * timeout)
			ctxErr <- r.Context().Err()
			io.WriteString(w, "done") //nolint:errcheck
		}))
		ts.Config.ReadTimeout, ts.Config.WriteTimeout = timeout, timeout
		ts.Start()
		resp, err := http.Post(ts.URL, "application/json", strings.NewReader(`{}`))
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		cErr := <-ctxErr
		ts.Close()
		if extend && (err != nil || string(body) != "done" || cErr != nil) {
			t.Errorf("extended: answer %q, %v; request context %v", body, err, cErr)
		}
		if !extend && err == nil {
			t.Errorf("not extended: answered %q past the write timeout", body)
		}
	}
}
