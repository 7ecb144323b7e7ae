package events

import (
	"cmp"
	"math"
	"slices"
)

// Placed is what AppendOrder orders an event of a batch by.
type Placed struct {
	Key  string // the idempotency key (Fact.Key, Peeked.Key)
	Type string
	Time int64 // Unix nanoseconds
	// Unread is set when the event's key and time do not read: it is
	// rejected whatever its place, and keeps the time of the one before.
	Unread bool
}

// AppendOrder is the order in which to append a batch of events (an
// import file, an HTTP batch), as indexes into items: attribution goes by
// each event's time, never by when it arrived, and the ledger decides an
// order with the referrals before it in the log, so a click listed after
// an order it came before must still be appended first.
//
//   - Events go in the order of their time, stably: events of one time
//     keep the order they came in.
//   - A definition (IsDefinition) never goes after the activity listed
//     below it, whatever its time: a batch that sets its catalog up first
//     means it to be in force for what follows, even when it stamps it
//     later.
//   - An event whose key came earlier in the batch goes where that first
//     one goes, so that a duplicate or a conflict is judged against it.
//   - An event that does not read stays where it is.
//
// A batch already in time order keeps its order (nil is returned then).
func AppendOrder(items []Placed) []int {
	inOrder, last := true, int64(math.MinInt64)
	for _, it := range items {
		if !it.Unread {
			inOrder = inOrder && it.Time >= last
			last = it.Time
		}
	}
	if inOrder {
		return nil
	}
	type place struct {
		at    int64
		first int // the place of its key's first event, or -1
	}
	places := make([]place, len(items))
	firstOf := map[string]int{}
	last = math.MinInt64
	for i, it := range items {
		p := &places[i]
		p.at, p.first = last, -1
		if it.Unread {
			continue
		}
		p.at, last = it.Time, it.Time
		if first, seen := firstOf[it.Key]; seen {
			p.first, p.at = first, places[first].at
		} else {
			firstOf[it.Key] = i
		}
	}
	next := int64(math.MaxInt64) // the time of the nearest activity below
	for i := len(items) - 1; i >= 0; i-- {
		switch p := &places[i]; {
		case items[i].Unread:
		case !IsDefinition(items[i].Type):
			next = p.at
		case p.first < 0:
			p.at = min(p.at, next)
		}
	}
	for i := range places {
		if p := &places[i]; p.first >= 0 {
			p.at = places[p.first].at
		}
	}
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(places[a].at, places[b].at) })
	return order
}
