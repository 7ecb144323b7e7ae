package projections

import "testing"

func TestOrderIDOf(t *testing.T) {
	for raw, want := range map[string]string{
		`{"order_id":"o-2017","time":"x"}`: "o-2017",
		`{"order_id":"o\"q","time":"x"}`:   `o"q`,
		`{"time":"x","order_id":"late"}`:   "late",
		`{"order_id":"a\\b"}`:              `a\b`,
	} {
		got, err := orderIDOf([]byte(raw))
		if err != nil || got != want {
			t.Errorf("orderIDOf(%s) = %q, %v; want %q", raw, got, err, want)
		}
	}
}
