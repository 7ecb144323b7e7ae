package ledger

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"

	"github.com/refledger/refledger/events"
)

// loadFacts decodes a JSON-lines file of facts.
func loadFacts(t testing.TB, path string) []events.Fact {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []events.Fact
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, events.MaxEventBytes)
	for sc.Scan() {
		fact, err := events.Decode(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fact)
	}
	return out
}

func foldAll(facts []events.Fact, tl *Timeline) (*Engine, Output) {
	e := NewEngine(tl)
	var all Output
	for _, f := range facts {
		o := e.Apply(f, nil)
		all.Entries = append(all.Entries, o.Entries...)
		all.Attributions = append(all.Attributions, o.Attributions...)
		all.Refusals = append(all.Refusals, o.Refusals...)
	}
	return e, all
}

func TestSeedScenarioFold(t *testing.T) {
	facts := loadFacts(t, filepath.Join("..", "testdata", "scenarios", "seed", "events.jsonl"))
	_, out := foldAll(facts, nil)
	if len(out.Refusals) != 0 {
		t.Fatalf("refusals: %+v", out.Refusals)
	}
	type row struct{ kind, order, partner, source, click, link, program, amount string }
	var got []row
	for _, e := range out.Entries {
		got = append(got, row{e.Kind, e.OrderID, e.PartnerID, e.Source, e.ClickID, e.LinkCode, e.ProgramID, e.Amount})
	}
	want := []row{
		{"accrued", "o-2016", "roger", "cookie", "clk-1", "roger-event-2016", "events", "10.00"},
		{"accrued", "o-2017", "roger", "referral-history", "clk-1", "roger-event-2016", "scm", "99.40"},
		{"accrued", "o-2017b", "maria", "cookie", "clk-2", "maria-scm", "scm", "99.40"},
		{"reversed", "o-2017b", "maria", "cookie", "clk-2", "maria-scm", "scm", "49.70"},
	}
	if len(got) != len(want) {
		t.Fatalf("entries:\n%+v\nwant\n%+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
