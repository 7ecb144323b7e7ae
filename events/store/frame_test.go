package store

import (
	"reflect"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	commits := []Commit{
		{ID: "a", Events: []Event{{ID: "a/1", Type: "t", Data: []byte("x")}, {ID: "a/2", Type: "u", Data: []byte{}}}},
		{ID: "b", Events: []Event{{ID: "b/1", Type: "t", Data: []byte("{}")}}},
	}
	var got []Commit
	if err := DecodeFrame(AppendFrame(nil, commits...), func(c Commit) error { got = append(got, c); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, commits) {
		t.Fatalf("got %+v", got)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add(AppendFrame(nil, Commit{ID: "a", Events: []Event{{ID: "e", Type: "t", Data: []byte("d")}}}))
	f.Add([]byte{'R', 1, 200, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var commits []Commit
		if err := DecodeFrame(b, func(c Commit) error { commits = append(commits, c); return nil }); err != nil {
			return
		}
		var again []Commit
		if err := DecodeFrame(AppendFrame(nil, commits...), func(c Commit) error { again = append(again, c); return nil }); err != nil || len(again) != len(commits) {
			t.Fatalf("re-encoded frame: %v", err)
		}
	})
}
