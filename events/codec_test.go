package events

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// TestFixturesRoundTrip decodes the fixture of every fact type of schema
// version 1, encodes it and decodes it again. The fixtures stay forever: a
// change that cannot read them breaks stored history.
func TestFixturesRoundTrip(t *testing.T) {
	for _, typ := range FactTypes {
		t.Run(typ, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "v1", typ+".json"))
			if err != nil {
				t.Fatalf("every fact type needs a fixture: %v", err)
			}
			f, err := Decode(raw)
			if err != nil {
				t.Fatalf("decode fixture: %v", err)
			}
			if f.Type != typ || f.Data.EventType() != typ {
				t.Fatalf("decoded type %q / %q, want %q", f.Type, f.Data.EventType(), typ)
			}
			again, err := Decode(Encode(f))
			if err != nil {
				t.Fatalf("decode of encoded fact: %v", err)
			}
			if !reflect.DeepEqual(f, again) {
				t.Fatalf("round trip changed the fact:\n%#v\n%#v", f, again)
			}
			if PayloadHash(f) != PayloadHash(again) {
				t.Fatal("round trip changed the payload hash")
			}
		})
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	order := func(data string) string {
		return `{"specversion":"1.0","id":"e1","source":"checkout","type":"order.placed","time":"2017-03-02T10:00:00Z","data":` + data + `}`
	}
	tests := []struct {
		name, raw, field, rule string
	}{
		{"malformed json", `{"specversion":`, "(json)", "malformed JSON"},
		{"not an object", `[1,2]`, "(event)", "want a JSON struct"},
		{"unknown type", `{"specversion":"1.0","id":"e","source":"s","type":"order.shipped","time":"2017-03-02T10:00:00Z","data":{}}`, "type", `"order.shipped" is not a known event type`},
		{"missing id", `{"specversion":"1.0","source":"s","type":"order.placed","time":"2017-03-02T10:00:00Z","data":{}}`, "id", "is required"},
		{"bad time", `{"specversion":"1.0","id":"e","source":"s","type":"order.placed","time":"yesterday","data":{}}`, "time", "is not an RFC 3339 time"},
		{"bad spec", `{"specversion":"0.3","id":"e","source":"s","type":"order.placed","time":"2017-03-02T10:00:00Z","data":{}}`, "specversion", "is not supported"},
		{"no data", `{"specversion":"1.0","id":"e","source":"s","type":"order.placed","time":"2017-03-02T10:00:00Z"}`, "data", "is required"},
		{"amount as number", order(`{"order_id":"o","currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":497.00}]}`), "data.lines[0].amount", "want a decimal in a JSON string"},
		{"amount garbage", order(`{"order_id":"o","currency":"USD","lines":[{"line_id":"a","product_id":"p","quantity":1,"amount":"1.00"},{"line_id":"b","product_id":"p","quantity":1,"amount":"1.00"},{"line_id":"c","product_id":"p","quantity":1,"amount":"12.5x"}]}`), "data.lines[2].amount", `"12.5x" is not a decimal amount`},
		{"too many decimals", order(`{"order_id":"o","currency":"JPY","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":"10.5"}]}`), "data.lines[0].amount", "more than the 0 allowed"},
		{"exponent", order(`{"order_id":"o","currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":"1e999999999"}]}`), "data.lines[0].amount", "is not a decimal amount"},
		{"unknown currency", order(`{"order_id":"o","currency":"XYZ","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":"1.00"}]}`), "data.currency", "not a known ISO 4217"},
		{"missing order id", order(`{"currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":"1.00"}]}`), "data.order_id", "is required"},
		{"no lines", order(`{"order_id":"o","currency":"USD","lines":[]}`), "data.lines", "at least one line"},
		{"zero quantity", order(`{"order_id":"o","currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":0,"amount":"1.00"}]}`), "data.lines[0].quantity", "out of range"},
		{"quantity as string", order(`{"order_id":"o","currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":"1","amount":"1.00"}]}`), "data.lines.quantity", "want a JSON int64"},
		{"negative amount", order(`{"order_id":"o","currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":"-1.00"}]}`), "data.lines[0].amount", "is negative"},
		{"duplicate line", order(`{"order_id":"o","currency":"USD","lines":[{"line_id":"l","product_id":"p","quantity":1,"amount":"1.00"},{"line_id":"l","product_id":"p","quantity":1,"amount":"1.00"}]}`), "data.lines[1].line_id", "appears twice"},
		{"bad rate", `{"specversion":"1.0","id":"e","source":"s","type":"program.defined","time":"2017-03-02T10:00:00Z","data":{"program_id":"p","name":"P","priority":1,"product_rates":{"x":"ten"}}}`, "data.product_rates.x", "is not a rate"},
		{"bad policy", `{"specversion":"1.0","id":"e","source":"s","type":"policy.changed","time":"2017-03-02T10:00:00Z","data":{"tracking":"cookies"}}`, "data.tracking", `"cookies" is not allowed`},
		{"negative cookie days", `{"specversion":"1.0","id":"e","source":"s","type":"policy.changed","time":"2017-03-02T10:00:00Z","data":{"cookie_days":-1}}`, "data.cookie_days", "out of range"},
		{"landing url", `{"specversion":"1.0","id":"e","source":"s","type":"link.created","time":"2017-03-02T10:00:00Z","data":{"link_code":"l","partner_id":"p","landing_url":"javascript:alert(1)"}}`, "data.landing_url", "not an absolute http or https URL"},
		{"zero payout", `{"specversion":"1.0","id":"e","source":"s","type":"payout.recorded","time":"2017-03-02T10:00:00Z","data":{"payout_id":"x","partner_id":"p","currency":"USD","amount":"0.00"}}`, "data.amount", "more than zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.raw))
			if err == nil {
				t.Fatal("decoded an invalid event")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			fe := FirstField(err)
			if fe == nil || fe.Field != tt.field || !strings.Contains(fe.Rule, tt.rule) {
				t.Errorf("error = %v, want field %q with rule containing %q", err, tt.field, tt.rule)
			}
		})
	}
}

func TestUnknownFieldsTolerated(t *testing.T) {
	raw := `{"specversion":"1.0","id":"e","source":"s","type":"contact.identified","time":"2017-03-02T10:00:00Z","traceparent":"x","data":{"visitor_id":"v","contact_id":"c","extra":{"a":1}}}`
	if _, err := Decode([]byte(raw)); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyDefaultsAndHash(t *testing.T) {
	a, err := Decode([]byte(`{"specversion":"1.0","id":"p","source":"s","type":"policy.changed","time":"2017-03-02T10:00:00Z","data":{"tracking":"cookies-only"}}`))
	if err != nil {
		t.Fatal(err)
	}
	p := a.Data.(*PolicyChanged)
	if *p.CookieDays != 30 || p.Credit != CreditLast || *p.HoldingDays != 30 {
		t.Errorf("defaults not filled: %+v", p.Policy)
	}
	// Filling the defaults by hand is the same payload: a duplicate.
	b, err := Decode([]byte(`{"specversion":"1.0","id":"p","source":"s","type":"policy.changed","time":"2017-03-02T10:00:00Z","data":{"credit":"last","tracking":"cookies-only","cookie_days":30}}`))
	if err != nil {
		t.Fatal(err)
	}
	if PayloadHash(a) != PayloadHash(b) {
		t.Error("same policy, different hash")
	}
	c, _ := Decode([]byte(`{"specversion":"1.0","id":"p","source":"s","type":"policy.changed","time":"2017-03-02T10:00:00Z","data":{"tracking":"cookies-only","cookie_days":31}}`))
	if PayloadHash(a) == PayloadHash(c) {
		t.Error("different policy, same hash")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"specversion":"1.0","ID":"e","Source":"s","type":"contact.identified","time":"2017-03-02T10:00:00+02:00","data":{"visitor_id":"v","contact_id":"c"}}`))
	entries, _ := os.ReadDir(filepath.Join("testdata", "v1"))
	for _, e := range entries {
		raw, _ := os.ReadFile(filepath.Join("testdata", "v1", e.Name()))
		f.Add(raw)
	}
	f.Add([]byte(`{"specversion":"1.0","id":"e","source":"s","type":"order.placed","time":"2017-03-02T10:00:00Z","data":{"lines":[{"amount":1e999}]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fact, err := Decode(raw)
		// Peek reads what Decode reads of the key and the time, and fails
		// only on what Decode rejects.
		peeked, ok := Peek(raw)
		if !ok && err == nil {
			t.Fatalf("Peek fails on an event Decode takes: %s", raw)
		}
		if err == nil && (peeked.Key() != fact.Key() || peeked.Type != fact.Type || !peeked.Time.Equal(fact.Time)) {
			t.Fatalf("Peek = %+v, Decode %q %q %q %s", peeked, fact.Source, fact.ID, fact.Type, fact.Time)
		}
		if err != nil {
			if FirstField(err) == nil {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		again, err := Decode(Encode(fact))
		if err != nil {
			t.Fatalf("encoded fact does not decode: %v", err)
		}
		if !reflect.DeepEqual(fact, again) || PayloadHash(fact) != PayloadHash(again) {
			t.Fatalf("decode, encode, decode changed the fact:\n%#v\n%#v", fact, again)
		}
	})
}

// TestDecodeStoredMatchesDecode holds the one-pass decoder of stored facts
// to the full decoder, on every fixture's canonical encoding.
func TestDecodeStoredMatchesDecode(t *testing.T) {
	for _, typ := range FactTypes {
		raw, err := os.ReadFile(filepath.Join("testdata", "v1", typ+".json"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		canonical := Encode(f)
		got, err := DecodeStored(typ, canonical)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("%s: DecodeStored differs from Decode:\n%#v\n%#v", typ, got, f)
		}
	}
	// Anything unexpected falls back to the full decoder and its errors.
	if _, err := DecodeStored(TypeOrderPlaced, []byte(`{"specversion":"1.0"}`)); err == nil {
		t.Error("a broken stored fact decoded")
	}
}

// TestStoredFormRoundTrip holds the binary stored form to the wire form:
// every fixture decoded from JSON, stored, and read back is the same fact.
func TestStoredFormRoundTrip(t *testing.T) {
	for _, typ := range FactTypes {
		raw, _ := os.ReadFile(filepath.Join("testdata", "v1", typ+".json"))
		f, err := Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		stored := EncodeStored(f)
		if stored[0] != storedMarker {
			t.Fatalf("%s: stored form does not start with the marker", typ)
		}
		got, err := DecodeStored(typ, stored)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("%s: stored round trip differs:\n%#v\n%#v", typ, got, f)
		}
		if !bytes.Equal(EncodeStored(got), stored) {
			t.Errorf("%s: the stored form is not canonical", typ)
		}
		if _, err := DecodeStored(TypeContactIdentified, stored); err == nil && typ != TypeContactIdentified {
			t.Errorf("%s: decoded under the wrong stored type", typ)
		}
	}
}

func FuzzDecodeStored(f *testing.F) {
	for _, typ := range FactTypes {
		raw, _ := os.ReadFile(filepath.Join("testdata", "v1", typ+".json"))
		if fact, err := Decode(raw); err == nil {
			f.Add(typ, EncodeStored(fact))
			fact.Arrived = fixtureArrival
			f.Add(typ, EncodeStored(fact)) // version 2
		}
	}
	var shared StoredDecoder // carries its sources from input to input
	transient := StoredDecoder{TransientClicks: true}
	f.Fuzz(func(t *testing.T, typ string, raw []byte) {
		fact, err := DecodeStored(typ, raw)
		viaShared, sharedErr := shared.Decode(typ, raw)
		if (err == nil) != (sharedErr == nil) || !reflect.DeepEqual(fact, viaShared) {
			t.Fatalf("a StoredDecoder decodes otherwise: %v, %v\n%#v\n%#v", err, sharedErr, fact, viaShared)
		}
		viaTransient, transientErr := transient.Decode(typ, raw)
		if (err == nil) != (transientErr == nil) || !reflect.DeepEqual(fact, viaTransient) {
			t.Fatalf("a StoredDecoder with TransientClicks decodes otherwise: %v, %v\n%#v\n%#v", err, transientErr, fact, viaTransient)
		}
		if err != nil || len(raw) == 0 || raw[0] != storedMarker {
			return
		}
		again, err := DecodeStored(typ, EncodeStored(fact))
		if err != nil || !reflect.DeepEqual(again, fact) {
			t.Fatalf("stored form does not round trip: %v\n%#v\n%#v", err, fact, again)
		}
	})
}

// TestStoredDecoderSharesSources: facts decoded by one StoredDecoder equal
// those DecodeStored gives, and share one string for a source that
// repeats, even with another source between.
func TestStoredDecoderSharesSources(t *testing.T) {
	encode := func(id, source string) []byte {
		f, err := Decode([]byte(`{"specversion":"1.0","id":"` + id + `","source":"` + source + `","type":"contact.identified","time":"2024-01-01T00:00:00Z","data":{"visitor_id":"v","contact_id":"c"}}`))
		if err != nil {
			t.Fatal(err)
		}
		return EncodeStored(f)
	}
	var d StoredDecoder
	var got []Fact
	for i, source := range []string{"forms", "forms", "checkout", "forms", "admin", "checkout"} {
		raw := encode(fmt.Sprint("e", i), source)
		f, err := d.Decode(TypeContactIdentified, raw)
		alone, _ := DecodeStored(TypeContactIdentified, raw)
		if err != nil || !reflect.DeepEqual(f, alone) {
			t.Fatalf("fact %d: %v, %+v; alone %+v", i, err, f, alone)
		}
		got = append(got, f)
	}
	same := func(i, j int) bool { return unsafe.StringData(got[i].Source) == unsafe.StringData(got[j].Source) }
	// It keeps two: "checkout" is made again after "forms" and "admin".
	if !same(0, 1) || !same(1, 3) || same(0, 2) || same(2, 5) {
		t.Errorf("sources shared: forms %v %v (want both), forms/checkout %v, checkout after two others %v (want neither)", same(0, 1), same(1, 3), same(0, 2), same(2, 5))
	}
	if _, err := d.Decode(TypeClickRecorded, encode("x", "forms")); err == nil || !strings.Contains(err.Error(), `stored as "click.recorded", holds "contact.identified"`) {
		t.Errorf("a fact stored under another type: %v", err)
	}
}

// With TransientClicks a click's strings share the stored bytes; other
// facts' strings, and every fact's without it, are copies.
func TestTransientClicksShareTheStoredBytes(t *testing.T) {
	decode := func(raw string, transient bool) (Fact, []byte) {
		f, err := Decode([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		stored := EncodeStored(f)
		d := StoredDecoder{TransientClicks: transient}
		got, err := d.Decode(f.Type, stored)
		if err != nil {
			t.Fatal(err)
		}
		return got, stored
	}
	within := func(s string, b []byte) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		start := uintptr(unsafe.Pointer(&b[0]))
		return p >= start && p < start+uintptr(len(b))
	}
	click := `{"specversion":"1.0","id":"k1","source":"web","type":"click.recorded","time":"2024-01-01T00:00:00Z","data":{"click_id":"clk-1","link_code":"maria-scm","visitor_id":"v1"}}`
	f, stored := decode(click, true)
	if d := f.Data.(*ClickRecorded); !within(d.ClickID, stored) || !within(d.LinkCode, stored) || !within(f.ID, stored) {
		t.Error("a transient click's strings are copies")
	}
	f, stored = decode(click, false)
	if d := f.Data.(*ClickRecorded); within(d.ClickID, stored) {
		t.Error("a click's strings share the stored bytes without TransientClicks")
	}
	f, stored = decode(`{"specversion":"1.0","id":"i1","source":"web","type":"contact.identified","time":"2024-01-01T00:00:00Z","data":{"visitor_id":"v1","contact_id":"c1"}}`, true)
	if d := f.Data.(*ContactIdentified); within(d.ContactID, stored) {
		t.Error("an identification's strings share the stored bytes")
	}
}
