package ledger

import (
	"bytes"
	"testing"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/internal/synth"
)

// Reserve only makes room. An engine given the sizes of a fold of the same
// history, sizes far too small, or absurd ones, ends in the same state with
// the same output as one given none; an engine that has folded anything
// ignores them.
func TestReserveOnlyMakesRoom(t *testing.T) {
	var facts []events.Fact
	synth.Generate(synth.Standard().Scaled(2000), func(f events.Fact) {
		if c, ok := f.Data.(*events.ClickRecorded); ok && len(facts)%3 == 0 {
			c.ClickID += "-with-a-long-suffix" // kept in the id arena, not in the click
		}
		facts = append(facts, f)
	})
	fold := func(e *Engine, facts []events.Fact) []byte {
		var out bytes.Buffer
		for _, f := range facts {
			out.Write(records(e.Apply(f, nil)))
		}
		return out.Bytes()
	}
	plain := NewEngine(nil)
	plainOut := fold(plain, facts)
	plainState := encodeEngine(t, plain)
	z := plain.State().Sizes()
	clicks, orders, longIDBytes := 0, 0, 0
	for _, f := range facts {
		switch f.Type {
		case events.TypeClickRecorded:
			clicks++
			if id := f.Data.(*events.ClickRecorded).ClickID; len(id) > inlineID {
				longIDBytes += len(id)
			}
		case events.TypeOrderPlaced:
			orders++
		}
	}
	if plain.State().Clicks() != clicks || z.Orders != orders || z.Visitors == 0 || z.Identified == 0 || z.Contacts == 0 || z.Facts < orders || longIDBytes == 0 || z.ClickIDBytes != longIDBytes {
		t.Fatalf("sizes %+v for %d clicks (%d bytes of long ids) and %d orders", z, clicks, longIDBytes, orders)
	}

	absurd := Sizes{ClickIDBytes: 1 << 62, Visitors: -3, Orders: -1 << 40}
	for name, hint := range map[string]Sizes{"exact": z, "too small": {ClickIDBytes: 1, Visitors: 1, Orders: 1}, "absurd": absurd} {
		e := NewEngine(nil)
		e.Reserve(hint)
		if name == "exact" && cap(e.state.clicks.ids) < z.ClickIDBytes {
			t.Errorf("exact: the click id arena has room for %d bytes, want %d", cap(e.state.clicks.ids), z.ClickIDBytes)
		}
		if out := fold(e, facts); !bytes.Equal(out, plainOut) {
			t.Errorf("%s: the output differs from an engine given no sizes", name)
		}
		if !bytes.Equal(encodeEngine(t, e), plainState) {
			t.Errorf("%s: the state differs from an engine given no sizes", name)
		}
	}

	half := NewEngine(nil)
	fold(half, facts[:len(facts)/2])
	before := encodeEngine(t, half)
	half.Reserve(z)
	if !bytes.Equal(encodeEngine(t, half), before) {
		t.Error("Reserve changed an engine that had folded facts")
	}
	fold(half, facts[len(facts)/2:])
	if !bytes.Equal(encodeEngine(t, half), plainState) {
		t.Error("an engine reserved part way ends elsewhere than one never reserved")
	}
}
