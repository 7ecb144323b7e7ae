package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"
)

// slowDecode is Decode by encoding/json alone, as before scanEnvelope,
// with the checks encoding/json does not make (UTF-8, keys that mean one
// thing) made over the whole document.
func slowDecode(raw []byte) (Fact, error) {
	if !utf8.Valid(raw) {
		return Fact{}, invalidUTF8(raw)
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

// checkScan holds scanEnvelope to encoding/json on raw, and Decode to the
// decoder that uses encoding/json alone.
func checkScan(t *testing.T, raw []byte) (scanned bool) {
	t.Helper()
	if len(raw) > MaxEventBytes {
		return false
	}
	env, ok := scanEnvelope(raw)
	var want Envelope
	if ok && json.Valid(raw) {
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("encoding/json refused what the scanner read: %v", err)
		}
		if !bytes.Equal(env.Data, want.Data) {
			t.Fatalf("data %q, encoding/json %q", env.Data, want.Data)
		}
		env.Data, want.Data = nil, nil
		if !reflect.DeepEqual(env, want) {
			t.Fatalf("envelope %+v, encoding/json %+v", env, want)
		}
	}
	fact, err := Decode(raw)
	slowFact, slowErr := slowDecode(raw)
	if (err == nil) != (slowErr == nil) || (err != nil && err.Error() != slowErr.Error()) {
		t.Fatalf("Decode error %v, encoding/json's %v", err, slowErr)
	}
	if !reflect.DeepEqual(fact, slowFact) {
		t.Fatalf("Decode %#v, encoding/json's %#v", fact, slowFact)
	}
	return ok
}

func fixtures(t testing.TB) [][]byte {
	entries, err := os.ReadDir(filepath.Join("testdata", "v1"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join("testdata", "v1", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
	}
	return out
}

// TestScanEnvelope: every fixture and every canonical encoding takes the
// scanner's path, and what the scanner gives up on or gets wrong goes the
// full way with the same answer.
func TestScanEnvelope(t *testing.T) {
	for _, raw := range fixtures(t) {
		fact, err := Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !checkScan(t, raw) || !checkScan(t, Encode(fact)) {
			t.Errorf("the scanner gave up on a plain event: %s", raw)
		}
	}
	base := `{"specversion":"1.0","id":"e","source":"s","type":"contact.identified","time":"2017-03-02T10:00:00Z","data":{"visitor_id":"v","contact_id":"c"}`
	for _, raw := range []string{
		base + `}`,
		base + `,"schemaversion":1}`,
		base + `,"schemaversion":-0}`,
		base + `,"schemaversion":01}`,
		base + `,"schemaversion":1.0}`,
		base + `,"schemaversion":9999999999}`,
		base + `,"id":"again"}`,         // a repeated key: the last wins
		base + `,"ID":"loose"}`,         // keys match loosely in encoding/json
		base + `,"subject":"x"}`,        // an extension attribute
		base + `}}`,                     // trailing garbage
		base + `,}`,                     // trailing comma
		base + ` } `,                    // space around
		`{"id":"e\u0041","source":"s"}`, // an escape
		`{"id":"é","source":"s"}`,       // not ASCII
		`{"id":"e\u0000"}`,              // a control escape
		`{"id":null,"data":null}`,       // nulls
		`{"id":1}`,                      // a number for a string
		`{}`,                            // empty
		`{"data":{"visitor_id":"v","x":[1,{"y":"}"}]}}`,
		`{"specversion":"1.0","data":{"a":1]}`,  // data's brackets do not match
		`{"specversion":"1.0","data":{"a":"\"}`, // unterminated
		`[1]`, ``, `{`, `{"id"`, `{"id":`, `{"id":"e"`,
	} {
		checkScan(t, []byte(raw))
	}
}

// FuzzScanEnvelope holds the scanner to encoding/json on any input.
func FuzzScanEnvelope(f *testing.F) {
	for _, raw := range fixtures(f) {
		f.Add(raw)
	}
	f.Add([]byte(`{"specversion":"1.0","id":"e","source":"s","type":"contact.identified","time":"2017-03-02T10:00:00Z","schemaversion":1,"data":{"visitor_id":"v","contact_id":"c"}}`))
	f.Fuzz(func(t *testing.T, raw []byte) { checkScan(t, raw) })
}

// BenchmarkDecode decodes every fixture with Decode and, as the baseline in
// the same run, with encoding/json alone.
func BenchmarkDecode(b *testing.B) {
	raws := fixtures(b)
	for _, c := range []struct {
		name   string
		decode func([]byte) (Fact, error)
	}{{"decode", Decode}, {"encoding-json", slowDecode}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := c.decode(raws[i%len(raws)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
