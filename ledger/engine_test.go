package ledger

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/refledger/refledger/events"
)

// history builds facts for a test and folds them as it goes.
type history struct {
	t     *testing.T
	e     *Engine
	n     int
	facts []events.Fact // every fact folded, in order
}

func newHistory(t *testing.T, policy string) *history {
	h := &history{t: t, e: NewEngine(nil)}
	if policy != "" {
		h.add("policy.changed", "2016-01-01T00:00:00Z", policy)
	}
	h.add("partner.registered", "2016-01-01T00:00:00Z", `{"partner_id":"roger","name":"Roger","contact_id":"c-roger"}`)
	h.add("partner.registered", "2016-01-01T00:00:00Z", `{"partner_id":"maria","name":"Maria"}`)
	h.add("program.defined", "2016-01-01T00:00:00Z", `{"program_id":"events","name":"Events","priority":2,"product_rates":{"ticket":"10%"}}`)
	h.add("program.defined", "2016-01-01T00:00:00Z", `{"program_id":"scm","name":"SCM","priority":1,"product_rates":{"scm":"20%"}}`)
	for _, e := range []string{`"roger","program_id":"events"`, `"roger","program_id":"scm"`, `"maria","program_id":"scm"`} {
		h.add("partner.enrolled", "2016-01-01T00:00:00Z", `{"partner_id":`+e+`}`)
	}
	h.add("link.created", "2016-01-01T00:00:00Z", `{"link_code":"roger-event","partner_id":"roger","program_id":"events","landing_url":"https://shop.example/e"}`)
	h.add("link.created", "2016-01-01T00:00:00Z", `{"link_code":"maria-scm","partner_id":"maria","program_id":"scm","landing_url":"https://shop.example/s"}`)
	return h
}

// add folds one fact and returns its output.
func (h *history) add(typ, at, data string) Output {
	h.t.Helper()
	h.n++
	f, err := events.Decode([]byte(fmt.Sprintf(`{"specversion":"1.0","id":"f-%d","source":"test","type":%q,"time":%q,"data":%s}`, h.n, typ, at, data)))
	if err != nil {
		h.t.Fatalf("fact %d (%s): %v", h.n, typ, err)
	}
	h.facts = append(h.facts, f)
	return h.e.Apply(f, nil)
}

func (h *history) click(id, link, visitor, at string) {
	h.add("click.recorded", at, fmt.Sprintf(`{"click_id":%q,"link_code":%q,"visitor_id":%q}`, id, link, visitor))
}

func (h *history) order(id, visitor, contact, product, amount, at string) Output {
	h.t.Helper()
	return h.add("order.placed", at, fmt.Sprintf(`{"order_id":%q,"visitor_id":%q,"contact_id":%q,"currency":"USD","lines":[{"line_id":"l1","product_id":%q,"quantity":1,"amount":%q}]}`, id, visitor, contact, product, amount))
}

// who returns "partner amount source click" of an order's attribution, or
// "none".
func who(t *testing.T, o Output) string {
	t.Helper()
	if len(o.Attributions) != 1 {
		t.Fatalf("want one attribution, got %+v (refusals %+v)", o.Attributions, o.Refusals)
	}
	a := o.Attributions[0]
	if a.PartnerID == nil {
		return "none"
	}
	return fmt.Sprintf("%s %s %s %s", *a.PartnerID, a.Lines[0].Amount, a.Source, a.ClickID)
}

func reasons(o Output) string {
	var rs []string
	for _, c := range o.Attributions[0].Candidates {
		rs = append(rs, c.Outcome+": "+c.Reason.String())
	}
	for _, l := range o.Attributions[0].Lines {
		rs = append(rs, "line: "+l.Reason.String())
	}
	return strings.Join(rs, " | ")
}

func TestPolicyFields(t *testing.T) {
	const base = `"referral_days":0,"program_binding":"partner-programs","self_referral":"reject","holding_days":30,"payout_basis":"upfront"`
	tests := []struct {
		name, policy string
		setup        func(h *history)
		order        func(h *history) Output
		want, reason string
	}{
		{
			name: "cookie inside its lifetime", policy: `{"tracking":"cookies-only","credit":"last","cookie_days":30,` + base + `}`,
			setup: func(h *history) { h.click("k1", "maria-scm", "v1", "2017-06-01T00:00:00Z") },
			order: func(h *history) Output { return h.order("o", "v1", "", "scm", "100.00", "2017-06-30T00:00:00Z") },
			want:  "maria 20.00 cookie k1",
		},
		{
			name: "cookie expired", policy: `{"tracking":"cookies-only","credit":"last","cookie_days":30,` + base + `}`,
			setup:  func(h *history) { h.click("k1", "maria-scm", "v1", "2017-05-01T00:00:00Z") },
			order:  func(h *history) Output { return h.order("o", "v1", "", "scm", "100.00", "2017-06-30T00:00:00Z") },
			want:   "none",
			reason: "cookie expired on 2017-05-31 (cookie_days 30)",
		},
		{
			name: "cookie_days 0 never expires", policy: `{"tracking":"cookies-only","credit":"last","cookie_days":0,` + base + `}`,
			setup: func(h *history) { h.click("k1", "maria-scm", "v1", "2010-05-01T00:00:00Z") },
			order: func(h *history) Output { return h.order("o", "v1", "", "scm", "100.00", "2017-06-30T00:00:00Z") },
			want:  "maria 20.00 cookie k1",
		},
		{
			name: "partner cookie_days overrides the policy", policy: `{"tracking":"cookies-only","credit":"last","cookie_days":30,` + base + `}`,
			setup: func(h *history) {
				h.add("partner.registered", "2016-01-02T00:00:00Z", `{"partner_id":"maria","name":"Maria","cookie_days":90}`)
				h.click("k1", "maria-scm", "v1", "2017-05-01T00:00:00Z")
			},
			order: func(h *history) Output { return h.order("o", "v1", "", "scm", "100.00", "2017-06-30T00:00:00Z") },
			want:  "maria 20.00 cookie k1",
		},
		{
			name: "click after the order never counts", policy: `{"tracking":"cookies-only","credit":"last","cookie_days":30,` + base + `}`,
			setup:  func(h *history) { h.click("k1", "maria-scm", "v1", "2017-07-01T00:00:00Z") },
			order:  func(h *history) Output { return h.order("o", "v1", "", "scm", "100.00", "2017-06-30T00:00:00Z") },
			want:   "none",
			reason: "came after the order",
		},
		{
			name: "credit last", policy: `{"tracking":"cookies-only","credit":"last","cookie_days":30,` + base + `}`,
			setup: func(h *history) {
				h.click("k1", "roger-event", "v1", "2017-06-01T00:00:00Z")
				h.click("k2", "maria-scm", "v1", "2017-06-02T00:00:00Z")
			},
			order:  func(h *history) Output { return h.order("o", "v1", "", "scm", "100.00", "2017-06-03T00:00:00Z") },
			want:   "maria 20.00 cookie k2",
			reason: "lost: a later referral wins (credit: last)",
		},
		{
			name: "credit first", policy: `{"tracking":"cookies-only","credit":"first","cookie_days":30,` + base + `}`,
			setup: func(h *history) {
				h.click("k1", "roger-event", "v1", "2017-06-01T00:00:00Z")
				h.click("k2", "maria-scm", "v1", "2017-06-02T00:00:00Z")
			},
			order:  func(h *history) Output { return h.order("o", "v1", "", "scm", "100.00", "2017-06-03T00:00:00Z") },
			want:   "roger 20.00 cookie k1",
			reason: "lost: an earlier referral wins (credit: first)",
		},
		{
			name: "history fallback", policy: `{"tracking":"referral-history-and-cookies","credit":"last","cookie_days":30,` + base + `}`,
			setup: func(h *history) {
				h.click("k1", "roger-event", "laptop", "2016-05-01T00:00:00Z")
				h.add("contact.identified", "2016-05-01T00:01:00Z", `{"visitor_id":"laptop","contact_id":"katie"}`)
			},
			order: func(h *history) Output {
				return h.order("o", "phone", "katie", "scm", "497.00", "2017-03-02T00:00:00Z")
			},
			want: "roger 99.40 referral-history k1",
		},
		{
			name: "cookies-only ignores history", policy: `{"tracking":"cookies-only","credit":"last","cookie_days":30,` + base + `}`,
			setup: func(h *history) {
				h.click("k1", "roger-event", "laptop", "2016-05-01T00:00:00Z")
				h.add("contact.identified", "2016-05-01T00:01:00Z", `{"visitor_id":"laptop","contact_id":"katie"}`)
			},
			order: func(h *history) Output {
				return h.order("o", "phone", "katie", "scm", "497.00", "2017-03-02T00:00:00Z")
			},
			want:   "none",
			reason: "lost: cookies-only ignores referral history",
		},
		{
			name: "referral_days limits history", policy: `{"tracking":"referral-history-and-cookies","credit":"last","cookie_days":30,"referral_days":180,"program_binding":"partner-programs","self_referral":"reject","holding_days":30,"payout_basis":"upfront"}`,
			setup: func(h *history) {
				h.click("k1", "roger-event", "laptop", "2016-05-01T00:00:00Z")
				h.add("contact.identified", "2016-05-01T00:01:00Z", `{"visitor_id":"laptop","contact_id":"katie"}`)
			},
			order: func(h *history) Output {
				return h.order("o", "phone", "katie", "scm", "497.00", "2017-03-02T00:00:00Z")
			},
			want:   "none",
			reason: "referral expired on 2016-10-28 (referral_days 180)",
		},
		{
			name: "clicks carrying the contact id are history", policy: `{"tracking":"referral-history-and-cookies","credit":"last","cookie_days":30,` + base + `}`,
			setup: func(h *history) {
				h.add("click.recorded", "2016-05-01T00:00:00Z", `{"click_id":"k1","link_code":"maria-scm","visitor_id":"email","contact_id":"katie"}`)
			},
			order: func(h *history) Output { return h.order("o", "", "katie", "scm", "10.00", "2017-03-02T00:00:00Z") },
			want:  "maria 2.00 referral-history k1",
		},
		{
			name: "manual referral", policy: `{"tracking":"referral-history-and-cookies","credit":"last","cookie_days":30,` + base + `}`,
			setup: func(h *history) {
				h.add("referral.assigned", "2016-05-01T00:00:00Z", `{"contact_id":"katie","partner_id":"maria","note":"phone"}`)
			},
			order: func(h *history) Output { return h.order("o", "", "katie", "scm", "10.00", "2017-03-02T00:00:00Z") },
			want:  "maria 2.00 manual ",
		},
		{
			name: "order identifies the visitor for later orders", policy: `{"tracking":"referral-history-and-cookies","credit":"last","cookie_days":30,` + base + `}`,
			setup: func(h *history) {
				h.click("k1", "maria-scm", "tablet", "2016-05-01T00:00:00Z")
				h.order("first", "tablet", "katie", "scm", "10.00", "2016-05-02T00:00:00Z")
			},
			order: func(h *history) Output { return h.order("o", "", "katie", "scm", "10.00", "2017-03-02T00:00:00Z") },
			want:  "maria 2.00 referral-history k1",
		},
		{
			name: "link-program: product outside the link's program earns nothing", policy: `{"tracking":"referral-history-and-cookies","credit":"last","cookie_days":30,"referral_days":0,"program_binding":"link-program","self_referral":"reject","holding_days":30,"payout_basis":"upfront"}`,
			setup:  func(h *history) { h.click("k1", "roger-event", "v1", "2017-06-01T00:00:00Z") },
			order:  func(h *history) Output { return h.order("o", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z") },
			want:   "roger 0.00 cookie k1",
			reason: "line: product scm is not in program events of link roger-event (program_binding: link-program)",
		},
		{
			name: "partner-programs: the lowest priority number covering the product", policy: `{"tracking":"referral-history-and-cookies","credit":"last","cookie_days":30,` + base + `}`,
			setup: func(h *history) { h.click("k1", "roger-event", "v1", "2017-06-01T00:00:00Z") },
			order: func(h *history) Output { return h.order("o", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z") },
			want:  "roger 20.00 cookie k1",
		},
		{
			name: "self-referral rejected", policy: `{"tracking":"cookies-only","credit":"last","cookie_days":30,` + base + `}`,
			setup: func(h *history) { h.click("k1", "roger-event", "v1", "2017-06-01T00:00:00Z") },
			order: func(h *history) Output {
				return h.order("o", "v1", "c-roger", "ticket", "100.00", "2017-06-02T00:00:00Z")
			},
			want:   "none",
			reason: "self-referral: partner roger is the buyer (contact c-roger)",
		},
		{
			name: "self-referral allowed", policy: `{"tracking":"cookies-only","credit":"last","cookie_days":30,"referral_days":0,"program_binding":"partner-programs","self_referral":"allow","holding_days":30,"payout_basis":"upfront"}`,
			setup: func(h *history) { h.click("k1", "roger-event", "v1", "2017-06-01T00:00:00Z") },
			order: func(h *history) Output {
				return h.order("o", "v1", "c-roger", "ticket", "100.00", "2017-06-02T00:00:00Z")
			},
			want: "roger 10.00 cookie k1",
		},
		{
			name: "product no program covers", policy: `{"tracking":"cookies-only","credit":"last","cookie_days":30,` + base + `}`,
			setup:  func(h *history) { h.click("k1", "maria-scm", "v1", "2017-06-01T00:00:00Z") },
			order:  func(h *history) Output { return h.order("o", "v1", "", "mug", "100.00", "2017-06-02T00:00:00Z") },
			want:   "maria 0.00 cookie k1",
			reason: "line: not commissionable: no program of partner maria covers product mug",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory(t, tt.policy)
			tt.setup(h)
			o := tt.order(h)
			if got := who(t, o); got != tt.want {
				t.Errorf("credited %q, want %q; reasons: %s", got, tt.want, reasons(o))
			}
			if tt.reason != "" && !strings.Contains(reasons(o), tt.reason) {
				t.Errorf("reasons %q do not contain %q", reasons(o), tt.reason)
			}
		})
	}
}

func TestPolicyChangeAppliesToNewOrdersOnly(t *testing.T) {
	h := newHistory(t, `{"tracking":"referral-history-and-cookies"}`)
	h.click("k1", "roger-event", "laptop", "2016-05-01T00:00:00Z")
	h.add("contact.identified", "2016-05-01T00:01:00Z", `{"visitor_id":"laptop","contact_id":"katie"}`)
	before := h.order("o1", "phone", "katie", "scm", "100.00", "2017-03-02T00:00:00Z")
	h.add("policy.changed", "2017-04-01T00:00:00Z", `{"tracking":"cookies-only"}`)
	after := h.order("o2", "phone", "katie", "scm", "100.00", "2017-04-02T00:00:00Z")
	if who(t, before) != "roger 20.00 referral-history k1" || who(t, after) != "none" {
		t.Fatalf("before %q, after %q", who(t, before), who(t, after))
	}
	if v := after.Attributions[0].Policy.Version; v != "v2" {
		t.Errorf("policy version %q, want v2", v)
	}
	// A back-dated change governs new orders placed in its window, and never
	// rewrites o1.
	h.add("policy.changed", "2017-05-01T00:00:00Z", `{"tracking":"referral-history-and-cookies","effective_at":"2017-01-01T00:00:00Z"}`)
	late := h.order("o3", "phone", "katie", "scm", "100.00", "2017-04-03T00:00:00Z")
	if who(t, late) != "roger 20.00 referral-history k1" || len(late.Entries) != 1 {
		t.Fatalf("back-dated policy: %q", who(t, late))
	}
}

func TestCommissionRules(t *testing.T) {
	h := newHistory(t, `{"holding_days":10}`)
	h.add("partner.registered", "2016-01-01T00:00:00Z", `{"partner_id":"agency","name":"Agency"}`)
	h.add("partner.registered", "2016-01-01T00:00:00Z", `{"partner_id":"network","name":"Network"}`)
	h.add("partner.registered", "2016-01-02T00:00:00Z", `{"partner_id":"agency","name":"Agency","parent_partner_id":"network"}`)
	h.add("partner.registered", "2016-01-02T00:00:00Z", `{"partner_id":"maria","name":"Maria","parent_partner_id":"agency"}`)
	h.add("program.defined", "2016-01-02T00:00:00Z", `{"program_id":"scm","name":"SCM","priority":1,"default_rate":"5%","product_rates":{"scm":"20%","kit":"2.50"},"tier_rates":["5%","2%"],"cycles":2}`)
	h.click("k1", "maria-scm", "v1", "2017-06-01T00:00:00Z")
	o := h.add("order.placed", "2017-06-02T00:00:00Z", `{"order_id":"o","visitor_id":"v1","currency":"USD","lines":[{"line_id":"a","product_id":"scm","quantity":1,"amount":"497.00"},{"line_id":"b","product_id":"kit","quantity":3,"amount":"30.00"},{"line_id":"c","product_id":"other","quantity":1,"amount":"0.30"}]}`)
	var got []string
	for _, e := range o.Entries {
		got = append(got, fmt.Sprintf("%s t%d %s %s", e.LineID, e.Tier, e.PartnerID, e.Amount))
	}
	// 20% of 497 = 99.40; tier 2 5% = 24.85; tier 3 2% = 9.94. Fixed 2.50 x 3.
	// Default 5% of 0.30 = 0.015, half-even to 0.02.
	want := "a t1 maria 99.40,a t2 agency 24.85,a t3 network 9.94,b t1 maria 7.50,b t2 agency 1.50,b t3 network 0.60,c t1 maria 0.02,c t2 agency 0.02,c t3 network 0.01"
	if strings.Join(got, ",") != want {
		t.Errorf("entries\n%s\nwant\n%s", strings.Join(got, ","), want)
	}
	if pa := o.Entries[0].PayableAt.Format("2006-01-02"); pa != "2017-06-12" {
		t.Errorf("payable at %s, want 10 holding days after the order", pa)
	}
	// Subscriptions: cycles beyond the program's 2 earn nothing; renewals keep
	// the first order's referral without a cookie.
	for cycle := 1; cycle <= 3; cycle++ {
		o := h.add("order.placed", fmt.Sprintf("2017-%02d-03T00:00:00Z", 5+cycle), fmt.Sprintf(`{"order_id":"s%d","visitor_id":"v1","currency":"USD","subscription_id":"sub","cycle":%d,"lines":[{"line_id":"l","product_id":"scm","quantity":1,"amount":"10.00"}]}`, cycle, cycle))
		earned := who(t, o)
		want := "maria 2.00 cookie k1"
		if cycle == 3 {
			want = "maria 0.00 cookie k1"
			if !strings.Contains(reasons(o), "subscription payment 3 is past the 2 commissionable cycles of program scm") {
				t.Errorf("cycle 3 reason: %s", reasons(o))
			}
		}
		if earned != want {
			t.Errorf("cycle %d: %q, want %q (%s)", cycle, earned, want, reasons(o))
		}
	}
}

func TestRefundsReverseProportionallyAndExactly(t *testing.T) {
	h := newHistory(t, "")
	h.click("k1", "maria-scm", "v1", "2017-06-01T00:00:00Z")
	h.order("o", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z") // 20.00
	var reversed []string
	for i, amt := range []string{"33.33", "33.33", "33.34"} {
		o := h.add("order.refunded", "2017-06-10T00:00:00Z", fmt.Sprintf(`{"order_id":"o","refund_id":"r%d","lines":[{"line_id":"l1","amount":%q}]}`, i, amt))
		reversed = append(reversed, o.Entries[0].Amount)
	}
	// 6.666 -> 6.67, 6.67, then exactly what is left: 6.66.
	if strings.Join(reversed, ",") != "6.67,6.67,6.66" {
		t.Errorf("reversals %v, want 6.67,6.67,6.66", reversed)
	}
}

func TestRefusals(t *testing.T) {
	h := newHistory(t, `{"holding_days":0}`)
	h.click("k1", "maria-scm", "v1", "2017-06-01T00:00:00Z")
	h.order("o", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z") // maria 20.00
	tests := []struct{ typ, at, data, reason string }{
		{"order.refunded", "2017-06-03T00:00:00Z", `{"order_id":"nope","refund_id":"r","lines":[{"line_id":"l1","amount":"1.00"}]}`, "order nope is unknown"},
		{"order.refunded", "2017-06-03T00:00:00Z", `{"order_id":"o","refund_id":"r","lines":[{"line_id":"l1","amount":"100.01"}]}`, "exceeds the 100.00 left to refund"},
		{"order.refunded", "2017-06-03T00:00:00Z", `{"order_id":"o","refund_id":"r","lines":[{"line_id":"l9","amount":"1.00"}]}`, "line l9 is not on order o"},
		{"order.refunded", "2017-06-03T00:00:00Z", `{"order_id":"o","refund_id":"r","lines":[{"line_id":"l1","amount":"1.001"}]}`, "more than the 2 allowed"},
		{"payment.received", "2017-06-03T00:00:00Z", `{"order_id":"o","payment_id":"p","amount":"100.01"}`, "exceeds the 100.00 left to pay"},
		{"payout.recorded", "2017-06-03T00:00:00Z", `{"payout_id":"po","partner_id":"maria","currency":"USD","amount":"20.01"}`, "exceeds the 20.00 payable to maria"},
		{"payout.recorded", "2017-06-03T00:00:00Z", `{"payout_id":"po","partner_id":"ghost","currency":"USD","amount":"1.00"}`, "partner ghost is not registered"},
		{"order.placed", "2017-06-03T00:00:00Z", `{"order_id":"o","currency":"USD","lines":[{"line_id":"l1","product_id":"scm","quantity":1,"amount":"1.00"}]}`, "order o was already placed"},
		{"link.created", "2017-06-03T00:00:00Z", `{"link_code":"maria-scm","partner_id":"roger","landing_url":"https://x.example/"}`, "already belongs to partner maria"},
	}
	for _, tt := range tests {
		o := h.add(tt.typ, tt.at, tt.data)
		if len(o.Refusals) != 1 || !strings.Contains(o.Refusals[0].Reason, tt.reason) || len(o.Entries) != 0 {
			t.Errorf("%s %s: got %+v, want a refusal containing %q", tt.typ, tt.data, o, tt.reason)
		}
	}
	if o := h.add("payout.recorded", "2017-06-03T00:00:00Z", `{"payout_id":"po","partner_id":"maria","currency":"USD","amount":"20.00"}`); len(o.Entries) != 1 || o.Entries[0].Kind != KindPaid {
		t.Errorf("a payout of exactly the payable amount: %+v", o)
	}
	// The same fact key again with another payload is refused; the same
	// payload is a silent duplicate.
	payout := func(amount string) Output {
		f, err := events.Decode([]byte(`{"specversion":"1.0","id":"po-dup","source":"test","type":"payout.recorded","time":"2017-06-03T00:00:00Z","data":{"payout_id":"po-dup","partner_id":"maria","currency":"USD","amount":"` + amount + `"}}`))
		if err != nil {
			t.Fatal(err)
		}
		return h.e.Apply(f, nil)
	}
	if o := payout("1.00"); len(o.Refusals) != 1 || !strings.Contains(o.Refusals[0].Reason, "exceeds") {
		t.Errorf("payout over what is left: %+v", o)
	}
	if o := payout("1.00"); !o.Empty() {
		t.Errorf("the same fact again must be ignored: %+v", o)
	}
	if o := payout("2.00"); len(o.Refusals) != 1 || !strings.Contains(o.Refusals[0].Reason, "different payload") {
		t.Errorf("conflicting duplicate: %+v", o)
	}
}

func TestOnPaymentBasis(t *testing.T) {
	h := newHistory(t, `{"payout_basis":"on-payment"}`)
	h.click("k1", "maria-scm", "v1", "2017-06-01T00:00:00Z")
	if o := h.order("o", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z"); len(o.Entries) != 0 {
		t.Fatalf("on-payment accrued at the order: %+v", o.Entries)
	}
	var accrued []string
	for i, amt := range []string{"33.33", "33.33", "33.34"} {
		o := h.add("payment.received", "2017-06-05T00:00:00Z", fmt.Sprintf(`{"order_id":"o","payment_id":"p%d","amount":%q}`, i, amt))
		accrued = append(accrued, o.Entries[0].Amount)
	}
	if strings.Join(accrued, ",") != "6.67,6.67,6.66" {
		t.Errorf("accruals %v, want 6.67,6.67,6.66 (the last payment takes what is left)", accrued)
	}
}

// On payment, a commission is still held holding_days after the order
// (CONTRACT §2), whenever the payment that earns it comes: one paid before
// then waits for it, one paid after it is payable at once. Each accrual
// names its payment as its cause.
func TestOnPaymentHoldsFromTheOrder(t *testing.T) {
	h := newHistory(t, `{"payout_basis":"on-payment","holding_days":30}`)
	h.click("k1", "maria-scm", "v1", "2017-06-01T00:00:00Z")
	h.order("o", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z")
	early := h.add("payment.received", "2017-06-05T00:00:00Z", `{"order_id":"o","payment_id":"p1","amount":"50.00"}`)
	late := h.add("payment.received", "2017-08-01T00:00:00Z", `{"order_id":"o","payment_id":"p2","amount":"50.00"}`)
	causes := []string{fmt.Sprintf("test/f-%d", h.n-1), fmt.Sprintf("test/f-%d", h.n)}
	held := time.Date(2017, 7, 2, 0, 0, 0, 0, time.UTC)
	for _, o := range []Output{early, late} {
		if len(o.Entries) != 1 || !o.Entries[0].PayableAt.Equal(held) {
			t.Errorf("entries %+v, want one payable at %s", o.Entries, held)
		}
	}
	// Each accrual names its payment's fact as its cause, not the order's.
	for i, o := range []Output{early, late} {
		if len(o.Entries) == 1 && o.Entries[0].Fact != causes[i] {
			t.Errorf("accrual %d caused by %q, want %q", i, o.Entries[0].Fact, causes[i])
		}
	}
	payout := func(id, at, amount string) Output {
		return h.add("payout.recorded", at, `{"payout_id":"`+id+`","partner_id":"maria","currency":"USD","amount":"`+amount+`"}`)
	}
	if o := payout("too-soon", "2017-07-01T00:00:00Z", "0.01"); len(o.Refusals) != 1 {
		t.Errorf("a payout before the hold ends: %+v, want it refused", o)
	}
	if o := payout("all", "2017-08-01T00:00:00Z", "20.00"); len(o.Refusals) != 0 {
		t.Errorf("a payout of both payments' commission once the late one came: %+v", o.Refusals)
	}
}

func TestJPYRoundsToWholeYen(t *testing.T) {
	h := newHistory(t, "")
	h.add("program.defined", "2016-01-01T00:00:00Z", `{"program_id":"scm","name":"SCM","priority":1,"product_rates":{"scm":"12.5%"}}`)
	h.click("k1", "maria-scm", "v1", "2017-06-01T00:00:00Z")
	o := h.add("order.placed", "2017-06-02T00:00:00Z", `{"order_id":"o","visitor_id":"v1","currency":"JPY","lines":[{"line_id":"l1","product_id":"scm","quantity":1,"amount":"1020"}]}`)
	if got := o.Entries[0].Amount; got != "128" { // 127.5 half-even -> 128
		t.Errorf("JPY commission %s, want 128", got)
	}
}

// Times keep their full precision (CONTRACT §2): a click at 10:00:00.9
// is after an order at 10:00:00.5 and never counts, nor does one a
// nanosecond after the order; one at the order's very instant is not
// after it, and counts. The explanation shows the click's own time,
// fraction and all.
func TestClicksKeepFullPrecision(t *testing.T) {
	h := newHistory(t, "")
	h.click("k-after", "maria-scm", "v1", "2017-03-02T10:00:00.9Z")
	out := h.order("o-after", "v1", "", "scm", "100.00", "2017-03-02T10:00:00.5Z")
	if got := who(t, out); got != "none" {
		t.Errorf("a click at .9 after an order at .5: got %s, want none", got)
	}
	if got, want := reasons(out), "lost: the click at 2017-03-02T10:00:00.9Z came after the order"; !strings.HasPrefix(got, want) {
		t.Errorf("explanation %q, want it to start %q", got, want)
	}
	if c := out.Attributions[0].Candidates; len(c) != 1 || !c[0].Time.Equal(mustTime(t, "2017-03-02T10:00:00.9Z")) {
		t.Errorf("the candidate's time: %+v, want 10:00:00.9", c)
	}

	h.click("k-ns", "maria-scm", "v2", "2017-03-02T10:00:00.000000001Z")
	if got := who(t, h.order("o-ns", "v2", "", "scm", "100.00", "2017-03-02T10:00:00Z")); got != "none" {
		t.Errorf("a click a nanosecond after the order: got %s, want none", got)
	}
	h.click("k-same", "maria-scm", "v3", "2017-03-02T10:00:00.123456789Z")
	if got := who(t, h.order("o-same", "v3", "", "scm", "100.00", "2017-03-02T10:00:00.123456789Z")); got != "maria 20.00 cookie k-same" {
		t.Errorf("a click at the order's very instant: got %s, want maria's", got)
	}
}

// A lifetime includes its last instant, to the nanosecond (CONTRACT §2):
// a click exactly cookie_days, or a referral exactly referral_days, before
// the order qualifies; one a nanosecond earlier has expired.
func TestLifetimesEndAtTheirLastNanosecond(t *testing.T) {
	const click = "2017-03-02T10:00:00.75Z"
	cookie := func(order string) string {
		h := newHistory(t, `{"tracking":"cookies-only","cookie_days":30}`)
		h.click("k1", "maria-scm", "v1", click)
		return who(t, h.order("o1", "v1", "", "scm", "100.00", order))
	}
	if got := cookie("2017-04-01T10:00:00.75Z"); got != "maria 20.00 cookie k1" {
		t.Errorf("a cookie exactly 30 days old: got %s, want maria's", got)
	}
	if got := cookie("2017-04-01T10:00:00.750000001Z"); got != "none" {
		t.Errorf("a cookie 30 days and a nanosecond old: got %s, want none", got)
	}
	referral := func(order string) string {
		h := newHistory(t, `{"tracking":"referral-history-and-cookies","cookie_days":1,"referral_days":30}`)
		h.click("k1", "maria-scm", "v1", click)
		h.add("contact.identified", "2017-03-02T11:00:00Z", `{"visitor_id":"v1","contact_id":"katie"}`)
		return who(t, h.order("o1", "", "katie", "scm", "100.00", order))
	}
	if got := referral("2017-04-01T10:00:00.75Z"); got != "maria 20.00 referral-history k1" {
		t.Errorf("a referral exactly 30 days old: got %s, want maria's", got)
	}
	if got := referral("2017-04-01T10:00:00.750000001Z"); got != "none" {
		t.Errorf("a referral 30 days and a nanosecond old: got %s, want none", got)
	}
}

// An explanation lists at most maxCandidatesListed candidates, the winner
// always among them: a browser that clicked thousands of times would
// otherwise make one order's record larger than a ledger commit may be.
func TestExplanationsListBoundedCandidates(t *testing.T) {
	h := newHistory(t, `{"credit":"first","cookie_days":0}`)
	for i := range 3 * maxCandidatesListed {
		h.click(fmt.Sprintf("k%d", i), "maria-scm", "v1", time.Date(2017, 6, 1, 0, 0, i, 0, time.UTC).Format(time.RFC3339))
	}
	out := h.order("o", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z")
	if got := who(t, out); got != "maria 20.00 cookie k0" {
		t.Fatalf("first credit: %s", got)
	}
	a := out.Attributions[0]
	if len(a.Candidates) != maxCandidatesListed || a.Candidates[0].ClickID != "k0" || a.Candidates[0].Outcome != OutcomeWon {
		t.Fatalf("%d candidates, the first %+v: want %d, the winner k0 first", len(a.Candidates), a.Candidates[0], maxCandidatesListed)
	}
	if last := a.Candidates[len(a.Candidates)-1]; last.ClickID != fmt.Sprintf("k%d", 3*maxCandidatesListed-1) {
		t.Errorf("the last listed is %s, want the latest click", last.ClickID)
	}
	if want := fmt.Sprintf("%d earlier candidates are not listed (at most %d are)", 2*maxCandidatesListed, maxCandidatesListed); !strings.Contains(strings.Join(a.Notes, "|"), want) {
		t.Errorf("notes %q, want %q", a.Notes, want)
	}
}

// An explanation lists the tier shares of at most maxTierSharesListed
// lines' worth; past that, it says that the entries hold them.
func TestExplanationsListBoundedTierShares(t *testing.T) {
	h := newHistory(t, "")
	h.add("partner.registered", "2016-01-01T00:00:00Z", `{"partner_id":"kim","name":"Kim","parent_partner_id":"maria"}`)
	h.add("program.defined", "2016-01-01T00:00:00Z", `{"program_id":"scm","name":"SCM","priority":1,"default_rate":"20%","tier_rates":["5%"]}`)
	h.add("partner.enrolled", "2016-01-01T00:00:00Z", `{"partner_id":"kim","program_id":"scm"}`)
	h.add("link.created", "2016-01-01T00:00:00Z", `{"link_code":"kim","partner_id":"kim","landing_url":"https://shop.example/k"}`)
	h.click("k1", "kim", "v1", "2017-06-01T00:00:00Z")
	order := func(id string, n int) Output {
		lines := make([]string, n)
		for i := range lines {
			lines[i] = fmt.Sprintf(`{"line_id":"%d","product_id":"x","quantity":1,"amount":"1.00"}`, i)
		}
		return h.add("order.placed", "2017-06-02T00:00:00Z", `{"order_id":"`+id+`","visitor_id":"v1","currency":"USD","lines":[`+strings.Join(lines, ",")+`]}`)
	}
	if a := order("small", maxTierSharesListed/2).Attributions[0]; len(a.Lines[0].Tiers) != 2 || strings.Contains(strings.Join(a.Notes, "|"), "not listed") {
		t.Errorf("%d lines of two tiers: line 0 lists %d tiers, notes %q", maxTierSharesListed/2, len(a.Lines[0].Tiers), a.Notes)
	}
	out := order("large", maxTierSharesListed/2+1)
	a := out.Attributions[0]
	if len(a.Lines[0].Tiers) != 0 || !strings.Contains(strings.Join(a.Notes, "|"), "the 1002 tier shares of the lines are not listed") || len(out.Entries) != 2*(maxTierSharesListed/2+1) {
		t.Errorf("past the bound: line 0 lists %d tiers, notes %q, %d entries", len(a.Lines[0].Tiers), a.Notes, len(out.Entries))
	}
}

// A contact that many browsers share (a "guest" placeholder) counts the
// clicks of the maxHistoryBrowsers browsers identified last before the
// order, and says so: every order of it would otherwise weigh every click
// of all of them.
func TestHistoryCountsBoundedBrowsers(t *testing.T) {
	h := newHistory(t, `{"tracking":"referral-history-and-cookies","credit":"first","cookie_days":1}`)
	for i := range maxHistoryBrowsers + 10 {
		at := time.Date(2017, 6, 1, 0, i, 0, 0, time.UTC).Format(time.RFC3339)
		v := fmt.Sprintf("v%d", i)
		h.click(fmt.Sprintf("k%d", i), "maria-scm", v, at)
		h.add("contact.identified", at, fmt.Sprintf(`{"visitor_id":%q,"contact_id":"guest"}`, v))
	}
	out := h.order("o", "", "guest", "scm", "100.00", "2017-06-20T00:00:00Z")
	// First credit among the browsers counted: the eleventh click, not the first.
	if got := who(t, out); got != "maria 20.00 referral-history k10" {
		t.Errorf("credited %s, want k10: the first of the %d browsers identified last", got, maxHistoryBrowsers)
	}
	a := out.Attributions[0]
	if !strings.Contains(strings.Join(a.Notes, "|"), "contact guest has 10 more browsers than the 64 identified last") || !strings.Contains(strings.Join(a.Notes, "|"), fmt.Sprintf("%d earlier candidates are not listed", maxHistoryBrowsers-maxCandidatesListed)) {
		t.Errorf("%d candidates, notes %q", len(a.Candidates), a.Notes)
	}
}

// An explanation writes its candidates in place and slices their click ids
// out of one shared string; with cookie clicks, history clicks and manual
// referrals interleaved, and past the listing bound, every candidate must
// be the one candidate() puts into words on its own.
func TestExplanationCandidatesMatchOneByOne(t *testing.T) {
	for _, n := range []int{3, maxCandidatesListed + 7} {
		h := newHistory(t, `{"tracking":"referral-history-and-cookies","credit":"first","cookie_days":2,"referral_days":0}`)
		h.add("contact.identified", "2017-05-01T00:00:00Z", `{"visitor_id":"v2","contact_id":"c1"}`)
		for i := range n {
			at := time.Date(2017, 6, 1, 0, 0, i, 0, time.UTC).Format(time.RFC3339)
			switch i % 3 {
			case 0:
				h.click(fmt.Sprintf("cookie-%d", i), "maria-scm", "v1", at)
			case 1:
				h.click(fmt.Sprintf("history-click-%d", i), "roger-event", "v2", at)
			default:
				h.add("referral.assigned", at, `{"contact_id":"c1","partner_id":"roger","note":"phone"}`)
			}
		}
		s := h.e.State()
		b := Buyer{OrderTime: time.Date(2017, 6, 20, 0, 0, 0, 0, time.UTC), VisitorID: "v1", ContactID: "c1"}
		var sc scratch
		p := h.e.timeline.At(b.OrderTime).Policy
		d := s.decide(&b, &p, &sc)
		ex := s.explain(&d, &b)
		var indexes []int
		if len(d.refs) > maxCandidatesListed {
			indexes = d.listed()
		} else {
			for i := range d.refs {
				indexes = append(indexes, i)
			}
		}
		if len(ex.Candidates) != len(indexes) {
			t.Fatalf("%d referrals: %d candidates, want %d", n, len(ex.Candidates), len(indexes))
		}
		ids := 0
		for j, i := range indexes {
			if want := s.candidate(&d, i, &b); !reflect.DeepEqual(ex.Candidates[j], want) {
				t.Fatalf("%d referrals, candidate %d:\n%+v\nwant\n%+v", n, j, ex.Candidates[j], want)
			}
			if ex.Candidates[j].ClickID != "" {
				ids++
			}
		}
		if ids == 0 || ids == len(indexes) {
			t.Fatalf("%d referrals: %d of %d candidates have click ids: want clicks and manual referrals both", n, ids, len(indexes))
		}
		if (d.winner >= 0) != (ex.Winner != nil) {
			t.Fatalf("winner %d, explained winner %v", d.winner, ex.Winner)
		}
	}
}

// A program or partner defined again changes the orders placed after it:
// the new rate, the new cookie lifetime, also in an engine restored from a
// snapshot before the change.
func TestCatalogDefinedAgainAppliesToLaterOrders(t *testing.T) {
	h := newHistory(t, `{"tracking":"cookies-only","credit":"last","cookie_days":30,"referral_days":0,"program_binding":"partner-programs","self_referral":"reject","holding_days":30,"payout_basis":"upfront"}`)
	h.click("k1", "roger-event", "v1", "2017-03-01T10:00:00Z")
	if got := who(t, h.order("o1", "v1", "", "ticket", "100.00", "2017-03-02T10:00:00Z")); got != "roger 10.00 cookie k1" {
		t.Fatalf("before: %s", got)
	}
	h.add("program.defined", "2017-03-03T00:00:00Z", `{"program_id":"events","name":"Events","priority":2,"product_rates":{"ticket":"15%"}}`)
	if got := who(t, h.order("o2", "v1", "", "ticket", "100.00", "2017-03-04T10:00:00Z")); got != "roger 15.00 cookie k1" {
		t.Errorf("after the program was defined again: %s, want the new 15%%", got)
	}
	h.add("partner.registered", "2017-03-05T00:00:00Z", `{"partner_id":"roger","name":"Roger","contact_id":"c-roger","cookie_days":3}`)
	if got := who(t, h.order("o3", "v1", "", "ticket", "100.00", "2017-03-06T10:00:00Z")); got != "none" {
		t.Errorf("after roger's cookies were cut to 3 days: %s, want none", got)
	}
	// Roger registers again as the contact who buys next: a self-referral.
	h.add("partner.registered", "2017-03-07T00:00:00Z", `{"partner_id":"roger","name":"Roger","contact_id":"c-buyer","cookie_days":30}`)
	if got := who(t, h.order("o4", "v1", "c-buyer", "ticket", "100.00", "2017-03-08T10:00:00Z")); got != "none" {
		t.Errorf("roger buying through his own link: %s, want none (self-referral)", got)
	}
	if got := who(t, h.order("o5", "v2", "c-other", "ticket", "100.00", "2017-03-08T11:00:00Z")); got != "none" {
		t.Errorf("another buyer without clicks: %s, want none", got)
	}
	h.click("k2", "roger-event", "v2", "2017-03-08T12:00:00Z")
	if got := who(t, h.order("o6", "v2", "c-other", "ticket", "100.00", "2017-03-08T13:00:00Z")); got != "roger 15.00 cookie k2" {
		t.Errorf("another buyer through roger's link: %s, want roger's 15%%", got)
	}
	for cut := range len(h.facts) + 1 {
		checkSnapshotResumes(t, h.facts, cut, nil)
	}
}
