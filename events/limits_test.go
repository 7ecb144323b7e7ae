package events

import (
	"strings"
	"testing"
)

// TestMoneyBoundsAtTheEdge holds the money bounds (money.Max*) at intake:
// the largest accepted value of each field decodes, and one unit more is
// rejected with the field and the bound named. Issue 21 item 4: amounts of
// 18 integer digits used to pass and then wrapped inside the engine.
func TestMoneyBoundsAtTheEdge(t *testing.T) {
	ev := func(typ, data string) string {
		return `{"specversion":"1.0","id":"e","source":"s","type":"` + typ + `","time":"2017-03-02T10:00:00Z","data":` + data + `}`
	}
	order := func(cur, qty, amount string) string {
		return ev("order.placed", `{"order_id":"o","currency":"`+cur+`","lines":[{"line_id":"l","product_id":"p","quantity":`+qty+`,"amount":"`+amount+`"}]}`)
	}
	program := func(r string) string {
		return ev("program.defined", `{"program_id":"p","name":"P","priority":1,"product_rates":{"x":"`+r+`"},"tier_rates":["`+r+`"]}`)
	}
	payout := func(cur, amount string) string {
		return ev("payout.recorded", `{"payout_id":"x","partner_id":"p","currency":"`+cur+`","amount":"`+amount+`"}`)
	}
	payment := func(amount string) string {
		return ev("payment.received", `{"order_id":"o","payment_id":"x","amount":"`+amount+`"}`)
	}
	refund := func(amount string) string {
		return ev("order.refunded", `{"order_id":"o","refund_id":"x","lines":[{"line_id":"l","amount":"`+amount+`"}]}`)
	}
	for _, ok := range []string{
		order("USD", "1000000", "1000000000000.00"),
		order("BHD", "1", "1000000000000.000"),
		order("JPY", "1", "1000000000000"),
		program("1000000000"),
		program("1000000000.00000000"),
		program("100%"),
		payout("USD", "10000000000000.00"),
		payout("BHD", "10000000000000.000"),
		payment("1000000000000000"),
		refund("1000000000000.000"),
	} {
		if _, err := Decode([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, tt := range []struct{ raw, field, rule string }{
		{order("USD", "1", "1000000000000.01"), "data.lines[0].amount", "at most 1000000000000.00"},
		{order("JPY", "1", "1000000000001"), "data.lines[0].amount", "at most 1000000000000"},
		{order("USD", "1", "92233720368547758.08"), "data.lines[0].amount", "at most 1000000000000.00"},
		{order("USD", "1", "184467440737095517.16"), "data.lines[0].amount", "at most 1000000000000.00"},
		{order("USD", "1000001", "1.00"), "data.lines[0].quantity", "from 1 to 1000000"},
		{program("1000000000.00000001"), "data.product_rates.x", "at most 1000000000"},
		{program("1000000001"), "data.product_rates.x", "at most 1000000000"},
		{payout("USD", "10000000000000.01"), "data.amount", "at most 10000000000000.00"},
		{payout("USD", "92233720368547758.08"), "data.amount", "at most 10000000000000.00"},
		{payment("1000000000000000.00000001"), "data.amount", "at most 1000000000000000"},
		{refund("1000000000000.00000001"), "data.lines[0].amount", "at most 1000000000000"},
	} {
		_, err := Decode([]byte(tt.raw))
		fe := FirstField(err)
		if fe == nil || fe.Field != tt.field || !strings.Contains(fe.Rule, tt.rule) {
			t.Errorf("%s:\n error %v, want field %s with rule containing %q", tt.raw, err, tt.field, tt.rule)
		}
	}
}
