package server

import (
	"encoding/json"
	"testing"
)

func FuzzSplitEvents(f *testing.F) {
	f.Add([]byte(`{"specversion":"1.0"}`))
	f.Add([]byte(`[{"a":1},{"b":2}]`))
	f.Add([]byte("{\"a\":1}\n{oops\n{\"b\":2}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		raws, single, err := splitEvents(body)
		if err != nil {
			return
		}
		if single && len(raws) != 1 {
			t.Fatalf("single with %d events", len(raws))
		}
		for _, r := range raws {
			if len(r) == 0 {
				t.Fatal("an empty event was split out")
			}
			if single && !json.Valid(r) {
				t.Fatal("a single event that is not JSON")
			}
		}
	})
}
