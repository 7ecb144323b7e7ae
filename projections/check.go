package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/ledger"
)

// Finding is one result of Check: what was checked, whether it holds,
// and in words what was found.
type Finding struct {
	Check  string `json:"check"`
	Status string `json:"status"` // ok, fault or warning
	Detail string `json:"detail"`
}

// Statuses of a finding. A fault is something wrong with what the
// ledger says or keeps; a warning is something refledger repairs itself
// (a snapshot it will rebuild) or that does not change any amount.
const (
	StatusOK      = "ok"
	StatusFault   = "fault"
	StatusWarning = "warning"
)

// maxListed bounds the examples a finding names.
const maxListed = 5

// Check reads both logs whole and checks what the ledger's trust rests
// on: every position of each log is there and decodes, every fact
// decodes, the ledger's checkpoints stay within the fact log (and the
// last names the commit it holds), every entry id is unique, every
// decision refers to a fact (or an applied replay) that exists, and the
// balances are the sums of the entries, recomputed in decimal. It holds
// one 64-bit digest per fact and the ledger view in memory.
func Check(ctx context.Context, facts, ledgerLog store.Log) ([]Finding, error) {
	c := checker{seed: maphash.MakeSeed(), keys: map[uint64]struct{}{}}
	var out []Finding
	out = append(out, c.factLog(ctx, facts))
	view, ledgerFinding := c.ledgerLog(ctx, ledgerLog)
	out = append(out, ledgerFinding)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	out = append(out, c.checkpoints(ctx, facts))
	if view != nil {
		out = append(out, c.entryIDs(view), c.references(view), balances(view))
	}
	return out, nil
}

type checker struct {
	seed     maphash.Seed
	keys     map[uint64]struct{} // digests of the facts' "source/id"
	head     store.Position      // of the fact log, as read
	replays  map[string]bool
	last     ledger.Checkpoint
	beyond   []string // checkpoints past the fact log's head
	complete bool     // the fact log was read to its end
}

func (c *checker) digest(s string) uint64 { return maphash.String(c.seed, s) }

func (c *checker) factLog(ctx context.Context, facts store.Log) Finding {
	f := Finding{Check: "fact log"}
	var commits, count, foreign, undecodable, repeated int
	var examples []string
	// The store keys each fact by source and id: the same key twice is a
	// fact appended twice, which the ingest index exists to prevent.
	stored := map[uint64]struct{}{}
	err := facts.Read(ctx, 1, func(s store.Stored) error {
		c.head = s.Position
		if s.Foreign != nil {
			foreign++
			examples = appendListed(examples, s.Foreign.String())
			return nil
		}
		commits++
		for _, e := range s.Commit.Events {
			count++
			k := c.digest(e.ID)
			if _, twice := stored[k]; twice {
				repeated++
				examples = appendListed(examples, fmt.Sprintf("position %d: fact %q appended again", s.Position, strings.ReplaceAll(e.ID, "\x00", "/")))
			}
			stored[k] = struct{}{}
			fact, err := events.DecodeStored(e.Type, e.Data)
			if err != nil {
				undecodable++
				examples = appendListed(examples, fmt.Sprintf("position %d: event %q: %v", s.Position, e.ID, err))
				continue
			}
			c.keys[c.digest(fact.Source+"/"+fact.ID)] = struct{}{}
		}
		return nil
	})
	c.complete = err == nil
	f.Detail = fmt.Sprintf("%s, %s, %s", counted(int(c.head), "position"), counted(commits, "commit"), counted(count, "fact"))
	switch {
	case err != nil:
		f.Status, f.Detail = StatusFault, f.Detail+" read; "+err.Error()
	case foreign > 0 || undecodable > 0 || repeated > 0:
		f.Status = StatusFault
		f.Detail += fmt.Sprintf("; %d messages refledger did not write, %d facts that do not decode, %d facts appended twice: %s",
			foreign, undecodable, repeated, strings.Join(examples, "; "))
	default:
		f.Status = StatusOK
	}
	return f
}

func (c *checker) ledgerLog(ctx context.Context, ledgerLog store.Log) (*Ledger, Finding) {
	f := Finding{Check: "ledger log"}
	view := NewLedger(ledgerLog)
	c.replays = map[string]bool{}
	var head store.Position
	var records, foreign int
	var examples []string
	err := ledgerLog.Read(ctx, 1, func(s store.Stored) error {
		head = s.Position
		if s.Foreign != nil {
			foreign++
			examples = appendListed(examples, s.Foreign.String())
			return nil
		}
		for _, e := range s.Commit.Events {
			records++
			switch e.Type {
			case ledger.TypeCheckpoint:
				var cp ledger.Checkpoint
				if err := json.Unmarshal(e.Data, &cp); err != nil {
					return &store.Damage{Log: store.LedgerLog, Position: s.Position, Problem: "a checkpoint does not decode: " + err.Error()}
				}
				if cp.FactsThrough > c.head {
					c.beyond = appendListed(c.beyond, fmt.Sprintf("position %d decided facts through %d", s.Position, cp.FactsThrough))
				}
				if cp.Part == 0 {
					c.last = cp
				}
			case ledger.TypeReplayApplied:
				var r ledger.ReplayApplied
				if err := json.Unmarshal(e.Data, &r); err == nil {
					c.replays[r.ReplayID] = true
				}
			}
			if err := view.ApplyLedger(s.Position, recordOf(e)); err != nil {
				return &store.Damage{Log: store.LedgerLog, Position: s.Position, Problem: err.Error()}
			}
		}
		return nil
	})
	f.Detail = fmt.Sprintf("%s, %s, %s", counted(int(head), "position"), counted(records, "record"), counted(view.EntryCount(), "entry"))
	switch {
	case err != nil:
		f.Status, f.Detail = StatusFault, f.Detail+" read; "+err.Error()
		return nil, f
	case foreign > 0:
		f.Status = StatusFault
		f.Detail += fmt.Sprintf("; %d messages refledger did not write: %s", foreign, strings.Join(examples, "; "))
	default:
		f.Status = StatusOK
	}
	return view, f
}

func (c *checker) checkpoints(ctx context.Context, facts store.Log) Finding {
	f := Finding{Check: "ledger within the facts", Status: StatusOK,
		Detail: fmt.Sprintf("the ledger decided the facts through position %d of %d", c.last.FactsThrough, c.head)}
	if !c.complete {
		f.Status, f.Detail = StatusWarning, "not checked: the fact log could not be read whole"
		return f
	}
	if len(c.beyond) > 0 {
		f.Status, f.Detail = StatusFault, fmt.Sprintf("checkpoints past the fact log's head %d: %s", c.head, strings.Join(c.beyond, "; "))
		return f
	}
	if err := VerifyDecided(ctx, facts, c.last); err != nil {
		f.Status, f.Detail = StatusFault, err.Error()
	}
	return f
}

func (c *checker) entryIDs(view *Ledger) Finding {
	seen := make(map[uint64]string, view.EntryCount())
	var twice []string
	n := 0
	view.EachEntry(func(e *ledger.Entry) {
		n++
		d := c.digest(e.EntryID)
		if id, ok := seen[d]; ok && id == e.EntryID {
			twice = appendListed(twice, e.EntryID)
			return
		}
		seen[d] = e.EntryID
	})
	if len(twice) > 0 {
		return Finding{Check: "entry ids unique", Status: StatusFault, Detail: "entries written twice: " + strings.Join(twice, ", ")}
	}
	return Finding{Check: "entry ids unique", Status: StatusOK, Detail: fmt.Sprintf("%d entries", n)}
}

func (c *checker) references(view *Ledger) Finding {
	f := Finding{Check: "decisions refer to facts", Status: StatusOK}
	if !c.complete {
		f.Status, f.Detail = StatusWarning, "not checked: the fact log could not be read whole"
		return f
	}
	var missing []string
	known := func(ref string) bool {
		if id, ok := strings.CutPrefix(ref, "replay/"); ok && c.replays[id] {
			return true
		}
		_, ok := c.keys[c.digest(ref)]
		return ok
	}
	n := 0
	view.EachEntry(func(e *ledger.Entry) {
		n++
		if !known(e.Fact) {
			missing = appendListed(missing, fmt.Sprintf("entry %s (fact %s)", e.EntryID, e.Fact))
		}
	})
	for _, r := range view.Refusals() {
		n++
		if !known(r.Fact) {
			missing = appendListed(missing, "the refusal of "+r.Fact)
		}
	}
	f.Detail = fmt.Sprintf("%d entries and refusals", n)
	if len(missing) > 0 {
		f.Status, f.Detail = StatusFault, "decisions whose fact the fact log does not hold: "+strings.Join(missing, "; ")
	}
	return f
}

// balances recomputes every balance from the entries in decimal, as the
// balances report defines it, and compares.
func balances(view *Ledger) Finding {
	type sum struct{ earned, reversed, paid, open decimal.Decimal }
	sums := map[[2]string]*sum{}
	var bad []string
	view.EachEntry(func(e *ledger.Entry) {
		k := [2]string{e.PartnerID, e.Currency}
		s := sums[k]
		if s == nil {
			s = &sum{}
			sums[k] = s
		}
		amount, err1 := decimal.NewFromString(e.Amount)
		net, err2 := decimal.NewFromString(e.Net)
		if err1 != nil || err2 != nil {
			bad = appendListed(bad, fmt.Sprintf("entry %s has amount %q, net %q", e.EntryID, e.Amount, e.Net))
			return
		}
		switch e.Kind {
		case ledger.KindPaid:
			s.paid = s.paid.Add(amount)
			return
		case ledger.KindAccrued:
			s.earned = s.earned.Add(amount)
		case ledger.KindReversed:
			s.reversed = s.reversed.Add(amount)
		case ledger.KindAdjusted:
			if net.IsPositive() {
				s.earned = s.earned.Add(net)
			} else {
				s.reversed = s.reversed.Sub(net)
			}
		}
		s.open = s.open.Add(net)
	})
	end := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	got := view.Balances(end)
	for _, b := range got {
		s := sums[[2]string{b.PartnerID, b.Currency}]
		if s == nil {
			bad = appendListed(bad, fmt.Sprintf("%s %s has a balance and no entry", b.PartnerID, b.Currency))
			continue
		}
		for _, field := range []struct {
			name     string
			reported string
			want     decimal.Decimal
		}{
			{"earned", b.Earned, s.earned}, {"reversed", b.Reversed, s.reversed}, {"paid", b.Paid, s.paid},
			{"pending + payable", sumText(b.Pending, b.Payable), s.open.Sub(s.paid)},
		} {
			if d, err := decimal.NewFromString(field.reported); err != nil || !d.Equal(field.want) {
				bad = appendListed(bad, fmt.Sprintf("%s %s: %s is %s, the entries sum to %s", b.PartnerID, b.Currency, field.name, field.reported, field.want))
			}
		}
	}
	if len(got) != len(sums) {
		bad = appendListed(bad, fmt.Sprintf("%d balances for %d partner currencies with entries", len(got), len(sums)))
	}
	if len(bad) > 0 {
		return Finding{Check: "balances are the sums of entries", Status: StatusFault, Detail: strings.Join(bad, "; ")}
	}
	return Finding{Check: "balances are the sums of entries", Status: StatusOK, Detail: fmt.Sprintf("%d partner currencies", len(got))}
}

func sumText(a, b string) string {
	x, err1 := decimal.NewFromString(a)
	y, err2 := decimal.NewFromString(b)
	if err1 != nil || err2 != nil {
		return a + "+" + b
	}
	return x.Add(y).String()
}

// appendListed appends s to list while it names fewer than maxListed, and
// "..." once past.
func appendListed(list []string, s string) []string {
	switch {
	case len(list) < maxListed:
		return append(list, s)
	case len(list) == maxListed:
		return append(list, "...")
	}
	return list
}

// counted is "1 fact", "2 facts", "1 entry", "3 entries".
func counted(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
