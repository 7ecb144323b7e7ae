package events

import (
	"strings"
	"testing"
)

// TestIDGrammar holds every id field to the grammar (README, "Ids"):
// valid UTF-8, no control characters, no replacement character, at most
// maxIDBytes bytes. Issue 21 item 5: an escaped NUL was accepted and
// written raw to CSV, and invalid UTF-8 was replaced with U+FFFD, so that
// distinct ids became one.
func TestIDGrammar(t *testing.T) {
	ev := func(id, source, data string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"` + source + `","type":"order.placed","time":"2017-03-02T10:00:00Z","data":` + data + `}`
	}
	order := func(orderID, lineID, productID string) string {
		return ev("e", "s", `{"order_id":"`+orderID+`","currency":"USD","lines":[{"line_id":"`+lineID+`","product_id":"`+productID+`","quantity":1,"amount":"1.00"}]}`)
	}
	for _, ok := range []string{
		order("ox/l1", "l2", "p"),
		order("é-ü-中", "l%2F", "p q"),
		ev(strings.Repeat("i", maxIDBytes), strings.Repeat("s", maxIDBytes), `{"order_id":"o","currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":"1.00"}]}`),
	} {
		if _, err := Decode([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, tt := range []struct{ name, raw, field, rule string }{
		{"escaped NUL in id", ev(`e\u0000`, "s", `{}`), "id", "control character U+0000"},
		{"newline in source", ev("e", `s\n`, `{}`), "source", "control character U+000A"},
		{"DEL", order("o\u007f", "l", "p"), "data.order_id", "control character U+007F"},
		{"C1 control", order("o\u0085", "l", "p"), "data.order_id", "control character U+0085"},
		{"tab in line id", order("o", `l\t`, "p"), "data.lines[0].line_id", "control character U+0009"},
		{"replacement character", order("o\uFFFD", "l", "p"), "data.order_id", "U+FFFD"},
		{"lone surrogate", order(`o\ud800`, "l", "p"), "data.order_id", "U+FFFD"},
		{"invalid UTF-8 in an id", order("o\xff", "l", "p"), "data.order_id", "U+FFFD"},
		{"invalid UTF-8 in a name", "{\"specversion\":\"1.0\",\"id\":\"e\",\"source\":\"s\",\"type\":\"partner.registered\",\"time\":\"2017-03-02T10:00:00Z\",\"data\":{\"partner_id\":\"p\",\"name\":\"P\xc3\"}}", "(json)", "not valid UTF-8 at byte"},
		{"over-long id", ev(strings.Repeat("i", maxIDBytes+1), "s", `{}`), "id", "more than the 256 allowed"},
		{"over-long product id", order("o", "l", strings.Repeat("p", maxIDBytes+1)), "data.lines[0].product_id", "more than the 256 allowed"},
		{"control in a product rate key", `{"specversion":"1.0","id":"e","source":"s","type":"program.defined","time":"2017-03-02T10:00:00Z","data":{"program_id":"p","name":"P","priority":1,"product_rates":{"x\u0001":"1%"}}}`, "data.product_rates key", "control character U+0001"},
		{"control in a link code", `{"specversion":"1.0","id":"e","source":"s","type":"link.created","time":"2017-03-02T10:00:00Z","data":{"link_code":"a\u001fb","partner_id":"p","landing_url":"https://x.example/"}}`, "data.link_code", "control character U+001F"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.raw))
			fe := FirstField(err)
			if fe == nil || fe.Field != tt.field || !strings.Contains(fe.Rule, tt.rule) {
				t.Errorf("error %v, want field %s with rule containing %q", err, tt.field, tt.rule)
			}
		})
	}
}

// TestKeysMeanOneThing: encoding/json matches keys without case and keeps
// the last of a repeated key, so {"id":"a","ID":"b"} was the event "b".
// Both forms are rejected, at the envelope and inside data, naming the key.
// A map's keys (product_rates) are case-sensitive ids: "sku" and "SKU" are
// two products, but the same product twice is rejected.
func TestKeysMeanOneThing(t *testing.T) {
	const base = `"specversion":"1.0","source":"s","type":"contact.identified","time":"2017-03-02T10:00:00Z"`
	program := func(rates string) string {
		return `{"specversion":"1.0","id":"e","source":"s","type":"program.defined","time":"2017-03-02T10:00:00Z","data":{"program_id":"p","name":"P","priority":1,"product_rates":` + rates + `}}`
	}
	for _, tt := range []struct{ name, raw, field, rule string }{
		{"repeated id", `{"id":"a","id":"b",` + base + `,"data":{"visitor_id":"v","contact_id":"c"}}`, "id", "appears twice"},
		{"case-variant id", `{"id":"a","ID":"b",` + base + `,"data":{"visitor_id":"v","contact_id":"c"}}`, "ID", `differs from "id" only in case`},
		{"escaped repeat", `{"id":"a","\u0069d":"b",` + base + `,"data":{"visitor_id":"v","contact_id":"c"}}`, "id", "appears twice"},
		{"repeated data key", `{"id":"a",` + base + `,"data":{"visitor_id":"v","contact_id":"c","visitor_id":"w"}}`, "data.visitor_id", "appears twice"},
		{"case-variant data key", `{"id":"a",` + base + `,"data":{"visitor_id":"v","contact_id":"c","Contact_ID":"d"}}`, "data.Contact_ID", `differs from "contact_id" only in case`},
		{"in a line", `{"specversion":"1.0","id":"e","source":"s","type":"order.placed","time":"2017-03-02T10:00:00Z","data":{"order_id":"o","currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":"1.00"},{"line_id":"m","product_id":"p","quantity":1,"amount":"1.00","AMOUNT":"9.00"}]}}`, "data.lines[1].AMOUNT", "only in case"},
		{"repeated product", program(`{"sku":"1%","sku":"2%"}`), "data.product_rates.sku", "appears twice"},
		{"repeated data", `{"id":"a",` + base + `,"data":{"visitor_id":"v","contact_id":"c"},"data":{"visitor_id":"w","contact_id":"c"}}`, "data", "appears twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.raw))
			fe := FirstField(err)
			if fe == nil || fe.Field != tt.field || !strings.Contains(fe.Rule, tt.rule) {
				t.Errorf("error %v, want field %s with rule containing %q", err, tt.field, tt.rule)
			}
		})
	}
	if _, err := Decode([]byte(program(`{"sku":"1%","SKU":"2%"}`))); err != nil {
		t.Errorf("two products whose ids differ in case: %v", err)
	}
}
