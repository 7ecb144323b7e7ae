package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// SpecVersion is the only CloudEvents version accepted.
const SpecVersion = "1.0"

// SchemaVersion is the version of every fact payload written today. Stored
// facts carry it in the `schemaversion` extension attribute; older versions
// decode through upcast.
const SchemaVersion = 1

// The years an event time may fall in: a bound that keeps date arithmetic
// far from overflow.
const (
	minYear = 1970
	maxYear = 2200
)

// Envelope is the CloudEvents 1.0 structured-mode JSON object.
type Envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	SchemaVersion   int             `json:"schemaversion,omitempty"`
	Data            json.RawMessage `json:"data"`
	// DataBase64 is data sent as base64 (what an SDK writes for data set
	// as bytes): it must decode to JSON, and the datacontenttype must say
	// JSON. Facts are never encoded with it.
	DataBase64 string `json:"data_base64,omitempty"`
}

// Decode parses and validates one CloudEvents JSON object into a Fact. Every
// error it returns wraps ErrInvalid and names the field and the rule, for
// example `data.lines[2].amount: "12.5x" is not a decimal amount`. Unknown
// fields are ignored; unknown types are rejected.
func Decode(raw []byte) (Fact, error) {
	if len(raw) > MaxEventBytes {
		return Fact{}, &FieldError{Field: "(event)", Rule: fmt.Sprintf("is %d bytes, more than the %d allowed", len(raw), MaxEventBytes)}
	}
	if !utf8.Valid(raw) {
		return Fact{}, invalidUTF8(raw)
	}
	if env, ok := scanEnvelope(raw); ok {
		// The scan took each envelope key once and exactly; the data's
		// keys are checked here.
		if fe := checkKeys(env.Data, "data."); fe != nil {
			return Fact{}, fe
		}
		if f, err := DecodeEnvelope(env); err == nil {
			return f, nil
		}
		// An invalid event: encoding/json's path names what is wrong as
		// it always has (the data's syntax, say, at its offset in the
		// whole document).
	}
	if fe := checkKeys(raw, ""); fe != nil {
		return Fact{}, fe
	}
	var env Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return Fact{}, jsonError("", err)
	}
	return DecodeEnvelope(env)
}

// invalidUTF8 rejects an event that is not UTF-8, as JSON text must be:
// encoding/json would put U+FFFD in place of each bad byte, and so change
// what the event says. It names an id field that holds one, as the id
// grammar would; otherwise the offset.
func invalidUTF8(raw []byte) error {
	var env Envelope
	if err := json.Unmarshal(raw, &env); err == nil {
		if _, err := DecodeEnvelope(env); err != nil {
			if fe := FirstField(err); fe != nil && strings.Contains(fe.Rule, "U+FFFD") {
				return err
			}
		}
	}
	at := 0
	for at < len(raw) {
		r, size := utf8.DecodeRune(raw[at:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		at += size
	}
	return &FieldError{Field: "(json)", Rule: fmt.Sprintf("is not valid UTF-8 at byte %d: JSON text is UTF-8, and a replaced byte would change what the event says", at)}
}

// Peeked is what Peek reads of an event.
type Peeked struct {
	Source, ID, Type string
	Time             time.Time
}

// Key is the event's idempotency key, as Fact.Key gives it.
func (p Peeked) Key() string { return p.Source + "\x00" + p.ID }

// Peek reads an event's idempotency key (source and id), its type and its
// time without decoding or validating its data: an import orders a file's
// events by time before it decodes them. ok is false when the JSON or the
// time does not read, and then Decode rejects the event too.
func Peek(raw []byte) (p Peeked, ok bool) {
	env, fast := scanEnvelope(raw)
	if !fast && json.Unmarshal(raw, &env) != nil {
		return Peeked{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, env.Time)
	if err != nil {
		return Peeked{}, false
	}
	return Peeked{Source: env.Source, ID: env.ID, Type: env.Type, Time: at}, true
}

// DecodeEnvelope validates an envelope that is already split from its JSON.
func DecodeEnvelope(env Envelope) (Fact, error) {
	var errs fieldErrs
	if env.SpecVersion != SpecVersion {
		errs.add("specversion", "%q is not supported: want \"1.0\"", env.SpecVersion)
	}
	required(&errs, "id", env.ID)
	required(&errs, "source", env.Source)
	if env.DataContentType != "" {
		if fe := checkJSONMediaType(env.DataContentType); fe != nil {
			errs.add(fe.Field, "%s", fe.Rule)
		}
	}
	t, terr := time.Parse(time.RFC3339Nano, env.Time)
	switch {
	case env.Time == "":
		errs.add("time", "is required")
	case terr != nil:
		errs.add("time", "%q is not an RFC 3339 time", env.Time)
	case t.Year() < minYear || t.Year() > maxYear:
		errs.add("time", "%q is outside the years %d to %d", env.Time, minYear, maxYear)
	}
	data := newData(env.Type)
	switch {
	case env.Type == "":
		errs.add("type", "is required")
	case data == nil:
		errs.add("type", "%q is not a known event type", env.Type)
	}
	if env.SchemaVersion > SchemaVersion {
		errs.add("schemaversion", "%d is newer than this build reads (%d)", env.SchemaVersion, SchemaVersion)
	}
	if err := errs.err(); err != nil {
		return Fact{}, err
	}
	if env.DataBase64 != "" {
		data, fe := fromBase64(env)
		if fe != nil {
			return Fact{}, fe
		}
		env.Data = data
	} else if data, ok, fe := fromString(env.Data); fe != nil {
		return Fact{}, fe
	} else if ok {
		env.Data = data
	}
	if len(bytes.TrimSpace(env.Data)) == 0 || bytes.Equal(bytes.TrimSpace(env.Data), []byte("null")) {
		return Fact{}, &FieldError{Field: "data", Rule: "is required"}
	}
	payload, err := upcast(env.Type, env.SchemaVersion, env.Data)
	if err != nil {
		return Fact{}, err
	}
	if err := json.Unmarshal(payload, data); err != nil {
		return Fact{}, jsonError("data.", err)
	}
	data.validate(&errs)
	if err := errs.err(); err != nil {
		return Fact{}, err
	}
	f := Fact{ID: env.ID, Source: env.Source, Type: env.Type, Time: t.UTC(), Data: data}
	if pc, ok := data.(*PolicyChanged); ok && pc.EffectiveAt != nil {
		at := pc.EffectiveAt.UTC()
		pc.EffectiveAt = &at
	}
	return f, nil
}

// upcast turns a stored payload of an older schema version into the current
// one. Version 0 (absent) and 1 are today's shape; a later version that
// changes a payload adds its step here, and keeps a fixture of the old
// version in testdata forever.
func upcast(typ string, version int, data json.RawMessage) (json.RawMessage, error) {
	switch version {
	case 0, SchemaVersion:
		return data, nil
	}
	return nil, &FieldError{Field: "schemaversion", Rule: fmt.Sprintf("no upcaster from version %d of %s", version, typ)}
}

func jsonError(prefix string, err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			field = "(event)"
			if prefix != "" {
				field = "data"
			}
		} else {
			field = prefix + field
		}
		return &FieldError{Field: field, Rule: fmt.Sprintf("want a JSON %s, got %s", typeErr.Type.Kind(), typeErr.Value)}
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return &FieldError{Field: "(json)", Rule: fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, err)}
	}
	return &FieldError{Field: "(json)", Rule: "malformed JSON: " + err.Error()}
}

// Encode writes the fact's canonical CloudEvents JSON: fixed field order,
// sorted map keys, UTC time. Decode(Encode(f)) gives f back.
func Encode(f Fact) []byte {
	data, err := json.Marshal(f.Data)
	if err != nil {
		// Every payload type marshals; failing here is our bug.
		panic(fmt.Sprintf("events: encode %s: %v", f.Type, err))
	}
	env := Envelope{
		SpecVersion:     SpecVersion,
		ID:              f.ID,
		Source:          f.Source,
		Type:            f.Type,
		Time:            f.Time.UTC().Format(time.RFC3339Nano),
		DataContentType: "application/json",
		SchemaVersion:   SchemaVersion,
		Data:            data,
	}
	b, err := json.Marshal(env)
	if err != nil {
		panic(fmt.Sprintf("events: encode envelope %s: %v", f.Type, err))
	}
	return b
}

// Hash is the digest of a fact's canonical payload (type, time and data):
// two facts with the same key and the same hash are duplicates; the same key
// with another hash is a conflict.
type Hash [16]byte

// PayloadHash digests what a duplicate must repeat: type, time and data.
func PayloadHash(f Fact) Hash {
	data, _ := json.Marshal(f.Data)
	h := sha256.New()
	h.Write([]byte(f.Type))
	h.Write([]byte{0})
	h.Write([]byte(f.Time.UTC().Format(time.RFC3339Nano)))
	h.Write([]byte{0})
	h.Write(data)
	var out Hash
	copy(out[:], h.Sum(nil))
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Validate checks a fact built in code (not decoded from the wire) by the
// same rules as Decode, through its canonical encoding.
func Validate(f Fact) error {
	_, err := Decode(Encode(f))
	return err
}

// storedEnvelope decodes a stored fact in one pass: its data goes straight
// into the payload type named beside it in the store.
type storedEnvelope struct {
	SpecVersion   string `json:"specversion"`
	ID            string `json:"id"`
	Source        string `json:"source"`
	Type          string `json:"type"`
	Time          string `json:"time"`
	SchemaVersion int    `json:"schemaversion"`
	Data          Data   `json:"data"`
}

// DecodeStored decodes a fact as the fact log holds it: the binary stored
// form (EncodeStored), or JSON for facts stored before it. typ is the type
// stored beside it. Binary facts were validated when accepted and are
// decoded without validating again; anything that does not decode cleanly
// takes the full path of Decode, upcasters and validation included.
func DecodeStored(typ string, raw []byte) (Fact, error) {
	return decodeStored(typ, raw, nil)
}

func decodeStored(typ string, raw []byte, d *StoredDecoder) (Fact, error) {
	if len(raw) > 0 && raw[0] == storedMarker {
		f, err := decodeBinary(typ, raw, d)
		if err != nil {
			return Fact{}, &FieldError{Field: "(stored)", Rule: err.Error()}
		}
		return f, nil
	}
	data := newData(typ)
	if data == nil {
		return Decode(raw)
	}
	env := storedEnvelope{Data: data}
	if err := json.Unmarshal(raw, &env); err != nil || env.Type != typ || env.SchemaVersion != SchemaVersion || env.SpecVersion != SpecVersion {
		return Decode(raw)
	}
	t, err := time.Parse(time.RFC3339Nano, env.Time)
	if err != nil {
		return Decode(raw)
	}
	if pc, ok := data.(*PolicyChanged); ok {
		pc.withDefaults()
		if pc.EffectiveAt != nil {
			at := pc.EffectiveAt.UTC()
			pc.EffectiveAt = &at
		}
	}
	return Fact{ID: env.ID, Source: env.Source, Type: typ, Time: t.UTC(), Data: data}, nil
}
