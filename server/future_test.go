package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// postJSON posts body to path and decodes the answer into v, returning
// the status.
func postJSON(t *testing.T, srv *Server, path, body string, v any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("%s: %d %s: %v", path, rec.Code, rec.Body.String(), err)
	}
	return rec.Code
}

// A fact stamped more than the bound (24 h by default) ahead of when it
// arrives, by the service's clock, is rejected with the field time named;
// one within it is accepted. Config.MaxFuture moves the bound.
func TestFarFutureFactsAreRejected(t *testing.T) {
	arrived := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	event := func(id, at string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"t","type":"contact.identified","time":"` + at + `","data":{"visitor_id":"v","contact_id":"c"}}`
	}
	srv := memoryServer(t, Config{Now: func() time.Time { return arrived }})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.Run(ctx)

	var res Result
	if code := postJSON(t, srv, "/v1/events", event("far", "2199-12-31T00:00:00Z"), &res); code != http.StatusBadRequest ||
		res.Status != "rejected" || res.Error == nil || res.Error.Field != "time" ||
		!strings.Contains(res.Error.Message, "is 2199-12-31T00:00:00Z, more than 24h0m0s after it arrived") {
		t.Errorf("a fact of 2199: %d %+v %+v, want 400 naming time", code, res, res.Error)
	}
	var batch struct {
		Results []Result `json:"results"`
	}
	postJSON(t, srv, "/v1/events", event("soon", "2024-06-02T11:59:59.9Z")+"\n"+event("later", "2024-06-02T12:00:00.1Z"), &batch)
	if len(batch.Results) != 2 || batch.Results[0].Status != "accepted" || batch.Results[1].Status != "rejected" || batch.Results[1].Error.Field != "time" {
		t.Errorf("a fact within a day, and one just past: %+v", batch.Results)
	}

	raised := memoryServer(t, Config{Now: func() time.Time { return arrived }, MaxFuture: 200 * 365 * 24 * time.Hour})
	go raised.Run(ctx)
	if code := postJSON(t, raised, "/v1/events", event("far", "2199-12-31T00:00:00Z"), &res); code != http.StatusCreated {
		t.Errorf("a fact of 2199 under a raised bound: %d %+v", code, res)
	}
}
