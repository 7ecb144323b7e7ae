package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/refledger/refledger/events"
)

func seedFacts(t *testing.T) []events.Fact {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "scenarios", "seed", "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var facts []events.Fact
	for sc := bufio.NewScanner(f); sc.Scan(); {
		fact, err := events.Decode(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		facts = append(facts, fact)
	}
	return facts
}

func TestParseTokens(t *testing.T) {
	got, err := ParseTokens("finance:finance-token-0123456789, partner:roger:roger-token-0123:456789")
	if err != nil {
		t.Fatal(err)
	}
	if got["finance-token-0123456789"] != RoleFinance || got["roger-token-0123:456789"] != PartnerRole("roger") {
		t.Errorf("tokens %v", got)
	}
	for _, bad := range []string{"partner:roger", "partner::token-0123456789abcdef", "partner:roger:short", "auditor:token-0123456789abcdef", "finance"} {
		if _, err := ParseTokens(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestPartnerTokensReadTheirOwnDataOnly: a partner's own token reads its
// profile, clicks, commissions, balances and statement, and nothing of
// another partner's, nor anything else; finance still reads everything.
func TestPartnerTokensReadTheirOwnDataOnly(t *testing.T) {
	const roger, maria, fin = "roger-token-0123456789", "maria-token-0123456789", "finance-token-0123456789"
	tokens, err := ParseTokens("partner:roger:" + roger + ",partner:maria:" + maria + ",finance:" + fin)
	if err != nil {
		t.Fatal(err)
	}
	click, err := events.Decode([]byte(`{"specversion":"1.0","id":"k9","source":"t","type":"click.recorded","time":"2018-01-01T00:00:00Z","data":{"click_id":"clk-9","link_code":"roger-event-2016","visitor_id":"v-9","contact_id":"c-9","ip":"203.0.113.9"}}`))
	if err != nil {
		t.Fatal(err)
	}
	srv := memoryServer(t, Config{Tokens: tokens}, append(seedFacts(t), click)...)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go srv.Run(ctx)
	for deadline := time.Now().Add(10 * time.Second); !srv.live.ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
	}
	do := func(method, path, token string) (int, string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, path, strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+token)
		srv.Handler().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	for _, tt := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/partners/roger", roger, 200},
		{"GET", "/v1/links", roger, 200},
		{"GET", "/v1/partners/roger/clicks", roger, 200},
		{"GET", "/v1/partners/roger/statement?from=2016-01-01", roger, 200},
		{"GET", "/v1/commissions", roger, 200},
		{"GET", "/v1/commissions?partner=roger", roger, 200},
		{"GET", "/v1/balances", roger, 200},
		{"GET", "/v1/partners/maria", roger, 403},
		{"GET", "/v1/partners/maria/clicks", roger, 403},
		{"GET", "/v1/partners/maria/statement?from=2016-01-01", roger, 403},
		{"GET", "/v1/commissions?partner=maria", roger, 403},
		{"GET", "/v1/partners", roger, 403},
		{"GET", "/v1/orders/o-2017/explain", roger, 200},
		{"GET", "/v1/refusals", roger, 403},
		{"POST", "/v1/payouts", roger, 403},
		{"POST", "/v1/events", roger, 403},
		{"GET", "/v1/partners/maria/clicks", fin, 200},
	} {
		if code, body := do(tt.method, tt.path, tt.token); code != tt.want {
			t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, code, body, tt.want)
		}
	}

	partnersOf := func(path, token, list string) map[string]bool {
		_, body := do("GET", path, token)
		var answer map[string]json.RawMessage
		var rows []struct {
			PartnerID string `json:"partner_id"`
		}
		if err := json.Unmarshal([]byte(body), &answer); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if err := json.Unmarshal(answer[list], &rows); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		out := map[string]bool{}
		for _, row := range rows {
			out[row.PartnerID] = true
		}
		return out
	}
	if got := partnersOf("/v1/commissions", roger, "commissions"); !got["roger"] || len(got) != 1 {
		t.Errorf("roger's token read commissions of %v", got)
	}
	if got := partnersOf("/v1/balances", roger, "balances"); !got["roger"] || len(got) != 1 {
		t.Errorf("roger's token read balances of %v", got)
	}
	// Explanations: roger sees why his referral lost o-2017b (Maria's
	// cookie came first) without learning who won it; o-2016, which Maria
	// had no part in, is not there for her.
	if code, body := do("GET", "/v1/orders/o-2017b/explain", roger); code != 200 || !strings.Contains(body, "a cookie click takes precedence over referral history") ||
		strings.Contains(body, "maria") || strings.Contains(body, "clk-2") || !strings.Contains(body, `"decision": "credited"`) {
		t.Errorf("roger's view of o-2017b: %d %s", code, body)
	}
	if code, body := do("GET", "/v1/orders/o-2017/explain", roger); !strings.Contains(body, `"partner_id": "roger"`) || !strings.Contains(body, `"click_id": "clk-1"`) {
		t.Errorf("roger's view of o-2017, which he won: %d %s", code, body)
	}
	if code, _ := do("GET", "/v1/orders/o-2016/explain", maria); code != 404 {
		t.Errorf("maria's view of o-2016, which she had no part in: %d, want 404", code)
	}

	if got := partnersOf("/v1/links", roger, "links"); !got["roger"] || len(got) != 1 {
		t.Errorf("roger's token listed links of %v", got)
	}
	if got := partnersOf("/v1/balances", fin, "balances"); !got["roger"] || !got["maria"] {
		t.Errorf("finance read balances of %v", got)
	}
	// Roger's click clk-9 carries its buyer's contact id and IP address:
	// finance sees them, Roger does not.
	if _, body := do("GET", "/v1/partners/roger/clicks", fin); !strings.Contains(body, `"contact_id": "c-9"`) || !strings.Contains(body, "203.0.113.9") {
		t.Errorf("finance's view of roger's clicks: %s", body)
	}
	if _, body := do("GET", "/v1/partners/roger/clicks", roger); !strings.Contains(body, `"click_id": "clk-9"`) || strings.Contains(body, "c-9") || strings.Contains(body, "203.0.113.9") {
		t.Errorf("roger's view of his clicks: %s", body)
	}
}

// TestBearerSchemeIsCaseInsensitive: the auth scheme is a token compared
// without regard to case (RFC 7235 section 2.1); the token itself is not.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	const fin, op = "finance-token-0123456789", "operator-token-0123456789"
	tokens, err := ParseTokens("finance:" + fin + ",operator:" + op)
	if err != nil {
		t.Fatal(err)
	}
	srv := memoryServer(t, Config{Tokens: tokens})
	for _, tt := range []struct {
		header string
		want   int
	}{
		{"Bearer " + fin, 200},
		{"bearer " + fin, 200},
		{"BEARER " + op, 200},
		{"bEaReR   " + fin, 200},
		{"Bearer " + strings.ToUpper(fin), 401},
		{"Bearer " + fin[:len(fin)-1], 401},
		{"Bearer " + fin + "x", 401},
		{"Basic " + fin, 401},
		{"Bearer", 401},
		{"Bearer ", 401},
		{fin, 401},
		{"", 401},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/v1/partners", nil)
		if tt.header != "" {
			req.Header.Set("Authorization", tt.header)
		}
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("Authorization %q: %d %s, want %d", tt.header, rec.Code, rec.Body.String(), tt.want)
		}
	}
}
