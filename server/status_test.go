package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestIngestStatuses: 400 for malformed input (a missing or over-long id
// included), 409 only for a conflict (the same source and id with another
// payload), and a batch answers every event by index with its own HTTP
// code; a batch whose one event is malformed answers 400 (issue 21 item 5:
// a missing id answered 409, and a lone malformed event in a batch 200).
func TestIngestStatuses(t *testing.T) {
	srv := memoryServer(t, Config{})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.Run(ctx)
	event := func(id, name string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"t","type":"partner.registered","time":"2024-02-01T00:00:00Z","data":{"partner_id":"ann","name":"` + name + `"}}`
	}
	post := func(body string) (int, string) {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(body)))
		return rec.Code, rec.Body.String()
	}
	for _, tt := range []struct {
		name, body string
		code       int
	}{
		{"accepted", event("a1", "Ann"), 201},
		{"duplicate", event("a1", "Ann"), 200},
		{"conflict", event("a1", "Anne"), 409},
		{"missing id", event("", "Ann"), 400},
		{"over-long id", event(strings.Repeat("i", 257), "Ann"), 400},
		{"repeated key", strings.Replace(event("x", "Ann"), `"id":"x"`, `"id":"x","id":"y"`, 1), 400},
		{"a batch of one malformed event", "[" + event("", "Ann") + "]", 400},
		{"a batch of one conflict", "[" + event("a1", "Anna") + "]", 409},
		{"a batch of a duplicate and a malformed line", event("a1", "Ann") + "\n" + `{"specversion":"1.0"}`, 200},
	} {
		code, body := post(tt.body)
		if code != tt.code {
			t.Errorf("%s: %d %s, want %d", tt.name, code, body, tt.code)
		}
	}
	_, body := post(event("b1", "Bea") + "\n" + event("a1", "Anna") + "\n" + `{"specversion":"1.0"}` + "\n" + event("a1", "Ann"))
	var answer struct {
		Results []Result `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &answer); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range answer.Results {
		got = append(got, r.Status+" "+http.StatusText(r.Code))
	}
	if g, w := strings.Join(got, ", "), "accepted Created, rejected Conflict, rejected Bad Request, duplicate OK"; g != w {
		t.Errorf("a mixed batch: %s, want %s", g, w)
	}
}
