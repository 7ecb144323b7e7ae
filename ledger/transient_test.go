package ledger

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/refledger/refledger/events"
)

// The engine keeps none of a click's strings, so a fold may decode clicks
// sharing their stored bytes (events.StoredDecoder.TransientClicks): with
// every click's bytes overwritten once folded, the engine ends in the same
// state, with the same output, as from facts decoded the usual way. The
// history includes a click on a link created only later, and clicks that
// carry a contact id.
func TestTheEngineKeepsNoClickString(t *testing.T) {
	facts := loadFacts(t, filepath.Join("..", "testdata", "scenarios", "seed", "events.jsonl"))
	for _, raw := range []string{
		`{"specversion":"1.0","id":"late-click","source":"web","type":"click.recorded","time":"2017-06-01T10:00:00Z","data":{"click_id":"clk-late","link_code":"maria-late","visitor_id":"v-late","contact_id":"c-late","ip":"10.0.0.9","user_agent":"UA","referrer":"https://ref.example/"}}`,
		`{"specversion":"1.0","id":"late-link","source":"crm","type":"link.created","time":"2017-06-02T10:00:00Z","data":{"link_code":"maria-late","partner_id":"maria","program_id":"scm","landing_url":"https://shop.example/late"}}`,
		`{"specversion":"1.0","id":"late-order","source":"checkout","type":"order.placed","time":"2017-06-03T10:00:00Z","data":{"order_id":"o-late","contact_id":"c-late","currency":"USD","lines":[{"line_id":"l1","product_id":"scm","quantity":1,"amount":"100.00"}]}}`,
	} {
		f, err := events.Decode([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		facts = append(facts, f)
	}
	fold := func(transient bool) (*Engine, Output, int) {
		e := NewEngine(nil)
		var all Output
		clicks := 0
		for _, f := range facts {
			raw := events.EncodeStored(f)
			dec := events.StoredDecoder{TransientClicks: transient}
			g, err := dec.Decode(f.Type, raw)
			if err != nil {
				t.Fatal(err)
			}
			o := e.Apply(g, raw)
			all.Entries = append(all.Entries, o.Entries...)
			all.Attributions = append(all.Attributions, o.Attributions...)
			all.Refusals = append(all.Refusals, o.Refusals...)
			if f.Type == events.TypeClickRecorded {
				clicks++
				for i := range raw {
					raw[i] = 'X'
				}
			}
		}
		return e, all, clicks
	}
	usual, usualOut, clicks := fold(false)
	shared, sharedOut, _ := fold(true)
	if clicks < 3 || len(usualOut.Entries) == 0 {
		t.Fatalf("%d clicks, %d entries: the history does not exercise clicks", clicks, len(usualOut.Entries))
	}
	if !bytes.Equal(encodeEngine(t, shared), encodeEngine(t, usual)) {
		t.Error("the engine's state differs once the clicks' bytes are gone: it kept a click's string")
	}
	if !bytes.Equal(records(sharedOut), records(usualOut)) {
		t.Errorf("the output differs:\n%s\nwant\n%s", records(sharedOut), records(usualOut))
	}
}
