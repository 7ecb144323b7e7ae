package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refledger/refledger/projections"
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

// The engine dates an adjusting entry by when the fact that caused it
// arrived, never by the latest event time it saw: a fact of 2199, let in
// by a raised bound, does not move the dates (or the payable dates) of
// the adjustments that come after it, and /v1/balances, as of now, shows
// the partner they credit.
func TestAdjustmentsAreDatedByArrival(t *testing.T) {
	var clock atomic.Int64
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	clock.Store(at("2024-06-01T12:00:00Z").UnixNano())
	srv := memoryServer(t, Config{Now: func() time.Time { return time.Unix(0, clock.Load()) }, MaxFuture: 200 * 365 * 24 * time.Hour})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.Run(ctx)
	event := func(id, typ, at, data string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"t","type":"` + typ + `","time":"` + at + `","data":` + data + `}`
	}
	post := func(lines ...string) {
		t.Helper()
		var batch struct {
			Rejected int `json:"rejected"`
			Results  []Result
		}
		if postJSON(t, srv, "/v1/events", strings.Join(lines, "\n")+"\n", &batch); batch.Rejected != 0 {
			t.Fatalf("rejected: %+v", batch.Results)
		}
	}
	post(
		event("pol", "policy.changed", "2024-01-01T00:00:00Z", `{"tracking":"cookies-only","holding_days":30}`),
		event("ann", "partner.registered", "2024-01-01T00:00:00Z", `{"partner_id":"ann","name":"Ann"}`),
		event("bob", "partner.registered", "2024-01-01T00:00:00Z", `{"partner_id":"bob","name":"Bob"}`),
		event("prog", "program.defined", "2024-01-01T00:00:00Z", `{"program_id":"g","name":"G","priority":1,"default_rate":"10%"}`),
		event("enr-ann", "partner.enrolled", "2024-01-01T00:00:00Z", `{"partner_id":"ann","program_id":"g"}`),
		event("enr-bob", "partner.enrolled", "2024-01-01T00:00:00Z", `{"partner_id":"bob","program_id":"g"}`),
		event("link-ann", "link.created", "2024-01-01T00:00:00Z", `{"link_code":"ann-1","partner_id":"ann","landing_url":"https://shop.example/"}`),
		event("link-bob", "link.created", "2024-01-01T00:00:00Z", `{"link_code":"bob-1","partner_id":"bob","landing_url":"https://shop.example/"}`),
		event("click-ann", "click.recorded", "2024-05-01T00:00:00Z", `{"click_id":"k-ann","link_code":"ann-1","visitor_id":"v"}`),
		event("order", "order.placed", "2024-05-02T00:00:00Z", `{"order_id":"o1","visitor_id":"v","currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":"100.00"}]}`),
	)
	post(event("far", "contact.identified", "2199-12-31T00:00:00Z", `{"visitor_id":"someone","contact_id":"else"}`))
	clock.Store(at("2024-06-03T08:00:00.25Z").UnixNano())
	// Bob's click came before the order and after Ann's, but reaches the
	// log only now: o1 is his (last credit), by adjusting entries.
	post(event("click-bob", "click.recorded", "2024-05-01T12:00:00.75Z", `{"click_id":"k-bob","link_code":"bob-1","visitor_id":"v"}`))

	var adjusted []projections.Commission
	for deadline := time.Now().Add(10 * time.Second); len(adjusted) < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("o1 was never decided again: %+v", adjusted)
		}
		adjusted = srv.live.ledgerView().Commissions(projections.CommissionFilter{Kind: "adjusted"}, at("2300-01-01T00:00:00Z"))
	}
	arrived := at("2024-06-03T08:00:00.25Z")
	for _, c := range adjusted {
		if !c.Time.Equal(arrived) || !c.PayableAt.Equal(arrived) {
			t.Errorf("adjustment %s of %s dated %s, payable %s: want both %s, when bob's click arrived", c.EntryID, c.Amount, c.Time, c.PayableAt, arrived)
		}
	}

	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/balances", nil))
	var bal struct {
		Balances []projections.Balance `json:"balances"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &bal); err != nil {
		t.Fatalf("%d %s: %v", rec.Code, rec.Body.String(), err)
	}
	got := map[string]string{}
	for _, b := range bal.Balances {
		got[b.PartnerID] = b.Earned + " " + b.Pending + " " + b.Payable // earned counts accruals and adjustments
	}
	if got["bob"] != "10.00 0.00 10.00" || got["ann"] != "10.00 0.00 0.00" {
		t.Errorf("/v1/balances as of %s: %v, want bob payable 10.00 and ann's 10.00 moved to him", arrived, got)
	}

	// Bob's click history shows the click's time to the fraction, in JSON
	// and in CSV.
	for _, path := range []string{"/v1/partners/bob/clicks", "/v1/partners/bob/clicks?format=csv"} {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			rec = httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if strings.Contains(rec.Body.String(), "k-bob") || time.Now().After(deadline) {
				break
			}
		}
		if !strings.Contains(rec.Body.String(), "2024-05-01T12:00:00.75Z") {
			t.Errorf("%s: %d %s, want k-bob at 2024-05-01T12:00:00.75Z", path, rec.Code, rec.Body.String())
		}
	}
}
