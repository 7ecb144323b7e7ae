package events

import (
	"slices"
	"testing"
)

func TestAppendOrder(t *testing.T) {
	activity := func(key string, at int64) Placed { return Placed{Key: key, Type: TypeClickRecorded, Time: at} }
	definition := func(key string, at int64) Placed { return Placed{Key: key, Type: TypeLinkCreated, Time: at} }
	for _, c := range []struct {
		name  string
		items []Placed
		want  []int // nil: as they came
	}{
		{"in time order", []Placed{activity("a", 1), activity("b", 1), activity("c", 2)}, nil},
		{"a click listed after the order it came before", []Placed{activity("order", 5), activity("click", 3)}, []int{1, 0}},
		{"ties keep their order", []Placed{activity("a", 2), activity("b", 1), activity("c", 1)}, []int{1, 2, 0}},
		{"a definition stamped later stays above the activity below it",
			[]Placed{definition("link", 9), activity("order", 5), activity("click", 3)}, []int{2, 0, 1}},
		{"a definition below every activity goes by its time",
			[]Placed{activity("order", 5), definition("link", 1)}, []int{1, 0}},
		{"a repeated key goes with its first",
			[]Placed{activity("a", 5), activity("b", 6), activity("a", 1), activity("c", 4)}, []int{3, 0, 2, 1}},
		{"one instant: a partner before its link, whatever the listing",
			[]Placed{{Key: "l", Type: TypeLinkCreated, Time: 1}, {Key: "p", Type: TypePartnerRegistered, Time: 1}}, []int{1, 0}},
		{"one instant: a click before the order, the order before its refund",
			[]Placed{{Key: "r", Type: TypeOrderRefunded, Time: 7}, {Key: "o", Type: TypeOrderPlaced, Time: 7}, activity("k", 7)}, []int{2, 1, 0}},
		{"an unread event stays after the one before it",
			[]Placed{activity("a", 5), {Unread: true}, activity("b", 3)}, []int{2, 0, 1}},
	} {
		if got := AppendOrder(c.items); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
