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
	// rejected whatever its place, and keeps the place of the one before.
	Unread bool
}

// Moment is where an event goes in time: its time, then, among events of
// the same instant, its rank (AppendRank).
type Moment struct {
	Time int64 // Unix nanoseconds
	Rank int
}

// Compare orders moments: by time, then by rank.
func (m Moment) Compare(o Moment) int {
	if c := cmp.Compare(m.Time, o.Time); c != 0 {
		return c
	}
	return cmp.Compare(m.Rank, o.Rank)
}

// AppendRank orders the types of events of one instant by what each
// needs before it: the policy, then partners, programs, enrollments and
// links, then referrals (clicks, identifications, manual referrals), then
// orders, then what happens to an order (payments, refunds), then payouts.
// A click of the same instant as an order counts for it, and a refund
// stamped with its order's time refunds it.
func AppendRank(typ string) int {
	switch typ {
	case TypePolicyChanged:
		return 0
	case TypePartnerRegistered:
		return 1
	case TypeProgramDefined:
		return 2
	case TypePartnerEnrolled:
		return 3
	case TypeLinkCreated:
		return 4
	case TypeClickRecorded, TypeContactIdentified, TypeReferralAssigned:
		return 5
	case TypeOrderPlaced:
		return 6
	case TypePaymentReceived, TypeOrderRefunded:
		return 7
	}
	return 8 // payouts, and types no one knows (rejected anyway)
}

// MomentOf is an event's moment.
func MomentOf(typ string, time int64) Moment { return Moment{Time: time, Rank: AppendRank(typ)} }

// AppendOrder is the order in which to append a batch of events (an
// import file, an HTTP batch), as indexes into items: attribution goes by
// each event's time, never by when it arrived, and the ledger decides an
// order with the referrals before it in the log, so a click listed after
// an order it came before must still be appended first.
//
//   - Events go by their moment (time, then AppendRank among events of
//     one instant), stably: events of one moment keep the order they came
//     in.
//   - A definition (IsDefinition) never goes after the activity listed
//     below it, whatever its time: a batch that sets its catalog up first
//     means it to be in force for what follows, even when it stamps it
//     later.
//   - An event whose key came earlier in the batch goes where that first
//     one goes, so that a duplicate or a conflict is judged against it.
//   - An event that does not read stays where it is.
//
// A batch already in that order keeps it (nil is returned then).
func AppendOrder(items []Placed) []int {
	inOrder, last := true, Moment{Time: math.MinInt64}
	for _, it := range items {
		if !it.Unread {
			m := MomentOf(it.Type, it.Time)
			inOrder = inOrder && m.Compare(last) >= 0
			last = m
		}
	}
	if inOrder {
		return nil
	}
	type place struct {
		at    Moment
		first int // the place of its key's first event, or -1
	}
	places := make([]place, len(items))
	firstOf := map[string]int{}
	last = Moment{Time: math.MinInt64}
	for i, it := range items {
		p := &places[i]
		p.at, p.first = last, -1
		if it.Unread {
			continue
		}
		p.at = MomentOf(it.Type, it.Time)
		last = p.at
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
			next = p.at.Time
		case p.first < 0:
			p.at.Time = min(p.at.Time, next) // its rank comes before any activity's
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
	slices.SortStableFunc(order, func(a, b int) int { return places[a].at.Compare(places[b].at) })
	return order
}
