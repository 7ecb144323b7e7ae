package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// loadOpenAPI parses the served document and checks it is a valid
// OpenAPI document (kin-openapi's own validation: references resolve,
// path parameters are declared, schemas are well formed).
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// TestOpenAPICoversEveryRoute holds openapi.yaml to the routes the
// service serves (routeTable, the list routes registers): a route missing
// from the document fails, and so does a documented path or method that
// is not served. Path parameters must be named as in the pattern.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	served := map[string]bool{}
	for _, r := range memoryServer(t, Config{}).routeTable() {
		method, path, ok := strings.Cut(r.pattern, " ")
		if !ok {
			t.Fatalf("route %q has no method", r.pattern)
		}
		served[method+" "+path] = true
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("route %s %s is not in openapi.yaml", method, path)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !served[method+" "+path] {
				t.Errorf("openapi.yaml documents %s %s, which the service does not serve", method, path)
			}
		}
	}
}

// TestOpenAPIIsTheEmbeddedYAML: /v1/openapi.json answers the document,
// in openapi.yaml's order (paths as written), and every operation has an
// operationId, a summary and at least one answer.
func TestOpenAPIIsTheEmbeddedYAML(t *testing.T) {
	srv := memoryServer(t, Config{})
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/openapi.json: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("the served document: openapi %q, %v", doc.OpenAPI, err)
	}
	if first := strings.Index(rec.Body.String(), `"/r/{code}"`); first < 0 || first > strings.Index(rec.Body.String(), `"/v1/events"`) {
		t.Error("the paths are not in openapi.yaml's order")
	}
	seen := map[string]bool{}
	for path, item := range loadOpenAPI(t).Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" || op.Summary == "" || op.Responses.Len() == 0 {
				t.Errorf("%s %s: operationId %q, summary %q, %d answers", method, path, op.OperationID, op.Summary, op.Responses.Len())
			}
			if seen[op.OperationID] {
				t.Errorf("operationId %s is used twice", op.OperationID)
			}
			seen[op.OperationID] = true
		}
	}
}

// TestAPIDocsPage: the reference page and the Redoc bundle it loads are
// served from the binary, and the page fetches nothing from elsewhere.
func TestAPIDocsPage(t *testing.T) {
	srv := memoryServer(t, Config{})
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	page := get("/docs/api")
	if page.Code != http.StatusOK || !strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs/api: %d %s", page.Code, page.Header().Get("Content-Type"))
	}
	for _, want := range []string{`spec-url="../v1/openapi.json"`, `src="api/redoc.standalone.js"`} {
		if !strings.Contains(page.Body.String(), want) {
			t.Errorf("the page has no %s", want)
		}
	}
	if strings.Contains(page.Body.String(), "http://") || strings.Contains(page.Body.String(), "https://") {
		t.Error("the page loads something from another host: it must work offline")
	}
	js := get("/docs/api/redoc.standalone.js")
	if js.Code != http.StatusOK || js.Body.Len() < 500_000 || !slices.Contains([]string{"text/javascript; charset=utf-8"}, js.Header().Get("Content-Type")) {
		t.Errorf("GET /docs/api/redoc.standalone.js: %d, %d bytes, %s", js.Code, js.Body.Len(), js.Header().Get("Content-Type"))
	}
}

// TestResponseValidationCatchesAMismatch: the validation that
// cmd/refledger's TestOpenAPIResponses runs on the real service's answers
// fails on an answer the document does not describe (an undocumented
// field, a number for money, a missing field), so its passing means
// something.
func TestResponseValidationCatchesAMismatch(t *testing.T) {
	doc := loadOpenAPI(t)
	doc.Servers = openapi3.Servers{{URL: "http://refledger.test"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	good := `{"as_of":"2026-01-01T00:00:00Z","balances":[{"partner_id":"roger","currency":"USD","earned":"1.00","reversed":"0.00","pending":"0.00","payable":"1.00","paid":"0.00"}]}`
	for _, tt := range []struct {
		body string
		ok   bool
	}{
		{good, true},
		{strings.Replace(good, `"paid":"0.00"`, `"paid":"0.00","bonus":"1.00"`, 1), false},
		{strings.Replace(good, `"earned":"1.00"`, `"earned":1.00`, 1), false},
		{strings.Replace(good, `"pending":"0.00",`, ``, 1), false},
	} {
		req := httptest.NewRequest(http.MethodGet, "http://refledger.test/v1/balances", nil)
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		opts := &openapi3filter.Options{IncludeResponseStatus: true}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
			Status:                 http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}}, Options: opts,
		}
		in.SetBodyBytes([]byte(tt.body))
		if err := openapi3filter.ValidateResponse(context.Background(), in); (err == nil) != tt.ok {
			t.Errorf("%s: validation error %v, want ok=%v", tt.body, err, tt.ok)
		}
	}
}
