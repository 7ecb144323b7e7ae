package ledger

import "testing"

// The table finds each order by its id and keeps the orders as placed
// (ids sharing a digest are digestmap.Index's to tell apart, and are
// tested there).
func TestOrderTableKeepsOrdersAsPlaced(t *testing.T) {
	tab := newOrderTable(0)
	a, b, c := &order{id: "o-b"}, &order{id: "o-a"}, &order{id: "o-c"}
	for _, o := range []*order{a, b, c} {
		tab.add(o)
	}
	for id, want := range map[string]*order{"o-a": b, "o-b": a, "o-c": c} {
		if got, ok := tab.get(id); !ok || got != want {
			t.Errorf("get(%s) = %v, %v", id, got, ok)
		}
	}
	if _, ok := tab.get("o-d"); ok {
		t.Error("an id never added was found")
	}
	if tab.len() != 3 || tab.list[0] != a || tab.list[1] != b || tab.list[2] != c {
		t.Error("the list does not hold the orders as placed")
	}
}
