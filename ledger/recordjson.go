package ledger

import "github.com/refledger/refledger/internal/jsonw"

// The ledger writer encodes an entry and an explanation per order by the
// million; these write them field by field, byte for byte as encoding/json
// does from the struct tags (recordjson_test.go holds them to it).

func appendEntry(b []byte, e *Entry) []byte {
	b = append(b, '{')
	b = jsonw.String(jsonw.Field(b, "entry_id"), e.EntryID)
	b = jsonw.String(jsonw.Field(b, "kind"), e.Kind)
	b = optString(b, "order_id", e.OrderID)
	b = optString(b, "line_id", e.LineID)
	b = jsonw.String(jsonw.Field(b, "partner_id"), e.PartnerID)
	if e.Tier != 0 {
		b = jsonw.Int(jsonw.Field(b, "tier"), e.Tier)
	}
	b = jsonw.String(jsonw.Field(b, "amount"), e.Amount)
	b = jsonw.String(jsonw.Field(b, "net"), e.Net)
	b = jsonw.String(jsonw.Field(b, "currency"), e.Currency)
	b = optString(b, "source", e.Source)
	b = optString(b, "click_id", e.ClickID)
	b = optString(b, "link_code", e.LinkCode)
	b = optString(b, "program_id", e.ProgramID)
	b = optString(b, "rate", e.Rate)
	b = jsonw.Time(jsonw.Field(b, "time"), e.Time)
	b = jsonw.Time(jsonw.Field(b, "payable_at"), e.PayableAt)
	b = optString(b, "policy_version", e.Policy)
	b = optString(b, "refund_id", e.RefundID)
	b = optString(b, "payment_id", e.PaymentID)
	b = optString(b, "payout_id", e.PayoutID)
	b = optString(b, "replay_id", e.ReplayID)
	b = jsonw.String(jsonw.Field(b, "fact"), e.Fact)
	return append(b, '}')
}

func appendAttribution(b []byte, a *Attribution) []byte {
	b = append(b, '{')
	b = jsonw.String(jsonw.Field(b, "order_id"), a.OrderID)
	b = jsonw.Time(jsonw.Field(b, "time"), a.Time)
	b = jsonw.String(jsonw.Field(b, "currency"), a.Currency)
	b = appendPolicyVersion(jsonw.Field(b, "policy"), &a.Policy)
	b = jsonw.String(jsonw.Field(b, "decision"), a.Decision)
	b = jsonw.Field(b, "partner_id")
	if a.PartnerID == nil {
		b = append(b, "null"...)
	} else {
		b = jsonw.String(b, *a.PartnerID)
	}
	b = jsonw.String(jsonw.Field(b, "source"), a.Source)
	b = jsonw.String(jsonw.Field(b, "click_id"), a.ClickID)
	b = jsonw.String(jsonw.Field(b, "link_code"), a.LinkCode)
	b = jsonw.String(jsonw.Field(b, "program_id"), a.ProgramID)
	if a.ReferralTime != nil {
		b = jsonw.Time(jsonw.Field(b, "referral_time"), *a.ReferralTime)
	}
	b = jsonw.String(jsonw.Field(b, "reason"), a.Reason.String())
	if len(a.Notes) > 0 {
		b = jsonw.Strings(jsonw.Field(b, "notes"), a.Notes)
	}
	b = jsonw.Field(b, "candidates")
	if a.Candidates == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range a.Candidates {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCandidate(b, &a.Candidates[i])
		}
		b = append(b, ']')
	}
	b = jsonw.Field(b, "lines")
	if a.Lines == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range a.Lines {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendLine(b, &a.Lines[i])
		}
		b = append(b, ']')
	}
	b = jsonw.String(jsonw.Field(b, "fact"), a.Fact)
	b = optString(b, "replay_id", a.ReplayID)
	b = optString(b, "decided_again_by", a.DecidedAgainBy)
	return append(b, '}')
}

func appendPolicyVersion(b []byte, p *PolicyVersion) []byte {
	b = append(b, '{')
	b = jsonw.String(jsonw.Field(b, "version"), p.Version)
	b = jsonw.Time(jsonw.Field(b, "effective_at"), p.EffectiveAt)
	b = jsonw.String(jsonw.Field(b, "tracking"), p.Tracking)
	b = jsonw.String(jsonw.Field(b, "credit"), p.Credit)
	b = jsonw.Int(jsonw.Field(b, "cookie_days"), p.CookieDays)
	b = jsonw.Int(jsonw.Field(b, "referral_days"), p.ReferralDays)
	b = jsonw.String(jsonw.Field(b, "program_binding"), p.ProgramBinding)
	b = jsonw.String(jsonw.Field(b, "self_referral"), p.SelfReferral)
	b = jsonw.Int(jsonw.Field(b, "holding_days"), p.HoldingDays)
	b = jsonw.String(jsonw.Field(b, "payout_basis"), p.PayoutBasis)
	return append(b, '}')
}

func appendCandidate(b []byte, c *Candidate) []byte {
	b = append(b, '{')
	b = jsonw.String(jsonw.Field(b, "partner_id"), c.PartnerID)
	b = jsonw.String(jsonw.Field(b, "click_id"), c.ClickID)
	b = jsonw.String(jsonw.Field(b, "link_code"), c.LinkCode)
	b = jsonw.String(jsonw.Field(b, "program_id"), c.ProgramID)
	b = jsonw.String(jsonw.Field(b, "source"), c.Source)
	b = jsonw.Time(jsonw.Field(b, "time"), c.Time)
	b = jsonw.String(jsonw.Field(b, "outcome"), c.Outcome)
	b = jsonw.String(jsonw.Field(b, "reason"), c.Reason.String())
	return append(b, '}')
}

func appendLine(b []byte, l *LineExplanation) []byte {
	b = append(b, '{')
	b = jsonw.String(jsonw.Field(b, "line_id"), l.LineID)
	b = jsonw.String(jsonw.Field(b, "product_id"), l.ProductID)
	b = jsonw.String(jsonw.Field(b, "program_id"), l.ProgramID)
	b = jsonw.String(jsonw.Field(b, "rate"), l.Rate)
	b = jsonw.String(jsonw.Field(b, "amount"), l.Amount)
	b = jsonw.String(jsonw.Field(b, "currency"), l.Currency)
	b = jsonw.String(jsonw.Field(b, "reason"), l.Reason.String())
	if len(l.Tiers) > 0 {
		b = append(jsonw.Field(b, "tiers"), '[')
		for i := range l.Tiers {
			t := &l.Tiers[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			b = jsonw.Int(jsonw.Field(b, "tier"), t.Tier)
			b = jsonw.String(jsonw.Field(b, "partner_id"), t.PartnerID)
			b = jsonw.String(jsonw.Field(b, "program_id"), t.ProgramID)
			b = jsonw.String(jsonw.Field(b, "rate"), t.Rate)
			b = jsonw.String(jsonw.Field(b, "amount"), t.Amount)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// optString appends a string field tagged omitempty: nothing when empty.
func optString(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	return jsonw.String(jsonw.Field(b, name), s)
}
