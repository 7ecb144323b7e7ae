package ledger

import (
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/refledger/refledger/events"
)

// heldFact is one fact of a held-definition case.
type heldFact struct{ typ, at, data string }

// A definition that arrives before what it names is held, listed as held
// with what it waits for, and takes effect when that arrives; an order
// decided meanwhile is decided again then, with adjusting entries, and
// ends exactly as if the facts had come in time order.
func TestDefinitionsArrivingEarlyTakeEffectLater(t *testing.T) {
	const def = "2016-06-01T00:00:00Z" // definitions: before every click and order
	annLink := heldFact{"link.created", def, `{"link_code":"ann-scm","partner_id":"ann","program_id":"scm","landing_url":"https://shop.example/a"}`}
	annEnrolled := heldFact{"partner.enrolled", def, `{"partner_id":"ann","program_id":"scm"}`}
	ann := heldFact{"partner.registered", def, `{"partner_id":"ann","name":"Ann"}`}
	click := func(id, link string) heldFact {
		return heldFact{"click.recorded", "2017-06-01T00:00:00Z", fmt.Sprintf(`{"click_id":%q,"link_code":%q,"visitor_id":"v1"}`, id, link)}
	}
	order := func(product string) heldFact {
		return heldFact{"order.placed", "2017-06-02T00:00:00Z", fmt.Sprintf(`{"order_id":"o","visitor_id":"v1","contact_id":"katie","currency":"USD","lines":[{"line_id":"l1","product_id":%q,"quantity":1,"amount":"100.00"}]}`, product)}
	}
	cases := []struct {
		name   string
		policy string
		facts  []heldFact // in arrival order; the last one releases what was held
		held   []string   // what the held refusals say, in order
		want   string     // the last fact's adjusting entries
	}{{
		name:  "a link before its partner: the order is decided again when the partner registers",
		facts: []heldFact{annLink, annEnrolled, click("k1", "ann-scm"), order("scm"), ann},
		held:  []string{"partner ann is not registered", "partner ann is not registered"},
		want:  "ann t1 20.00",
	}, {
		name:  "a link before its partner takes the order from an earlier click (credit: last)",
		facts: []heldFact{annLink, annEnrolled, click("k0", "maria-scm"), click("k1", "ann-scm"), order("scm"), ann},
		held:  []string{"partner ann is not registered", "partner ann is not registered"},
		want:  "ann t1 20.00, maria t1 -20.00",
	}, {
		name:  "a click on a link not created yet counts once it is",
		facts: []heldFact{click("k1", "late-link"), order("scm"), {"link.created", def, `{"link_code":"late-link","partner_id":"maria","landing_url":"https://shop.example/l"}`}},
		want:  "maria t1 20.00",
	}, {
		name: "an enrollment before its program: the order is priced again when the program is defined",
		facts: []heldFact{{"partner.enrolled", def, `{"partner_id":"maria","program_id":"books"}`}, click("k1", "maria-scm"), order("book"),
			{"program.defined", def, `{"program_id":"books","name":"Books","priority":3,"product_rates":{"book":"10%"}}`}},
		held: []string{"program books is not defined"},
		want: "maria t1 10.00",
	}, {
		name:   "a link before its program (link-program): decided again when the program is defined",
		policy: `{"program_binding":"link-program"}`,
		facts: []heldFact{{"link.created", def, `{"link_code":"maria-books","partner_id":"maria","program_id":"books","landing_url":"https://shop.example/b"}`},
			click("k1", "maria-books"), order("book"),
			{"program.defined", def, `{"program_id":"books","name":"Books","priority":3,"product_rates":{"book":"10%"}}`}},
		held: []string{"program books is not defined"},
		want: "maria t1 10.00",
	}, {
		name: "a manual referral before its partner",
		facts: []heldFact{{"referral.assigned", "2017-05-01T00:00:00Z", `{"contact_id":"katie","partner_id":"ann"}`}, annEnrolled,
			order("scm"), ann},
		held: []string{"partner ann is not registered", "partner ann is not registered"},
		want: "ann t1 20.00",
	}, {
		name: "a partner before its parent: the parent's tier is priced when it registers",
		facts: []heldFact{
			{"program.defined", def, `{"program_id":"tiers","name":"Tiers","priority":0,"product_rates":{"scm":"20%"},"tier_rates":["5%"]}`},
			{"partner.registered", def, `{"partner_id":"kid","name":"Kid","parent_partner_id":"ann"}`},
			{"partner.enrolled", def, `{"partner_id":"kid","program_id":"tiers"}`},
			{"link.created", def, `{"link_code":"kid-scm","partner_id":"kid","landing_url":"https://shop.example/k"}`},
			click("k1", "kid-scm"), order("scm"), ann},
		want: "ann t2 5.00",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHistory(t, c.policy)
			base := len(h.facts)
			var held []string
			var last Output
			for _, f := range c.facts {
				last = h.add(f.typ, f.at, f.data)
				for _, r := range last.Refusals {
					if !r.Held {
						t.Fatalf("%s refused: %s", f.typ, r.Reason)
					}
					held = append(held, r.Reason)
				}
			}
			if len(held) != len(c.held) {
				t.Fatalf("held %q, want %q", held, c.held)
			}
			for i := range held {
				if !strings.Contains(held[i], c.held[i]) {
					t.Errorf("held %q, want it to say %q", held[i], c.held[i])
				}
			}
			if got := adjustments(last); got != c.want {
				t.Errorf("adjustments %q, want %q", got, c.want)
			}
			if len(last.Released) != len(c.held) {
				t.Errorf("released %+v, want the %d held facts", last.Released, len(c.held))
			}
			for _, e := range last.Entries {
				if cause := fmt.Sprintf("test/f-%d", h.n); e.Fact != cause || !strings.HasSuffix(e.EntryID, "/adjusted/"+cause) {
					t.Errorf("entry %s caused by %s, want the definition %s", e.EntryID, e.Fact, cause)
				}
			}
			if len(last.Attributions) != 1 || last.Attributions[0].DecidedAgainBy == "" {
				t.Errorf("explanations %+v, want the order's, decided again", last.Attributions)
			}
			// Exactly as in time order: definitions first.
			ordered := slices.Clone(h.facts[base:])
			slices.SortStableFunc(ordered, func(a, b events.Fact) int {
				return events.MomentOf(a.Type, a.Time.UnixNano()).Compare(events.MomentOf(b.Type, b.Time.UnixNano()))
			})
			inTime, out := foldAll(append(slices.Clone(h.facts[:base]), ordered...), nil)
			if len(out.Refusals) != 0 {
				t.Errorf("in time order: refusals %+v", out.Refusals)
			}
			if got, want := nets(h.e), nets(inTime); !maps.Equal(got, want) {
				t.Errorf("shares differ from time order: %s", netDiff(got, want))
			}
			for cut := range len(h.facts) + 1 {
				checkSnapshotResumes(t, h.facts, cut, nil)
			}
		})
	}
}

// A definition whose partner or program never comes stays listed as held,
// saying what it waits for, and its clicks earn nothing.
func TestDefinitionsThatNeverTakeEffect(t *testing.T) {
	h := newHistory(t, "")
	for _, f := range []struct{ typ, data, reason string }{
		{"link.created", `{"link_code":"ghost-scm","partner_id":"ghost","landing_url":"https://shop.example/g"}`, "link ghost-scm is held: partner ghost is not registered"},
		{"link.created", `{"link_code":"maria-x","partner_id":"maria","program_id":"nope","landing_url":"https://shop.example/x"}`, "link maria-x is held: program nope is not defined"},
		{"partner.enrolled", `{"partner_id":"ghost","program_id":"nope"}`, "enrollment of ghost in nope is held: partner ghost is not registered; program nope is not defined"},
		{"referral.assigned", `{"contact_id":"katie","partner_id":"ghost"}`, "referral of katie to ghost is held: partner ghost is not registered"},
	} {
		out := h.add(f.typ, "2017-01-01T00:00:00Z", f.data)
		if len(out.Refusals) != 1 || !out.Refusals[0].Held || out.Refusals[0].Reason != f.reason {
			t.Errorf("%s %s: %+v, want held: %q", f.typ, f.data, out.Refusals, f.reason)
		}
	}
	h.click("k1", "ghost-scm", "v1", "2017-06-01T00:00:00Z")
	h.click("k2", "maria-x", "v2", "2017-06-01T00:00:00Z")
	if got := reasons(h.order("o1", "v1", "", "scm", "100.00", "2017-06-02T00:00:00Z")); got != "lost: partner ghost is not registered | line: no referral credited" {
		t.Errorf("o1: %s", got)
	}
	if got := reasons(h.order("o2", "v2", "", "scm", "100.00", "2017-06-02T00:00:00Z")); got != "lost: link maria-x is held: its program nope is not defined | line: no referral credited" {
		t.Errorf("o2: %s", got)
	}
	// A link held for one partner is that partner's code: another's is refused.
	if out := h.add("link.created", "2017-01-01T00:00:00Z", `{"link_code":"ghost-scm","partner_id":"maria","landing_url":"https://shop.example/g"}`); len(out.Refusals) != 1 || out.Refusals[0].Held || !strings.Contains(out.Refusals[0].Reason, "already belongs to partner ghost") {
		t.Errorf("another partner's link on a held code: %+v", out.Refusals)
	}
	for cut := range len(h.facts) + 1 {
		checkSnapshotResumes(t, h.facts, cut, nil)
	}
}

// Catalog definitions, like referrals, may reach the engine late, in any
// order after their time (a partner after its links, a program after its
// enrollments, a parent after its child): every partner's share of every
// line ends as the same history in time order gives it, and nothing stays
// held.
func TestLateDefinitionsEndAsTimeOrder(t *testing.T) {
	for seed := int64(1); seed <= *lateSeeds; seed++ {
		facts, referrals := timedHistory(seed, 150)
		want := timeOrderNets(facts)

		r := rand.New(rand.NewSource(seed))
		late := map[int]bool{}
		for i, f := range facts {
			switch f.Type {
			case events.TypePartnerRegistered, events.TypeProgramDefined, events.TypePartnerEnrolled, events.TypeLinkCreated:
				late[i] = r.Intn(2) == 0
			}
		}
		for _, i := range referrals {
			late[i] = r.Intn(3) == 0
		}
		var arrival, held []events.Fact
		for i, f := range facts {
			if late[i] {
				held = append(held, f)
				continue
			}
			arrival = append(arrival, f)
			if r.Intn(12) == 0 {
				r.Shuffle(len(held), func(a, b int) { held[a], held[b] = held[b], held[a] })
				arrival, held = append(arrival, held...), nil
			}
		}
		r.Shuffle(len(held), func(a, b int) { held[a], held[b] = held[b], held[a] })
		arrival = append(arrival, held...)
		e, out, released := foldReleasing(arrival)
		if got := nets(e); !maps.Equal(got, want) {
			t.Errorf("seed %d: definitions arriving late, shares differ from time order: %s", seed, netDiff(got, want))
		}
		for _, rf := range out.Refusals {
			if !rf.Held {
				t.Errorf("seed %d: refused %s: %s", seed, rf.Fact, rf.Reason)
			} else if !released[rf.Fact] {
				t.Errorf("seed %d: %s still held: %s", seed, rf.Fact, rf.Reason)
			}
		}
		if seed <= 3 {
			for cut := 0; cut <= len(arrival); cut += 7 {
				checkSnapshotResumes(t, arrival, cut, nil)
			}
		}
	}
}

// foldReleasing folds facts and returns the engine, the output, and the
// facts released from hold.
func foldReleasing(facts []events.Fact) (*Engine, Output, map[string]bool) {
	e := NewEngine(nil)
	var all Output
	released := map[string]bool{}
	for _, f := range facts {
		o := e.Apply(f, nil)
		all.Entries = append(all.Entries, o.Entries...)
		all.Refusals = append(all.Refusals, o.Refusals...)
		for _, r := range o.Released {
			released[r.Fact] = true
		}
	}
	return e, all, released
}
