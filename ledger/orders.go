package ledger

import "github.com/refledger/refledger/internal/digestmap"

// orderTable holds the orders by id, in the order they were placed, found
// through a digestmap.Index of their ids.
// A lookup touches the index slot and the order, which its caller reads
// next anyway, where a Go map keyed by the id read the id's bytes too; and
// walking the list visits orders in log order, as the ledger holds their
// entries, which keeps a what-if's comparison close to sequential.
type orderTable struct {
	index digestmap.Index[string] // order id -> position in list
	list  []*order
}

// newOrderTable returns a table with room for n orders.
func newOrderTable(n int) *orderTable {
	return &orderTable{index: digestmap.NewIndex[string](n), list: make([]*order, 0, n)}
}

func (t *orderTable) len() int { return len(t.list) }

func (t *orderTable) idAt(i int32) string { return t.list[i].id }

// get returns the order with the given id.
func (t *orderTable) get(id string) (*order, bool) {
	i, ok := t.index.Find(id, digest(id), t.idAt)
	if !ok {
		return nil, false
	}
	return t.list[i], true
}

// add adds an order whose id the table does not hold.
func (t *orderTable) add(o *order) {
	t.list = append(t.list, o)
	t.index.FindOrAdd(o.id, digest(o.id), t.idAt, int32(len(t.list)-1))
}
