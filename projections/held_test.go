package projections

import (
	"strings"
	"testing"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/ledger"
)

// The catalog read model (the redirect and /v1/links read it) and the
// ledger agree on what exists: a link or an enrollment that arrives
// before its partner or program is held by both, listed by the ledger
// view as a held refusal saying what it waits for, and active in both
// once that arrives.
func TestCatalogHoldsWhatTheLedgerHolds(t *testing.T) {
	steps := []struct {
		id, typ, data string
		links         string // the catalog's links: code status [missing]
		held          string // the ledger view's held refusals: fact reason
	}{
		{"l1", "link.created", `{"link_code":"ann-books","partner_id":"ann","program_id":"books","landing_url":"https://shop.example/a"}`,
			"ann-books held partner ann is not registered; program books is not defined",
			"t/l1 link ann-books is held: partner ann is not registered; program books is not defined"},
		{"e1", "partner.enrolled", `{"partner_id":"ann","program_id":"books"}`,
			"ann-books held partner ann is not registered; program books is not defined",
			"t/l1 link ann-books is held: partner ann is not registered; program books is not defined | t/e1 enrollment of ann in books is held: partner ann is not registered; program books is not defined"},
		{"k1", "click.recorded", `{"click_id":"k1","link_code":"ann-books","visitor_id":"v1"}`, "", ""},
		{"p1", "partner.registered", `{"partner_id":"ann","name":"Ann"}`,
			"ann-books held program books is not defined",
			"t/l1 link ann-books is held: partner ann is not registered; program books is not defined | t/e1 enrollment of ann in books is held: partner ann is not registered; program books is not defined"},
		{"b1", "program.defined", `{"program_id":"books","name":"Books","priority":1,"default_rate":"10%"}`,
			"ann-books active", "-"},
		{"g1", "link.created", `{"link_code":"ghost-x","partner_id":"ghost","landing_url":"https://shop.example/g"}`,
			"ann-books active, ghost-x held partner ghost is not registered",
			"t/g1 link ghost-x is held: partner ghost is not registered"},
	}
	engine, view, cat := ledger.NewEngine(nil), NewLedger(nil), NewCatalog()
	var lastLinks, lastHeld string
	for i, s := range steps {
		f := fact(t, s.id, s.typ, s.data)
		fc := FactCommit{Position: store.Position(i + 1), Facts: []events.Fact{f}, Raw: [][]byte{nil}}
		cat.ApplyFacts(fc)
		for _, r := range Fold(engine, fc).Records() {
			if err := view.ApplyLedger(store.Position(i+1), r); err != nil {
				t.Fatal(err)
			}
		}
		var links, held []string
		for _, l := range cat.Links() {
			links = append(links, strings.TrimSpace(l.LinkCode+" "+l.Status+" "+l.Missing))
			el, ok := engine.State().Catalog().Link(l.LinkCode)
			if inEffect := ok && el.InEffect(); inEffect != (l.Status == LinkActive) {
				t.Errorf("after %s: link %s is %s in the catalog, in effect %v in the ledger", s.id, l.LinkCode, l.Status, inEffect)
			}
		}
		for _, r := range view.Refusals() {
			if !r.Held {
				t.Errorf("after %s: refused %s: %s", s.id, r.Fact, r.Reason)
			}
			held = append(held, r.Fact+" "+r.Reason)
		}
		if s.links != "" {
			lastLinks = s.links
		}
		if s.held != "" {
			lastHeld = s.held
		}
		if got := strings.Join(links, ", "); got != lastLinks {
			t.Errorf("after %s: links %q, want %q", s.id, got, lastLinks)
		}
		if got := strings.Join(held, " | "); got != strings.TrimPrefix(lastHeld, "-") {
			t.Errorf("after %s: held %q, want %q", s.id, got, strings.TrimPrefix(lastHeld, "-"))
		}
	}
	p, _ := cat.Partner("ann")
	if strings.Join(p.Programs, ",") != "books" || len(p.HeldPrograms) != 0 {
		t.Errorf("ann's programs %v, held %v", p.Programs, p.HeldPrograms)
	}
}

// TestCatalogRefusesAParentCycleAsTheLedgerDoes: a partner registered with
// a parent that would make it its own ancestor is refused by the ledger;
// the catalog ignores it too, so the partner's link is held in both.
// Before, the catalog listed the partner and its link as active while
// the ledger held the link.
func TestCatalogRefusesAParentCycleAsTheLedgerDoes(t *testing.T) {
	engine, cat := ledger.NewEngine(nil), NewCatalog()
	for i, s := range []struct{ id, typ, data string }{
		{"a", "partner.registered", `{"partner_id":"ann","name":"Ann","parent_partner_id":"bob"}`},
		{"b", "partner.registered", `{"partner_id":"bob","name":"Bob","parent_partner_id":"ann"}`},
		{"l", "link.created", `{"link_code":"bob-x","partner_id":"bob","landing_url":"https://shop.example/b"}`},
	} {
		fc := FactCommit{Position: store.Position(i + 1), Facts: []events.Fact{fact(t, s.id, s.typ, s.data)}, Raw: [][]byte{nil}}
		cat.ApplyFacts(fc)
		Fold(engine, fc)
	}
	if _, ok := cat.Partner("bob"); ok {
		t.Error("the catalog lists bob, whom the ledger refused (a parent cycle)")
	}
	el, ok := engine.State().Catalog().Link("bob-x")
	for _, l := range cat.Links() {
		if l.LinkCode == "bob-x" && (l.Status == LinkActive) != (ok && el.InEffect()) {
			t.Errorf("bob-x is %s in the catalog, in effect %v in the ledger", l.Status, ok && el.InEffect())
		}
	}
}
