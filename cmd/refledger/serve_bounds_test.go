package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// testBounds are serveBounds made small so that the tests are fast.
var testBounds = httpBounds{readHeader: 200 * time.Millisecond, read: 400 * time.Millisecond, write: 2 * time.Second, idle: 400 * time.Millisecond, headerBytes: 8 << 10}

// boundedServer serves h on a real loopback listener through the
// constructor refledger serve uses, with testBounds.
func boundedServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(h, testBounds)
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// closedWithin reports how long the server took to close conn, failing
// the test if it had not after wait.
func closedWithin(t *testing.T, conn net.Conn, r io.Reader, wait time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	conn.SetReadDeadline(start.Add(wait)) //nolint:errcheck
	_, err := io.Copy(io.Discard, r)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the connection was still open after %v", wait)
	}
	return time.Since(start)
}

// TestSlowBodyIsCutOff: a request that sends its headers and a few bytes
// of its body, then nothing, is closed once the read timeout has passed.
func TestSlowBodyIsCutOff(t *testing.T) {
	addr := boundedServer(t, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
		}
	})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /v1/events HTTP/1.1\r\nHost: refledger\r\nContent-Length: 1000\r\n\r\n{\"spec"); err != nil {
		t.Fatal(err)
	}
	if took := closedWithin(t, conn, conn, 10*testBounds.read); took > testBounds.read+time.Second {
		t.Errorf("closed after %v, want about %v", took, testBounds.read)
	}
}

// TestIdleConnectionIsClosed: a keep-alive connection that asks for
// nothing after its answer is closed once the idle timeout has passed.
func TestIdleConnectionIsClosed(t *testing.T) {
	addr := boundedServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }) //nolint:errcheck
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: refledger\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("answer %d, close %v: want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	if took := closedWithin(t, conn, br, 10*testBounds.idle); took > testBounds.idle+time.Second {
		t.Errorf("closed after %v, want about %v", took, testBounds.idle)
	}
}
