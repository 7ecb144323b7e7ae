package jsonw

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func same(t *testing.T, got []byte, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestValuesMatchEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain-id/1", `q"b\`, "<&>", "\x00\n\t\x1f\x7f", "\xff", "ü€", "\u2028\u2029"} {
		same(t, String(nil, s), s)
	}
	for _, at := range []time.Time{{}, time.Date(2017, 3, 2, 10, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 0, 0, 0, 123456700, time.FixedZone("x", 3600))} {
		same(t, Time(nil, at), at)
	}
	for _, n := range []int{0, -1, 1 << 40} {
		same(t, Int(nil, n), n)
	}
	same(t, Strings(nil, nil), []string(nil))
	same(t, Strings(nil, []string{"a", "<b>"}), []string{"a", "<b>"})
	obj := Field(append(Field([]byte("{"), "a"), '1'), "b")
	if got := string(append(obj, '2', '}')); got != `{"a":1,"b":2}` {
		t.Fatalf("fields: %s", got)
	}
}

func FuzzString(f *testing.F) {
	f.Add("a<b>&\"c\"\\\x00\xff\u2028")
	f.Fuzz(func(t *testing.T, s string) { same(t, String(nil, s), s) })
}

// BenchmarkString appends a typical id, beside encoding/json's Marshal of
// the same string in the same run.
func BenchmarkString(b *testing.B) {
	s := "o-2017/line-1/t1/accrued/refund-0042"
	b.Run("jsonw", func(b *testing.B) {
		buf := make([]byte, 0, 64)
		for i := 0; i < b.N; i++ {
			buf = String(buf[:0], s)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, _ = json.Marshal(s)
		}
	})
}
