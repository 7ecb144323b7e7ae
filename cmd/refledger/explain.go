package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/refledger/refledger/ledger"
)

// writeExplanation writes an order's explanation. In json the explanation's
// fields stand at the top level and again as the one element of "explain".
func writeExplanation(env *environment, f format, a ledger.Attribution) error {
	switch f {
	case formatJSON:
		raw, err := json.Marshal(a)
		if err != nil {
			return err
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return err
		}
		doc["explain"] = []any{json.RawMessage(raw)}
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	case formatCSV:
		t := table{header: []string{"record", "partner_id", "click_id", "link_code", "source", "outcome", "line_id", "product_id", "program_id", "rate", "amount", "reason"}}
		for _, c := range a.Candidates {
			t.rows = append(t.rows, []string{"candidate", c.PartnerID, c.ClickID, c.LinkCode, c.Source, c.Outcome, "", "", c.ProgramID, "", "", c.Reason.String()})
		}
		for _, l := range a.Lines {
			t.rows = append(t.rows, []string{"line", "", "", "", "", "", l.LineID, l.ProductID, l.ProgramID, l.Rate, l.Amount, l.Reason.String()})
		}
		return writeReport(env.stdout, f, nil, t)
	}
	return explainText(env.stdout, a)
}

func explainText(w io.Writer, a ledger.Attribution) error {
	p := a.Policy
	fmt.Fprintf(w, "order %s, %s, %s\n", a.OrderID, a.Time.Format(time.RFC3339Nano), a.Currency)
	effective := "effective " + p.EffectiveAt.Format(time.RFC3339Nano)
	if p.EffectiveAt.IsZero() {
		effective = "in force from the start" // the default policy, or a replay's over the whole timeline
	}
	fmt.Fprintf(w, "policy %s (%s): tracking %s, credit %s, cookie_days %d, referral_days %d, program_binding %s, self_referral %s, holding_days %d, payout_basis %s\n",
		p.Version, effective, p.Tracking, p.Credit, p.CookieDays, p.ReferralDays, p.ProgramBinding, p.SelfReferral, p.HoldingDays, p.PayoutBasis)
	if a.PartnerID != nil {
		at := "-"
		if a.ReferralTime != nil {
			at = a.ReferralTime.Format(time.RFC3339Nano)
		}
		fmt.Fprintf(w, "decision: credited to %s by %s (click %s, link %s, program %s, at %s): %s\n", *a.PartnerID, a.Source, orDash(a.ClickID), orDash(a.LinkCode), orDash(a.ProgramID), at, a.Reason)
	} else {
		fmt.Fprintf(w, "decision: none: %s\n", a.Reason)
	}
	for _, n := range a.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w, "candidates:")
	if len(a.Candidates) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, c := range a.Candidates {
		fmt.Fprintf(w, "  %-4s %s by %s, click %s, link %s, at %s: %s\n", strings.ToUpper(c.Outcome), c.PartnerID, c.Source, orDash(c.ClickID), orDash(c.LinkCode), c.Time.Format(time.RFC3339Nano), c.Reason)
	}
	fmt.Fprintln(w, "lines:")
	for _, l := range a.Lines {
		fmt.Fprintf(w, "  %s (%s): %s %s", l.LineID, l.ProductID, l.Amount, l.Currency)
		if l.ProgramID != "" {
			fmt.Fprintf(w, " at %s from program %s", l.Rate, l.ProgramID)
		}
		fmt.Fprintf(w, ": %s\n", l.Reason)
		for _, t := range l.Tiers[min(1, len(l.Tiers)):] {
			fmt.Fprintf(w, "    tier %d: %s earns %s at %s\n", t.Tier, t.PartnerID, t.Amount, t.Rate)
		}
	}
	return nil
}
