package ledger

import (
	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/money"
)

// maxTiers bounds the parent chain that earns tier commission.
const maxTiers = 10

// lineRate finds the program and rate that a line earns for the winner
// under the policy's program binding, or says why it earns nothing.
func (s *State) lineRate(win *credit, product string, p *Policy) (*Program, money.Rate, Reason) {
	partner := s.partnerOf(win)
	if p.ProgramBinding == events.BindingLinkProgram && win.link != "" && win.program != "" {
		prog, ok := s.cat.programs[win.program]
		if !ok {
			return nil, money.Rate{}, Reason{code: reasonLinkProgramUndefined, a: win.program, b: win.link}
		}
		r, ok := prog.rateFor(product)
		if !ok {
			return nil, money.Rate{}, Reason{code: reasonNotInLinkProgram, a: product, b: prog.ID, c: win.link}
		}
		return prog, r, Reason{code: reasonRateFromLink, a: r.String(), b: prog.ID, c: win.link}
	}
	prog, r, ok := s.cat.bestProgram(partner, product)
	if !ok {
		return nil, money.Rate{}, Reason{code: reasonNoProgram, a: partner.ID, b: product}
	}
	return prog, r, Reason{code: reasonRateLowestPriority, a: r.String(), b: prog.ID, c: partner.ID, d: product}
}

// priceLines computes every line's shares for the order's winner, and
// explains each line (unless the engine does not explain the order: then
// nil). cycle
// is the subscription payment number (0 when none).
func (s *State) priceLines(o *order, cycle int) []LineExplanation {
	var out []LineExplanation
	if s.records(o.id) {
		out = fresh(s, &s.reuse.lines, len(o.lines))
	}
	explain := func(i int, ex LineExplanation) {
		if out != nil {
			out[i] = ex
		}
	}
	win := o.winnerOf()
	for i := range o.lines {
		l := &o.lines[i]
		ex := LineExplanation{LineID: l.id, ProductID: l.product, Currency: o.cur.Code}
		if out != nil {
			ex.Amount = money.FormatMinor(0, o.cur)
		}
		if win == nil {
			ex.Reason = Reason{code: reasonNoReferral}
			explain(i, ex)
			continue
		}
		prog, rate, reason := s.lineRate(win, l.product, &o.policy.Policy)
		ex.Reason = reason
		if prog == nil {
			explain(i, ex)
			continue
		}
		ex.ProgramID, ex.Rate = prog.ID, rate.String()
		if prog.Cycles > 0 && cycle > prog.Cycles {
			ex.Reason = Reason{code: reasonPastCycles, n: int32(cycle), m: int32(prog.Cycles), a: prog.ID}
			explain(i, ex)
			continue
		}
		l.shares = s.tierShares(o, l, s.partnerOf(win), prog, rate)
		if out != nil {
			ex.Tiers = fresh(s, &s.reuse.tiers, len(l.shares))
			for j, sh := range l.shares {
				ex.Tiers[j] = TierShare{Tier: sh.tier, PartnerID: sh.partner, ProgramID: sh.program, Rate: sh.rate, Amount: money.FormatMinor(sh.full, o.cur)}
			}
			ex.Amount = ex.Tiers[0].Amount // the line earns what its first tier does
		}
		explain(i, ex)
	}
	return out
}

// tierShares gives the credited partner its rate and each parent up the
// chain its tier rate from the same program.
func (s *State) tierShares(o *order, l *line, partner *Partner, prog *Program, rate money.Rate) []share {
	shares := append(s.shareScratch[:0], share{tier: 1, partner: partner.ID, program: prog.ID, rate: rate.String(), full: rate.CommissionMinor(l.amount, l.quantity, o.cur)})
	parent := partner.Parent
	for tier := 2; tier <= maxTiers && tier-2 < len(prog.TierRates) && parent != "" && !earns(shares, parent); tier++ {
		p, ok := s.cat.partners[parent]
		if !ok {
			break
		}
		r := prog.TierRates[tier-2]
		shares = append(shares, share{tier: tier, partner: p.ID, program: prog.ID, rate: r.String(), full: r.CommissionMinor(l.amount, l.quantity, o.cur)})
		parent = p.Parent
	}
	s.shareScratch = shares
	return s.slab.copyShares(shares)
}

// earns reports whether a partner already has one of the shares (at most
// maxTiers of them: a scan beats a map).
func earns(shares []share, partner string) bool {
	for _, sh := range shares {
		if sh.partner == partner {
			return true
		}
	}
	return false
}
