package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/refledger/refledger/projections"
)

// TestEventBatchesAreAppendedInTimeOrder: a batch posted to /v1/events is
// appended in events.AppendOrder, as an import is, so a click listed after
// the order it came before earns it; each result still answers its own
// event, by its index in the batch.
func TestEventBatchesAreAppendedInTimeOrder(t *testing.T) {
	srv := memoryServer(t, Config{})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.Run(ctx)
	event := func(id, typ, at, data string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"t","type":"` + typ + `","time":"` + at + `","data":` + data + `}`
	}
	batch := strings.Join([]string{
		event("ann", "partner.registered", "2024-02-01T00:00:00Z", `{"partner_id":"ann","name":"Ann"}`),
		event("prog", "program.defined", "2024-02-01T00:00:00Z", `{"program_id":"g","name":"G","priority":1,"default_rate":"10%"}`),
		event("enr", "partner.enrolled", "2024-02-01T00:00:00Z", `{"partner_id":"ann","program_id":"g"}`),
		event("link", "link.created", "2024-02-01T00:00:00Z", `{"link_code":"ann-1","partner_id":"ann","landing_url":"https://shop.example/"}`),
		event("order", "order.placed", "2024-01-05T00:00:00Z", `{"order_id":"o1","visitor_id":"v","currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":"100.00"}]}`),
		event("click", "click.recorded", "2024-01-03T00:00:00Z", `{"click_id":"k1","link_code":"ann-1","visitor_id":"v"}`),
		`{"specversion":"1.0"}`,
	}, "\n")
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(batch)))
	var answer struct {
		Results []Result `json:"results"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
		t.Fatalf("%d %s: %v", rec.Code, rec.Body.String(), err)
	}
	for i, r := range answer.Results {
		want := "accepted"
		if i == 6 {
			want = "rejected"
		}
		if r.Index != i || r.Status != want {
			t.Errorf("result %d: %+v, want %s", i, r, want)
		}
	}
	if len(answer.Results) != 7 {
		t.Fatalf("%d results for 7 events", len(answer.Results))
	}
	for deadline := time.Now().Add(10 * time.Second); !srv.live.ledgerView().Explained("o1"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the order was never decided")
		}
	}
	got := srv.live.ledgerView().Commissions(projections.CommissionFilter{OrderID: "o1"}, time.Now())
	if len(got) != 1 || got[0].PartnerID != "ann" || got[0].ClickID != "k1" || got[0].Amount != "10.00" {
		t.Errorf("o1 earned %+v, want ann 10.00 through k1", got)
	}
}
