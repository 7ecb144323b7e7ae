package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Definitions that arrive before what they name, through the service: a
// link posted before its partner is held by the ledger and the catalog
// alike (/v1/links says held and why, /v1/refusals lists it), still
// redirects and records its click, and an order placed meanwhile is
// decided again, credited, when the partner registers. At each step the
// catalog and the ledger agree.
func TestServiceLinkBeforeItsPartner(t *testing.T) {
	s := startService(t, t.TempDir())
	n := 0
	post := func(typ, at, data string) {
		t.Helper()
		n++
		e := fmt.Sprintf(`{"specversion":"1.0","id":"d-%d","source":"admin","type":%q,"time":%q,"data":%s}`, n, typ, at, data)
		if code, body := s.do("POST", "/v1/events", "", e); code != 200 && code != 201 && code != 202 {
			t.Fatalf("posting %s: %d %s", e, code, body)
		}
	}
	get := func(path string, into any) {
		t.Helper()
		code, body := s.do("GET", path, "", "")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		if err := json.Unmarshal([]byte(body), into); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	type link struct {
		LinkCode        string `json:"link_code"`
		Status, Missing string
	}
	linkOf := func(code string) link {
		var got struct{ Links []link }
		get("/v1/links", &got)
		for _, l := range got.Links {
			if l.LinkCode == code {
				return l
			}
		}
		return link{}
	}
	held := func() string {
		var got struct {
			Refusals []struct {
				Fact, Reason string
				Held         bool
			}
		}
		get("/v1/refusals", &got)
		var out []string
		for _, r := range got.Refusals {
			out = append(out, fmt.Sprintf("%s held=%v %s", r.Fact, r.Held, r.Reason))
		}
		return strings.Join(out, " | ")
	}

	const def = "2020-01-01T00:00:00Z"
	post("program.defined", def, `{"program_id":"scm","name":"SCM","priority":1,"default_rate":"20%"}`)
	post("link.created", def, `{"link_code":"ann-scm","partner_id":"ann","program_id":"scm","landing_url":"https://shop.example/ann"}`)
	post("partner.enrolled", def, `{"partner_id":"ann","program_id":"scm"}`)
	const wantHeld = "admin/d-2 held=true link ann-scm is held: partner ann is not registered | admin/d-3 held=true enrollment of ann in scm is held: partner ann is not registered"
	eventually(t, "the ledger to hold the link and the enrollment", func() bool { return held() == wantHeld })
	if l := linkOf("ann-scm"); l.Status != "held" || l.Missing != "partner ann is not registered" {
		t.Errorf("/v1/links lists the held link as %+v, want held: partner ann is not registered", l)
	}

	// The held link redirects, and its click is recorded.
	resp, err := noRedirect.Get(s.info.HTTPURL + "/r/ann-scm")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://shop.example/ann" {
		t.Fatalf("redirect of the held link = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var visitor string
	for _, c := range resp.Cookies() {
		if c.Name == "rl_vid" {
			visitor = c.Value
		}
	}
	if visitor == "" {
		t.Fatal("no rl_vid cookie")
	}
	time.Sleep(1100 * time.Millisecond) // the order comes a second after the click
	post("order.placed", time.Now().UTC().Format(time.RFC3339Nano),
		fmt.Sprintf(`{"order_id":"o1","visitor_id":%q,"currency":"USD","lines":[{"line_id":"l1","product_id":"x","quantity":1,"amount":"100.00"}]}`, visitor))
	type explanation struct {
		Decision       string
		PartnerID      *string `json:"partner_id"`
		DecidedAgainBy string  `json:"decided_again_by"`
		Candidates     []struct{ Reason string }
	}
	var ex explanation
	eventually(t, "the order's decision", func() bool {
		code, body := s.do("GET", "/v1/orders/o1/explain", "", "")
		return code == 200 && json.Unmarshal([]byte(body), &ex) == nil
	})
	if ex.Decision != "none" || len(ex.Candidates) != 1 || ex.Candidates[0].Reason != "partner ann is not registered" {
		t.Errorf("while the link is held: %+v, want none, its click losing because ann is not registered", ex)
	}
	if got := held(); got != wantHeld {
		t.Errorf("refusals %q, want %q", got, wantHeld)
	}

	// The partner registers: the link and the enrollment take effect, and
	// the order is decided again, credited to ann.
	post("partner.registered", def, `{"partner_id":"ann","name":"Ann"}`)
	eventually(t, "the order decided again", func() bool {
		code, body := s.do("GET", "/v1/orders/o1/explain", "", "")
		return code == 200 && json.Unmarshal([]byte(body), &ex) == nil && ex.Decision == "credited"
	})
	if *ex.PartnerID != "ann" || ex.DecidedAgainBy != "admin/d-5" {
		t.Errorf("decided again: %+v, want ann, by the partner's registration admin/d-5", ex)
	}
	var commissions struct {
		Commissions []struct {
			Kind, Amount string
			PartnerID    string `json:"partner_id"`
		}
	}
	get("/v1/commissions?order=o1", &commissions)
	if len(commissions.Commissions) != 1 || commissions.Commissions[0].Kind != "adjusted" || commissions.Commissions[0].PartnerID != "ann" || commissions.Commissions[0].Amount != "20.00" {
		t.Errorf("the order's commissions %+v, want ann's adjusted 20.00", commissions.Commissions)
	}
	if got := held(); got != "" {
		t.Errorf("refusals %q after the partner registered, want none", got)
	}
	if l := linkOf("ann-scm"); l.Status != "active" || l.Missing != "" {
		t.Errorf("/v1/links lists the link as %+v, want active", l)
	}
	var partner struct{ Programs []string }
	get("/v1/partners/ann", &partner)
	if strings.Join(partner.Programs, ",") != "scm" {
		t.Errorf("ann's programs %v, want scm", partner.Programs)
	}
}
