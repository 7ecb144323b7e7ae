package events

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// keysByDecoder is checkKeys by encoding/json's tokenizer: whether some
// object of valid JSON repeats a key, or (outside product_rates) holds two
// keys that differ only in case.
func keysByDecoder(raw []byte) (clash bool) {
	d := json.NewDecoder(bytes.NewReader(raw))
	type frame struct {
		object, idMap, wantKey bool
		keys                   []string
	}
	var stack []*frame
	lastKey := ""
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if k, ok := tok.(string); ok {
				for _, o := range top.keys {
					if o == k || !top.idMap && strings.EqualFold(o, k) {
						return true
					}
				}
				top.keys = append(top.keys, k)
				top.wantKey, lastKey = false, k
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, idMap: lastKey == "product_rates" && top != nil && top.object, wantKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		lastKey = ""
		if len(stack) > 0 && stack[len(stack)-1].object && tok != json.Delim('{') {
			stack[len(stack)-1].wantKey = true
		}
		if len(stack) == 0 {
			return false
		}
	}
}

// FuzzCheckKeys holds checkKeys to encoding/json's tokenizer on valid JSON.
func FuzzCheckKeys(f *testing.F) {
	for _, raw := range fixtures(f) {
		f.Add(raw)
	}
	for _, s := range []string{
		`{"id":"a","ID":"b"}`, `{"id":"a","id":"b"}`, `{"a":{"k":1,"\u212a":2}}`, `{"product_rates":{"s":"1%","S":"2%"}}`,
		`{"product_rates":{"s":"1%","s":"2%"}}`, `[{"x":1},{"x":1,"X":2}]`, `{"a":[{"b":{"c":1,"C":2}}]}`, `{"\u0073":1,"\u017f":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) || len(raw) > MaxEventBytes {
			return
		}
		got, want := checkKeys(raw, ""), keysByDecoder(raw)
		if (got != nil) != want {
			t.Fatalf("checkKeys(%s) = %v, the tokenizer finds a clash: %v", raw, got, want)
		}
	})
}
