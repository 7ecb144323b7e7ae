package ledger

import "testing"

// Every order id finds its own order, even one whose digest an earlier id
// holds (made here by planting the second id's digest on the first order,
// as no two short ids are known to share one); the list keeps the orders
// as placed, and sorted lists them by id.
func TestOrderTableFindsEachIdAsItself(t *testing.T) {
	tab := newOrderTable(0)
	a, b, c := &order{id: "o-b"}, &order{id: "o-a"}, &order{id: "o-c"}
	tab.add(a)
	tab.index.Put(digest("o-a"), 0) // as if "o-a" shared the digest of "o-b"
	tab.add(b)
	tab.add(c)
	if len(tab.overflow) != 1 {
		t.Fatalf("%d ids in overflow, want 1", len(tab.overflow))
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
	if s := tab.sorted(); s[0] != b || s[1] != a || s[2] != c {
		t.Error("sorted does not list the orders by id")
	}
}
