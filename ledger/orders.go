package ledger

import (
	"slices"
	"strings"

	"github.com/refledger/refledger/internal/digestmap"
)

// orderTable holds the orders by id, in the order they were placed. A flat
// index of their ids' digests points into the list; an id whose digest an
// earlier id holds goes through overflow, so every id finds its own order.
// A lookup touches the index slot and the order, which its caller reads
// next anyway, where a Go map keyed by the id read the id's bytes too; and
// walking the list visits orders in log order, as the ledger holds their
// entries, which keeps a what-if's comparison close to sequential.
type orderTable struct {
	index    digestmap.Map[int32] // id digest -> position in list
	overflow map[string]int32
	list     []*order
}

// newOrderTable returns a table with room for n orders.
func newOrderTable(n int) *orderTable {
	return &orderTable{index: *digestmap.New[int32](n), list: make([]*order, 0, n)}
}

func (t *orderTable) len() int { return len(t.list) }

// get returns the order with the given id.
func (t *orderTable) get(id string) (*order, bool) {
	i, ok := t.index.Get(digest(id))
	if !ok {
		return nil, false
	}
	if o := t.list[i]; o.id == id {
		return o, true
	}
	if i, ok = t.overflow[id]; ok {
		return t.list[i], true
	}
	return nil, false
}

// add adds an order whose id the table does not hold.
func (t *orderTable) add(o *order) {
	n := int32(len(t.list))
	t.list = append(t.list, o)
	slot, held := t.index.Ref(digest(o.id))
	if !held {
		*slot = n
		return
	}
	if t.overflow == nil {
		t.overflow = map[string]int32{}
	}
	t.overflow[o.id] = n
}

// sorted lists the orders by id, as a snapshot writes them.
func (t *orderTable) sorted() []*order {
	out := slices.Clone(t.list)
	slices.SortFunc(out, func(a, b *order) int { return strings.Compare(a.id, b.id) })
	return out
}
