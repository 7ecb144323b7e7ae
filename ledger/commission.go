package ledger

import (
	"fmt"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/money"
	"github.com/shopspring/decimal"
)

// maxTiers bounds the parent chain that earns tier commission.
const maxTiers = 10

// lineRate finds the program and rate that a line earns for the winner
// under the policy's program binding, or says why it earns nothing.
func (s *State) lineRate(win *Candidate, product string, p Policy) (*Program, money.Rate, string) {
	partner := s.cat.partners[win.PartnerID]
	if p.ProgramBinding == events.BindingLinkProgram && win.LinkCode != "" && win.ProgramID != "" {
		prog, ok := s.cat.programs[win.ProgramID]
		if !ok {
			return nil, money.Rate{}, fmt.Sprintf("program %s of link %s is not defined", win.ProgramID, win.LinkCode)
		}
		r, ok := prog.rateFor(product)
		if !ok {
			return nil, money.Rate{}, fmt.Sprintf("product %s is not in program %s of link %s (program_binding: link-program)", product, prog.ID, win.LinkCode)
		}
		return prog, r, fmt.Sprintf("%s from program %s, the program of link %s", r, prog.ID, win.LinkCode)
	}
	prog, r, ok := s.cat.bestProgram(partner, product)
	if !ok {
		return nil, money.Rate{}, fmt.Sprintf("no program of partner %s covers product %s", partner.ID, product)
	}
	return prog, r, fmt.Sprintf("%s from program %s, the lowest priority number among %s's programs covering %s", r, prog.ID, partner.ID, product)
}

// priceLines computes every line's shares for the winner, and explains
// each line. cycle is the subscription payment number (0 when none).
func (s *State) priceLines(o *order, win *Candidate, cycle int) []LineExplanation {
	out := make([]LineExplanation, len(o.lines))
	for i, l := range o.lines {
		ex := LineExplanation{LineID: l.id, ProductID: l.product, Currency: o.cur.Code, Amount: money.Format(decimal.Zero, o.cur)}
		if win == nil {
			ex.Reason = "no referral credited"
			out[i] = ex
			continue
		}
		prog, rate, reason := s.lineRate(win, l.product, o.policy.Policy)
		ex.Reason = reason
		if prog == nil {
			out[i] = ex
			continue
		}
		ex.ProgramID, ex.Rate = prog.ID, rate.String()
		if prog.Cycles > 0 && cycle > prog.Cycles {
			ex.Reason = fmt.Sprintf("not commissionable: subscription payment %d is past the %d commissionable cycles of program %s", cycle, prog.Cycles, prog.ID)
			out[i] = ex
			continue
		}
		l.shares = s.tierShares(o, l, win.PartnerID, prog, rate)
		ex.Amount = money.Format(l.shares[0].full, o.cur)
		for _, sh := range l.shares {
			ex.Tiers = append(ex.Tiers, TierShare{Tier: sh.tier, PartnerID: sh.partner, ProgramID: sh.program, Rate: sh.rate, Amount: money.Format(sh.full, o.cur)})
		}
		out[i] = ex
	}
	return out
}

// tierShares gives the credited partner its rate and each parent up the
// chain its tier rate from the same program.
func (s *State) tierShares(o *order, l *line, partnerID string, prog *Program, rate money.Rate) []*share {
	shares := []*share{{tier: 1, partner: partnerID, program: prog.ID, rate: rate.String(), full: rate.Commission(l.amount, l.quantity, o.cur)}}
	seen := map[string]bool{partnerID: true}
	parent := s.cat.partners[partnerID].Parent
	for tier := 2; tier <= maxTiers && tier-2 < len(prog.TierRates) && parent != "" && !seen[parent]; tier++ {
		p, ok := s.cat.partners[parent]
		if !ok {
			break
		}
		r := prog.TierRates[tier-2]
		shares = append(shares, &share{tier: tier, partner: p.ID, program: prog.ID, rate: r.String(), full: r.Commission(l.amount, l.quantity, o.cur)})
		seen[parent] = true
		parent = p.Parent
	}
	return shares
}
