package events

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// CloudEvents content modes. A structured-mode message holds the whole
// event as a JSON object (Decode's input). A binary-mode message holds the
// event's data alone, and each attribute in a header named for it with the
// prefix "ce-" (the HTTP binding's ce-specversion, ce-id...; the NATS
// binding's, from the NATS server 2.2 on, the same); its content type is
// the data's (datacontenttype).
//
// FromBinary turns a binary-mode message into the structured-mode object
// it stands for, and Decode then reads it: an event is validated, keyed
// and digested the same way whichever mode it came in, so the same event
// sent in both modes is a duplicate, never a conflict.

// Media types of the CloudEvents JSON formats.
const (
	MediaTypeStructured = "application/cloudevents+json"
	MediaTypeBatch      = "application/cloudevents-batch+json"
)

// maxBinaryHeaders bounds the ce- headers read from one message (the
// transports bound their header bytes too: net/http 1 MiB, NATS the
// message size).
const maxBinaryHeaders = 64

// binaryRequired are the attributes a binary-mode event must carry in ce-
// headers: the CloudEvents required attributes and refledger's time.
var binaryRequired = []string{"specversion", "id", "source", "type", "time"}

// IsBinary reports whether a message with these headers (HTTP's or NATS's;
// names are matched without regard to case) carries its event in binary
// content mode: a header names one of the attributes an event requires
// (ce-specversion, ce-id, ce-source, ce-type, ce-time), and its content
// type is not a CloudEvents format, which would make it structured. A
// message with ce-id but no ce-specversion is binary, so that FromBinary
// names the header that is missing.
func IsBinary(header map[string][]string) bool {
	if mt, ok := headerValue(header, "content-type"); ok && IsCloudEventsMediaType(mt) {
		return false
	}
	for name := range header {
		if len(name) < 3 || !strings.EqualFold(name[:3], "ce-") {
			continue
		}
		for _, attr := range binaryRequired {
			if strings.EqualFold(name[3:], attr) {
				return true
			}
		}
	}
	return false
}

// IsCloudEventsMediaType reports whether mediaType (parameters allowed) is a
// CloudEvents event format, such as application/cloudevents+json.
func IsCloudEventsMediaType(mediaType string) bool {
	mt, _, err := mime.ParseMediaType(mediaType)
	return err == nil && strings.HasPrefix(mt, "application/cloudevents")
}

// FromBinary composes the structured-mode JSON object of a binary-mode
// message: each ce- attribute header becomes the attribute of that name
// (values percent-decoded, as the HTTP binding encodes them), the
// content type (ce-datacontenttype, or else Content-Type) becomes
// datacontenttype, and the body becomes data, which must be JSON. The
// extension ce-schemaversion is an integer, as in a stored fact. Other
// extensions (ce-traceparent, ce-subject, ce-dataschema...) are carried
// along, and Decode ignores them as it does in structured mode; headers
// whose names are not attribute names (lowercase letters and digits, up
// to 20) are not the event's and are left out.
//
// Every error wraps ErrInvalid and names the header ("ce-id: is
// required") or, for the body, "data".
func FromBinary(header map[string][]string, body []byte) ([]byte, error) {
	if len(body) > MaxEventBytes {
		return nil, &FieldError{Field: "data", Rule: fmt.Sprintf("is %d bytes, more than the %d an event may be", len(body), MaxEventBytes)}
	}
	attrs := map[string]string{}
	seen := 0
	for name, values := range header {
		if len(name) < 3 || !strings.EqualFold(name[:3], "ce-") {
			continue
		}
		if seen++; seen > maxBinaryHeaders {
			return nil, &FieldError{Field: "(headers)", Rule: fmt.Sprintf("more than %d ce- headers", maxBinaryHeaders)}
		}
		attr := strings.ToLower(name[3:])
		if !attributeName(attr) {
			continue // not a CloudEvents attribute: not the event's
		}
		if _, twice := attrs[attr]; twice || len(values) != 1 {
			return nil, &FieldError{Field: "ce-" + attr, Rule: "is given more than once: an attribute has one value"}
		}
		// Values are taken as they are, never percent-decoded: the Go SDK
		// and the NATS binding send them unencoded, and decoding would make
		// an id holding "%41" another key in binary mode than in
		// structured mode (two facts, or a conflict, for one event).
		attrs[attr] = values[0]
	}
	for _, attr := range binaryRequired {
		if _, ok := attrs[attr]; !ok {
			return nil, &FieldError{Field: "ce-" + attr, Rule: "is required: a binary-mode event carries each attribute in a ce- header (ce-specversion, ce-id, ce-source, ce-type, ce-time) and its data in the body"}
		}
	}
	if _, ok := attrs["data"]; ok {
		return nil, &FieldError{Field: "ce-data", Rule: "is not an attribute: in binary mode the data is the body"}
	}
	if ct, ok := headerValue(header, "content-type"); ok {
		if dct, set := attrs["datacontenttype"]; set && dct != ct {
			return nil, &FieldError{Field: "ce-datacontenttype", Rule: fmt.Sprintf("%q differs from the content type %q", dct, ct)}
		}
		attrs["datacontenttype"] = ct
	}
	if dct, ok := attrs["datacontenttype"]; ok {
		if fe := checkJSONMediaType(dct); fe != nil {
			return nil, fe
		}
	}
	data := bytes.TrimSpace(body)
	switch {
	case len(data) == 0:
		return nil, &FieldError{Field: "data", Rule: "is required: in binary mode the body is the event's data, and it is empty"}
	case !json.Valid(data):
		return nil, &FieldError{Field: "data", Rule: "the body is not JSON: in binary mode the body is the event's data, a JSON object"}
	}
	return composeStructured(attrs, data)
}

// composeStructured writes the object: the attributes in a fixed order
// (the ones an event needs first, then the rest sorted), data last, so
// that the same message always gives the same bytes.
func composeStructured(attrs map[string]string, data []byte) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(data) + 256)
	b.WriteByte('{')
	write := func(name string, value []byte) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + name + `":`) // names are [a-z0-9]: nothing to escape
		b.Write(value)
	}
	str := func(v string) []byte {
		q, _ := json.Marshal(v) // a string always marshals
		return q
	}
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	sort.Strings(names)
	ordered := append([]string{}, binaryRequired...)
	ordered = append(ordered, "datacontenttype")
	for _, name := range names {
		if !contains(ordered, name) {
			ordered = append(ordered, name)
		}
	}
	for _, name := range ordered {
		v, ok := attrs[name]
		if !ok {
			continue
		}
		if name != "schemaversion" {
			write(name, str(v))
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<20 {
			return nil, &FieldError{Field: "ce-schemaversion", Rule: fmt.Sprintf("%q is not a schema version (a small integer)", v)}
		}
		write(name, []byte(strconv.Itoa(n)))
	}
	write("data", data)
	b.WriteByte('}')
	return b.Bytes(), nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// headerValue finds a header without regard to the case of its name.
func headerValue(header map[string][]string, name string) (string, bool) {
	if v, ok := header[name]; ok && len(v) > 0 {
		return v[0], true
	}
	for k, v := range header {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0], true
		}
	}
	return "", false
}

// attributeName reports whether name is a CloudEvents attribute name:
// lowercase ASCII letters and digits, at most 20 (the spec's advice, and a
// bound).
func attributeName(name string) bool {
	if name == "" || len(name) > 20 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// IsJSONMediaType reports whether mediaType is JSON: application/json or
// any type whose subtype ends in +json (application/vnd.acme+json), with
// any parameters, a charset only UTF-8 (JSON text is UTF-8).
func IsJSONMediaType(mediaType string) bool { return checkJSONMediaType(mediaType) == nil }

// checkJSONMediaType names the rule a datacontenttype breaks: refledger's
// data is JSON. application/json alone, by far the most common, is
// answered before any parsing.
func checkJSONMediaType(mediaType string) *FieldError {
	if mediaType == "application/json" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(mediaType)
	switch {
	case err != nil:
		return &FieldError{Field: "datacontenttype", Rule: fmt.Sprintf("%q is not a media type: %v", mediaType, err)}
	case mt != "application/json" && !strings.HasSuffix(mt, "+json"):
		return &FieldError{Field: "datacontenttype", Rule: fmt.Sprintf("%q is not supported: the data must be JSON (application/json, or a type ending in +json)", mediaType)}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return &FieldError{Field: "datacontenttype", Rule: fmt.Sprintf("%q is not supported: JSON text is UTF-8", mediaType)}
	}
	return nil
}

// fromBase64 reads the data of an event that sent it as data_base64: the
// JSON format's way to carry bytes, which SDKs use for data given as
// bytes (SetData("application/json", []byte{...})). The bytes must be
// JSON, as data is.
func fromBase64(env Envelope) (json.RawMessage, *FieldError) {
	if d := bytes.TrimSpace(env.Data); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
		return nil, &FieldError{Field: "data_base64", Rule: "is given beside data: an event has one or the other"}
	}
	data, err := base64.StdEncoding.DecodeString(env.DataBase64)
	if err != nil {
		return nil, &FieldError{Field: "data_base64", Rule: fmt.Sprintf("is not base64 (RFC 4648): %v", err)}
	}
	if !utf8.Valid(data) {
		return nil, &FieldError{Field: "data_base64", Rule: "does not decode to UTF-8: JSON text is UTF-8"}
	}
	if !json.Valid(data) {
		return nil, &FieldError{Field: "data_base64", Rule: "does not decode to JSON: refledger's data is JSON (datacontenttype application/json, or a type ending in +json)"}
	}
	if fe := checkKeys(data, "data."); fe != nil {
		return nil, fe
	}
	return data, nil
}

// fromString reads data sent as a JSON string that holds a JSON object:
// what the Go SDK writes in structured mode for a JSON type other than
// application/json (application/vnd.acme+json), which it takes for text.
// The datacontenttype has said JSON by now, and a string is never an
// event's data, so the string's text is read as the data. ok is false
// for data that is not a string, or a string that is not an object
// (Decode then rejects it as before).
func fromString(data json.RawMessage) (json.RawMessage, bool, *FieldError) {
	d := bytes.TrimSpace(data)
	if len(d) == 0 || d[0] != '"' {
		return nil, false, nil
	}
	var text string
	if json.Unmarshal(d, &text) != nil {
		return nil, false, nil
	}
	inner := []byte(strings.TrimSpace(text))
	if len(inner) == 0 || inner[0] != '{' || !json.Valid(inner) {
		return nil, false, nil
	}
	if fe := checkKeys(inner, "data."); fe != nil {
		return nil, false, fe
	}
	return inner, true, nil
}
