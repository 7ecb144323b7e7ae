package ledger

import (
	"strings"
	"testing"
)

func TestDecodePolicyDocument(t *testing.T) {
	p, at, err := DecodePolicyDocument([]byte(`{"tracking":"cookies-only","effective_at":"2017-01-01T00:00:00+02:00"}`))
	if err != nil || p.Tracking != "cookies-only" || p.CookieDays != 30 || at == nil || at.Hour() != 22 {
		t.Fatalf("= %+v %v %v", p, at, err)
	}
	for doc, want := range map[string]string{
		`{"trackng":"cookies-only"}`: "unknown field",
		`{"tracking":"cookies"}`:     "tracking",
		`{"cookie_days":"30"}`:       "cookie_days",
		`{"tracking":"cookies-only"`: "policy document",
		`{} {}`:                      "more than one",
	} {
		if _, _, err := DecodePolicyDocument([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %q", doc, err, want)
		}
	}
}

func FuzzDecodePolicyDocument(f *testing.F) {
	f.Add([]byte(`{"tracking":"cookies-only","credit":"first","cookie_days":7,"effective_at":"2017-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"holding_days":-1}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, _, err := DecodePolicyDocument(raw)
		if err != nil {
			return
		}
		// Whatever decodes is a valid policy and survives its document form.
		again, err := PolicyFrom(p.Document())
		if err != nil || again != p {
			t.Fatalf("policy %+v does not survive its document: %+v %v", p, again, err)
		}
	})
}
