package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

func init() {
	// Bodies the validator does not decode by itself: the reference page,
	// its script, and JSON lines (checked as text; the service reads them).
	for _, ct := range []string{"text/html", "text/javascript", "application/jsonl"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
}

// contractCheck sends requests to a running service and validates each
// request and each real answer (status, headers, content type, body)
// against the OpenAPI document the service serves, with kin-openapi.
type contractCheck struct {
	t      *testing.T
	base   string
	doc    *openapi3.T
	router routers.Router
	called map[string]bool // operationIds exercised
}

// call sends a request and validates it and its answer; it returns the
// answer's status and body. badRequest marks a request that breaks the
// document on purpose (to see the error answer): it is not validated.
func (c *contractCheck) call(method, path, token, body string, wantStatus int, badRequest bool, headers ...string) []byte {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Errorf("%s %s: not in the document: %v", method, path, err)
		return nil
	}
	c.called[route.Operation.OperationID] = true
	ctx := context.Background()
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true, // an undocumented status is a mismatch
		MultiError:            true,
		// Roles are the service's to check (and its 401 and 403 are
		// validated below); here the document only has to name a scheme.
		AuthenticationFunc: func(context.Context, *openapi3filter.AuthenticationInput) error { return nil },
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if !badRequest {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			c.t.Errorf("%s %s: the request does not match the document: %v", method, path, err)
		}
		req.Body = io.NopCloser(strings.NewReader(body)) // validation read it
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		c.t.Errorf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, wantStatus, got)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	out.SetBodyBytes(got)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		c.t.Errorf("%s %s: the %d answer does not match the document: %v\n%s", method, path, resp.StatusCode, err, clip(got))
	}
	return got
}

func clip(b []byte) []byte {
	if len(b) > 2000 {
		return append(b[:2000:2000], "..."...)
	}
	return b
}

// TestOpenAPIResponses runs the real service on the seed scenario, with
// tokens of every role, and calls every operation of the document it
// serves (/v1/openapi.json): the answers it gives, successes and errors,
// must match the document, and an operation the test does not call fails
// it, so a new route comes with its check.
func TestOpenAPIResponses(t *testing.T) {
	const (
		pub   = "publisher-token-0123456789"
		fin   = "finance-token-0123456789"
		op    = "operator-token-0123456789"
		roger = "roger-token-0123456789"
	)
	s := startService(t, seededData(t), "REFLEDGER_TOKENS=publisher:"+pub+",finance:"+fin+",operator:"+op+",partner:roger:"+roger)
	resp, err := http.Get(s.info.HTTPURL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the served document is not valid: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: s.info.HTTPURL}} // the document's server is relative: "/"
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := &contractCheck{t: t, base: s.info.HTTPURL, doc: doc, router: router, called: map[string]bool{}}
	const ok, bad = false, true

	// Operations, the reference page, the click redirect.
	c.call("GET", "/healthz", "", "", 200, ok)
	c.call("GET", "/readyz", "", "", 200, ok)
	c.call("GET", "/metrics", "", "", 200, ok)
	c.call("GET", "/v1/openapi.json", "", "", 200, ok)
	c.call("GET", "/docs/api", "", "", 200, ok)
	c.call("GET", "/docs/api/redoc.standalone.js", "", "", 200, ok)
	c.call("GET", "/r/roger-scm", "", "", 302, ok)
	c.call("GET", "/r/no-such-link", "", "", 404, ok)

	// Auth errors.
	c.call("GET", "/v1/partners", "", "", 401, ok)
	c.call("GET", "/v1/partners", "not-a-known-token-0123", "", 401, ok)
	c.call("GET", "/v1/partners", pub, "", 403, ok)
	c.call("GET", "/v1/partners/maria", roger, "", 403, ok)

	// The catalog.
	c.call("GET", "/v1/partners", fin, "", 200, ok)
	c.call("GET", "/v1/partners/roger", fin, "", 200, ok)
	c.call("GET", "/v1/partners/roger", roger, "", 200, ok)
	c.call("GET", "/v1/partners/nobody", fin, "", 404, ok)
	c.call("GET", "/v1/programs", fin, "", 200, ok)
	c.call("GET", "/v1/links", fin, "", 200, ok)
	c.call("GET", "/v1/links", roger, "", 200, ok)
	c.call("GET", "/v1/partners/roger/clicks", fin, "", 200, ok)
	c.call("GET", "/v1/partners/roger/clicks?format=csv", fin, "", 200, ok)
	c.call("GET", "/v1/partners/roger/clicks?from=2016-01-01&to=2017-01-01", roger, "", 200, ok)
	c.call("GET", "/v1/partners/roger/clicks?from=yesterday", fin, "", 400, ok)
	c.call("GET", "/v1/contacts/katie/referrals", fin, "", 200, ok)

	// The ledger.
	c.call("GET", "/v1/commissions?as_of="+asOf, fin, "", 200, ok)
	c.call("GET", "/v1/commissions?partner=maria&kind=reversed", fin, "", 200, ok)
	c.call("GET", "/v1/commissions?format=csv", fin, "", 200, ok)
	c.call("GET", "/v1/commissions", roger, "", 200, ok)
	c.call("GET", "/v1/commissions?kind=paid", fin, "", 400, bad)
	c.call("GET", "/v1/balances?as_of="+asOf, fin, "", 200, ok)
	c.call("GET", "/v1/balances", roger, "", 200, ok)
	c.call("GET", "/v1/balances?format=csv", fin, "", 200, ok)
	c.call("GET", "/v1/balances?as_of=soon", fin, "", 400, ok)
	c.call("GET", "/v1/partners/roger/statement", fin, "", 200, ok)
	c.call("GET", "/v1/partners/roger/statement?from=2017-01-01&to="+asOf, roger, "", 200, ok)
	c.call("GET", "/v1/partners/roger/statement?from=2018-01-01&to=2017-01-01", fin, "", 400, ok)
	c.call("GET", "/v1/partners/nobody/statement", fin, "", 404, ok)
	c.call("GET", "/v1/orders/o-2017/explain", fin, "", 200, ok)
	c.call("GET", "/v1/orders/o-2016/explain", roger, "", 200, ok)
	c.call("GET", "/v1/orders/o-2017b/explain", fin, "", 200, ok)
	c.call("GET", "/v1/orders/no-such-order/explain", fin, "", 404, ok)
	c.call("GET", "/v1/refusals", fin, "", 200, ok)
	c.call("GET", "/v1/rejections", fin, "", 200, ok)

	// Events in.
	event := `{"specversion":"1.0","id":"oa-1","source":"checkout","type":"contact.identified","time":"2017-07-01T00:00:00Z","datacontenttype":"application/json","data":{"visitor_id":"v-oa","contact_id":"c-oa"}}`
	c.call("POST", "/v1/events", pub, event, 201, ok)
	c.call("POST", "/v1/events", pub, event, 200, ok)
	c.call("POST", "/v1/events", pub, strings.Replace(event, "c-oa", "c-other", 1), 409, ok)
	c.call("POST", "/v1/events", pub, "["+event+`,{"specversion":"1.0","id":"oa-2","source":"checkout","type":"order.placed","time":"2017-07-01T00:00:00Z","data":{}}]`, 200, ok)
	c.call("POST", "/v1/events", pub, `[{"specversion":"1.0","id":"oa-3","source":"checkout","type":"order.placed","time":"2017-07-01T00:00:00Z","data":{}}]`, 400, ok)
	c.call("POST", "/v1/events", pub, strings.Replace(event, "oa-1", "oa-4", 1)+"\n"+strings.Replace(event, "oa-1", "oa-5", 1), 200, ok, "Content-Type", "application/jsonl")
	c.call("POST", "/v1/events", pub, `{"specversion":"1.0"`, 400, bad)

	// Definitions, a payout, a policy.
	c.call("POST", "/v1/partners", op, `{"partner_id":"ann","name":"Ann","parent_partner_id":"roger"}`, 201, ok, "Idempotency-Key", "oa-ann")
	// A retry with the same key and body is a duplicate (CONTRACT §1),
	// though the service stamps each request with its own time; another
	// body under the same key is a conflict.
	c.call("POST", "/v1/partners", op, `{"partner_id":"ann","name":"Ann","parent_partner_id":"roger"}`, 200, ok, "Idempotency-Key", "oa-ann")
	c.call("POST", "/v1/partners", op, `{"partner_id":"ann","name":"Ann B"}`, 409, ok, "Idempotency-Key", "oa-ann")
	c.call("POST", "/v1/partners", op, `{"name":"Nobody"}`, 400, bad)
	c.call("POST", "/v1/programs", op, `{"program_id":"books","name":"Books","priority":3,"default_rate":"5%","tier_rates":["2%"]}`, 201, ok)
	c.call("POST", "/v1/links", op, `{"link_code":"ann-books","partner_id":"ann","program_id":"books","landing_url":"https://shop.example/books"}`, 201, ok)
	c.call("POST", "/v1/enrollments", op, `{"partner_id":"ann","program_id":"books"}`, 201, ok)
	c.call("POST", "/v1/referrals", op, `{"contact_id":"c-oa","partner_id":"ann","note":"met at a fair"}`, 201, ok)
	c.call("POST", "/v1/payouts", fin, `{"payout_id":"oa-po-1","partner_id":"roger","currency":"USD","amount":"10.00"}`, 201, ok)
	c.call("POST", "/v1/payouts", fin, `{"payout_id":"oa-po-2","partner_id":"roger","currency":"USD","amount":"100000.00"}`, 201, ok)
	c.call("POST", "/v1/policies", op, `{"tracking":"referral-history-and-cookies","credit":"first","cookie_days":30,"referral_days":0,"program_binding":"partner-programs","self_referral":"reject","holding_days":30,"payout_basis":"upfront","effective_at":"2030-01-01T00:00:00Z"}`, 201, ok)
	c.call("GET", "/v1/partners/ann", fin, "", 200, ok)
	c.call("GET", "/v1/refusals", fin, "", 200, ok)
	c.call("GET", "/v1/partners/roger/statement", roger, "", 200, ok)

	// What-ifs and their apply.
	policy := `{"tracking":"cookies-only","credit":"last","cookie_days":30,"referral_days":0,"program_binding":"partner-programs","self_referral":"reject","holding_days":30,"payout_basis":"upfront"}`
	var whatIf struct {
		ReplayID string `json:"replay_id"`
	}
	json.Unmarshal(c.call("POST", "/v1/replays", op, `{"policy":`+policy+`,"from":"2017-01-01T00:00:00Z"}`, 200, ok), &whatIf) //nolint:errcheck // checked below
	if whatIf.ReplayID == "" {
		t.Fatal("the what-if answered no replay_id")
	}
	c.call("POST", "/v1/replays", op, `{"policy":{"tracking":"cookies-only"}}`, 200, ok) // the rest by default
	c.call("POST", "/v1/replays", op, `{"policy":{"tracking":"cookies"}}`, 400, bad)
	c.call("POST", "/v1/replays", op, `{"nonsense":true}`, 400, bad)
	var job struct {
		JobID  string `json:"job_id"`
		Status string `json:"status"`
	}
	json.Unmarshal(c.call("POST", "/v1/replays", op, `{"current":true,"async":true}`, 202, ok), &job) //nolint:errcheck
	for deadline := time.Now().Add(20 * time.Second); job.Status != "done" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		json.Unmarshal(c.call("GET", "/v1/replays/jobs/"+job.JobID, op, "", 200, ok), &job) //nolint:errcheck
	}
	if job.Status != "done" {
		t.Errorf("the async what-if's job is %q, want done", job.Status)
	}
	c.call("GET", "/v1/replays/jobs/job-none", op, "", 404, ok)
	c.call("GET", "/v1/replays", op, "", 200, ok)
	c.call("GET", "/v1/replays/"+whatIf.ReplayID, op, "", 200, ok)
	c.call("GET", "/v1/replays/replay-none", op, "", 404, ok)
	c.call("POST", "/v1/replays/"+whatIf.ReplayID+"/apply?recompute=maybe", op, "", 400, bad)
	c.call("POST", "/v1/replays/"+whatIf.ReplayID+"/apply", op, "", 200, ok)
	c.call("POST", "/v1/replays/"+whatIf.ReplayID+"/apply", op, "", 200, ok)
	json.Unmarshal(c.call("POST", "/v1/replays/"+whatIf.ReplayID+"/apply?async=true", op, "", 202, ok), &job) //nolint:errcheck
	for deadline := time.Now().Add(20 * time.Second); job.Status != "done" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		json.Unmarshal(c.call("GET", "/v1/replays/jobs/"+job.JobID, op, "", 200, ok), &job) //nolint:errcheck
	}
	c.call("GET", "/v1/commissions?kind=adjusted", fin, "", 200, ok)
	c.call("GET", "/v1/orders/o-2017/explain", fin, "", 200, ok)

	for path, item := range doc.Paths.Map() {
		for method, o := range item.Operations() {
			if !c.called[o.OperationID] {
				t.Errorf("%s %s (%s) is documented but this test never calls it", method, path, o.OperationID)
			}
		}
	}
}
