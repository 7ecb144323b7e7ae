package events

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const contactData = `{"visitor_id":"v","contact_id":"c"}`

// binaryHeader is a binary-mode message's headers for a contact.identified
// event, as the Go SDK writes them on NATS (lowercase names).
func binaryHeader() map[string][]string {
	return map[string][]string{
		"ce-specversion": {"1.0"},
		"ce-id":          {"e1"},
		"ce-source":      {"crm"},
		"ce-type":        {"contact.identified"},
		"ce-time":        {"2017-03-02T10:00:00.5+02:00"},
		"content-type":   {"application/json"},
	}
}

const contactStructured = `{"specversion":"1.0","id":"e1","source":"crm","type":"contact.identified","time":"2017-03-02T10:00:00.5+02:00","data":` + contactData + `}`

// TestFromBinaryIsTheStructuredEvent: a binary-mode message decodes to the
// fact its structured-mode twin decodes to, with the same payload digest,
// whatever the case of the header names (HTTP canonicalises them), with
// extensions ignored and an encoded attribute decoded.
func TestFromBinaryIsTheStructuredEvent(t *testing.T) {
	want, err := Decode([]byte(contactStructured))
	if err != nil {
		t.Fatal(err)
	}
	canonical := map[string][]string{}
	for k, v := range binaryHeader() {
		canonical[strings.ToUpper(k[:1])+k[1:3]+strings.ToUpper(k[3:4])+k[4:]] = v
	}
	withExtensions := binaryHeader()
	withExtensions["ce-traceparent"] = []string{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	withExtensions["ce-subject"] = []string{"c"}
	withExtensions["ce-dataschema"] = []string{"https://example.com/contact.json"}
	withExtensions["ce-Not_An_Attribute"] = []string{"x"}
	withExtensions["traceparent"] = []string{"not the event's"}
	charset := binaryHeader()
	charset["content-type"] = []string{"application/json; charset=utf-8"}
	vendor := binaryHeader()
	delete(vendor, "content-type")
	vendor["ce-datacontenttype"] = []string{"application/vnd.acme+json"}
	noType := binaryHeader()
	delete(noType, "content-type")
	for name, h := range map[string]map[string][]string{
		"sdk": binaryHeader(), "http canonical": canonical, "extensions": withExtensions,
		"charset": charset, "+json": vendor, "no content type": noType,
	} {
		t.Run(name, func(t *testing.T) {
			if !IsBinary(h) {
				t.Fatal("not seen as binary mode")
			}
			raw, err := FromBinary(h, []byte(" "+contactData+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(raw)
			if err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			if !reflect.DeepEqual(got, want) || PayloadHash(got) != PayloadHash(want) {
				t.Errorf("binary %+v, structured %+v", got, want)
			}
		})
	}
}

// TestFromBinaryNamesTheHeader: an incomplete or wrong binary-mode message
// is rejected naming the ce- header (not "specversion: \"\" is not
// supported"), or data for the body.
func TestFromBinaryNamesTheHeader(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(h map[string][]string)
		body  string
		field string
		rule  string
	}{
		{"no specversion", func(h map[string][]string) { delete(h, "ce-specversion") }, contactData, "ce-specversion", "is required"},
		{"no id", func(h map[string][]string) { delete(h, "ce-id") }, contactData, "ce-id", "is required"},
		{"no time", func(h map[string][]string) { delete(h, "ce-time") }, contactData, "ce-time", "is required"},
		{"id twice", func(h map[string][]string) { h["ce-id"] = []string{"a", "b"} }, contactData, "ce-id", "more than once"},
		{"id in two cases", func(h map[string][]string) { h["Ce-Id"] = []string{"b"} }, contactData, "ce-id", "more than once"},
		{"text", func(h map[string][]string) { h["content-type"] = []string{"text/plain"} }, contactData, "datacontenttype", "must be JSON"},
		{"latin-1", func(h map[string][]string) { h["content-type"] = []string{"application/json; charset=iso-8859-1"} }, contactData, "datacontenttype", "UTF-8"},
		{"two content types", func(h map[string][]string) { h["ce-datacontenttype"] = []string{"application/xml"} }, contactData, "ce-datacontenttype", "differs"},
		{"data header", func(h map[string][]string) { h["ce-data"] = []string{"{}"} }, contactData, "ce-data", "the body"},
		{"empty body", func(map[string][]string) {}, " ", "data", "is required"},
		{"body not json", func(map[string][]string) {}, "visitor=v", "data", "not JSON"},
		{"schemaversion", func(h map[string][]string) { h["ce-schemaversion"] = []string{"one"} }, contactData, "ce-schemaversion", "not a schema version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := binaryHeader()
			tc.edit(h)
			_, err := FromBinary(h, []byte(tc.body))
			fe := FirstField(err)
			if fe == nil || fe.Field != tc.field || !strings.Contains(fe.Rule, tc.rule) {
				t.Fatalf("error %v, want %s: ...%s...", err, tc.field, tc.rule)
			}
		})
	}
}

// TestIsBinary: the ce- headers make binary mode, unless the content type
// says a CloudEvents format (structured mode, which may repeat them).
func TestIsBinary(t *testing.T) {
	for _, tc := range []struct {
		header map[string][]string
		want   bool
	}{
		{nil, false},
		{map[string][]string{"Content-Type": {"application/json"}}, false},
		{map[string][]string{"Ce-Traceparent": {"x"}}, false},
		{map[string][]string{"Ce-Id": {"x"}}, true},
		{map[string][]string{"ce-specversion": {"1.0"}}, true},
		{map[string][]string{"Ce-Specversion": {"1.0"}, "Content-Type": {"application/cloudevents+json; charset=utf-8"}}, false},
	} {
		if got := IsBinary(tc.header); got != tc.want {
			t.Errorf("IsBinary(%v) = %v", tc.header, got)
		}
	}
}

// TestDataBase64AndMediaTypes: structured mode takes data as data_base64
// when it is JSON, and any JSON media type as datacontenttype.
func TestDataBase64AndMediaTypes(t *testing.T) {
	want, err := Decode([]byte(contactStructured))
	if err != nil {
		t.Fatal(err)
	}
	event := func(extra string, data string) []byte {
		return []byte(`{"specversion":"1.0","id":"e1","source":"crm","type":"contact.identified","time":"2017-03-02T10:00:00.5+02:00"` + extra + `,` + data + `}`)
	}
	b64 := `"data_base64":"` + base64.StdEncoding.EncodeToString([]byte(contactData)) + `"`
	for _, tc := range []struct {
		name, raw   string
		field, rule string // "" when taken
	}{
		{"base64", string(event("", b64)), "", ""},
		{"base64 json", string(event(`,"datacontenttype":"application/json"`, b64)), "", ""},
		{"base64 +json", string(event(`,"datacontenttype":"application/vnd.acme+json"`, b64)), "", ""},
		{"charset", string(event(`,"datacontenttype":"application/json; charset=utf-8"`, `"data":`+contactData)), "", ""},
		{"charset upper", string(event(`,"datacontenttype":"application/json;charset=UTF-8"`, `"data":`+contactData)), "", ""},
		{"+json", string(event(`,"datacontenttype":"application/vnd.acme+json"`, `"data":`+contactData)), "", ""},
		{"cloudevents+json", string(event(`,"datacontenttype":"application/cloudevents+json"`, `"data":`+contactData)), "", ""},
		{"extensions", string(event(`,"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","subject":"c","dataschema":"https://x/y"`, `"data":`+contactData)), "", ""},
		{"+json as text (the Go SDK)", string(event(`,"datacontenttype":"application/vnd.acme+json"`, `"data":`+strconvQuote(contactData))), "", ""},
		{"text not an object", string(event(`,"datacontenttype":"application/vnd.acme+json"`, `"data":"hi"`)), "data", "want a JSON"},
		{"base64 text", string(event(`,"datacontenttype":"text/plain"`, `"data_base64":"aGk="`)), "datacontenttype", "must be JSON"},
		{"base64 not json", string(event("", `"data_base64":"aGk="`)), "data_base64", "does not decode to JSON"},
		{"base64 not base64", string(event("", `"data_base64":"!!"`)), "data_base64", "not base64"},
		{"base64 and data", string(event(`,"data":`+contactData, b64)), "data_base64", "beside data"},
		{"base64 repeated key", string(event("", `"data_base64":"`+base64.StdEncoding.EncodeToString([]byte(`{"visitor_id":"v","visitor_id":"w","contact_id":"c"}`))+`"`)), "data.visitor_id", ""},
		{"xml", string(event(`,"datacontenttype":"application/xml"`, `"data":`+contactData)), "datacontenttype", "must be JSON"},
		{"no media type", string(event(`,"datacontenttype":"json"`, `"data":`+contactData)), "datacontenttype", "must be JSON"},
		{"bad parameter", string(event(`,"datacontenttype":"application/json; charset"`, `"data":`+contactData)), "datacontenttype", "not a media type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.raw))
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) || PayloadHash(got) != PayloadHash(want) {
					t.Errorf("got %+v, want %+v", got, want)
				}
				return
			}
			fe := FirstField(err)
			if fe == nil || fe.Field != tc.field || !strings.Contains(fe.Rule, tc.rule) {
				t.Fatalf("error %v, want %s: ...%s...", err, tc.field, tc.rule)
			}
		})
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// FuzzFromBinary holds FromBinary to its promises: any message gives a
// field error or a JSON object that Decode reads (or rejects naming a
// field), and an event it takes has the attributes its headers said.
func FuzzFromBinary(f *testing.F) {
	f.Add("1.0", "e1", "crm", "contact.identified", "2017-03-02T10:00:00Z", "application/json", "traceparent", "00-ab", []byte(contactData))
	f.Add("1.0", "e%201", "c%C3%A9", "order.placed", "2017-03-02T10:00:00.123+01:00", "application/x+json; charset=utf-8", "schemaversion", "1", []byte(`{"order_id":"o","currency":"USD","lines":[]}`))
	f.Add("", "", "", "", "", "", "data", "", []byte(`"`))
	f.Fuzz(func(t *testing.T, spec, id, source, typ, at, contentType, ext, extValue string, body []byte) {
		h := map[string][]string{"ce-specversion": {spec}, "ce-id": {id}, "ce-source": {source}, "ce-type": {typ}, "ce-time": {at}, "Content-Type": {contentType}}
		h["ce-"+ext] = append(h["ce-"+ext], extValue)
		raw, err := FromBinary(h, body)
		if err != nil {
			if FirstField(err) == nil {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("not JSON: %s", raw)
		}
		fact, err := Decode(raw)
		if err != nil {
			if FirstField(err) == nil {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		if fact.ID != id || fact.Source != source || fact.Type != typ {
			t.Fatalf("fact %q %q %q from headers %q %q %q", fact.ID, fact.Source, fact.Type, id, source, typ)
		}
	})
}

// TestBinaryValuesAreNotPercentDecoded: an id or source holding "%41" is
// the same key in binary mode as in structured mode (the Go SDK sends
// header values unencoded). Before, binary mode decoded them: the same
// event sent in both modes became two facts, and "%FF" was refused.
func TestBinaryValuesAreNotPercentDecoded(t *testing.T) {
	for _, v := range []string{"evt%41-1", "/stores/caf%C3%A9", "x%FF"} {
		h := binaryHeader()
		h["ce-id"], h["ce-source"] = []string{v}, []string{v}
		raw, err := FromBinary(h, []byte(contactData))
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		f, err := Decode(raw)
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if f.ID != v || f.Source != v {
			t.Errorf("binary mode read id %q and source %q from %q", f.ID, f.Source, v)
		}
	}
}
