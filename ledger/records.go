package ledger

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Record type names in the ledger log: the system's own decisions. Like
// fact types they are stored history: never rename one.
const (
	TypeCommissionAccrued  = "commission.accrued"
	TypeCommissionReversed = "commission.reversed"
	TypeCommissionAdjusted = "commission.adjusted"
	TypePayoutPaid         = "payout.paid"
	TypeOrderAttributed    = "order.attributed"
	TypeFactRefused        = "fact.refused"
	TypeFactReleased       = "fact.released"
	TypeReplayApplied      = "replay.applied"
	TypePolicyAdopted      = "policy.adopted"
	TypeCheckpoint         = "ledger.checkpoint"
)

// Entry kinds (CONTRACT §3 names accrued, reversed and adjusted; paid is a
// payout's entry).
const (
	KindAccrued  = "accrued"
	KindReversed = "reversed"
	KindAdjusted = "adjusted"
	KindPaid     = "paid"
)

// Entry is one ledger entry. Amount is a magnitude for accrued, reversed
// and paid entries (the kind gives the direction) and signed for adjusted
// ones; Net is always signed, so balances are sums of Net.
type Entry struct {
	EntryID   string    `json:"entry_id"`
	Kind      string    `json:"kind"`
	OrderID   string    `json:"order_id,omitempty"`
	LineID    string    `json:"line_id,omitempty"`
	PartnerID string    `json:"partner_id"`
	Tier      int       `json:"tier,omitempty"`
	Amount    string    `json:"amount"`
	Net       string    `json:"net"`
	Currency  string    `json:"currency"`
	Source    string    `json:"source,omitempty"`
	ClickID   string    `json:"click_id,omitempty"`
	LinkCode  string    `json:"link_code,omitempty"`
	ProgramID string    `json:"program_id,omitempty"`
	Rate      string    `json:"rate,omitempty"`
	Time      time.Time `json:"time"`
	PayableAt time.Time `json:"payable_at"`
	Policy    string    `json:"policy_version,omitempty"`
	RefundID  string    `json:"refund_id,omitempty"`
	PaymentID string    `json:"payment_id,omitempty"`
	PayoutID  string    `json:"payout_id,omitempty"`
	ReplayID  string    `json:"replay_id,omitempty"`
	Fact      string    `json:"fact"` // source/id of the fact that caused it
}

// Type is the entry's record type.
func (e Entry) Type() string {
	switch e.Kind {
	case KindAccrued:
		return TypeCommissionAccrued
	case KindReversed:
		return TypeCommissionReversed
	case KindAdjusted:
		return TypeCommissionAdjusted
	}
	return TypePayoutPaid
}

// LineExplanation says what one order line earned and why.
type LineExplanation struct {
	LineID    string      `json:"line_id"`
	ProductID string      `json:"product_id"`
	ProgramID string      `json:"program_id"`
	Rate      string      `json:"rate"`
	Amount    string      `json:"amount"`
	Currency  string      `json:"currency"`
	Reason    Reason      `json:"reason"`
	Tiers     []TierShare `json:"tiers,omitempty"`
}

// TierShare is the commission of one partner on one line.
type TierShare struct {
	Tier      int    `json:"tier"`
	PartnerID string `json:"partner_id"`
	ProgramID string `json:"program_id"`
	Rate      string `json:"rate"`
	Amount    string `json:"amount"`
}

// Attribution is the explanation of an order: the policy used, the
// decision, every candidate, and every line.
type Attribution struct {
	OrderID   string        `json:"order_id"`
	Time      time.Time     `json:"time"`
	Currency  string        `json:"currency"`
	Policy    PolicyVersion `json:"policy"`
	Decision  string        `json:"decision"`
	PartnerID *string       `json:"partner_id"`
	Source    string        `json:"source"`
	ClickID   string        `json:"click_id"`
	LinkCode  string        `json:"link_code"`
	ProgramID string        `json:"program_id"`
	// ReferralTime is when the winning referral happened (the click, or
	// the manual referral); absent when nobody was credited.
	ReferralTime *time.Time        `json:"referral_time,omitempty"`
	Reason       Reason            `json:"reason"`
	Notes        []string          `json:"notes,omitempty"`
	Candidates   []Candidate       `json:"candidates"`
	Lines        []LineExplanation `json:"lines"`
	Fact         string            `json:"fact"`
	ReplayID     string            `json:"replay_id,omitempty"`
	// DecidedAgainBy is the fact (source/id) of a referral that reached
	// the ledger after the order was decided but happened before it, for
	// which the engine decided the order again (Engine.decideAgain).
	DecidedAgainBy string `json:"decided_again_by,omitempty"`
}

// Refusal is a valid fact the ledger could not honour: it is kept in the
// fact log and changes no balance. A held one is a definition waiting for
// one it names (held.go): Reason says which, and a Release of the fact
// lifts it when that arrives.
type Refusal struct {
	Fact   string    `json:"fact"`
	Type   string    `json:"type"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
	Held   bool      `json:"held,omitempty"`
}

// Release says that a held fact took effect (or was replaced by a later
// definition of the same link): By is the fact that released it.
type Release struct {
	Fact string `json:"fact"`
	Type string `json:"type"`
	By   string `json:"by"`
}

// Checkpoint opens every ledger commit: the decisions in the commit are
// made through the first FactsFolded facts of the fact-log commit at
// FactsThrough (all of its facts, and every commit before it).
//
// One fact's decisions that do not fit in a commit (an order of a thousand
// lines with tiers, a late referral that moves many orders) go in parts:
// commits whose checkpoint has Part 1, 2, ... and the same FactsThrough
// and FactsFolded, then a last commit with Part 0. A reader holds the
// records of parts until that last commit comes, and drops them if
// anything else comes first (the writer stopped between them, and decides
// the fact again from the checkpoint before).
type Checkpoint struct {
	FactsThrough  uint64 `json:"facts_through"`
	FactsFolded   int    `json:"facts_folded"`
	FactsInCommit int    `json:"facts_in_commit"`
	Part          int    `json:"part,omitempty"`
	// FactsCommit is the id of the (first) fact-log commit at
	// FactsThrough: a writer resuming checks that the fact log still holds
	// it, so that it never decides again a position it decided from facts
	// that were since lost. Older checkpoints lack it.
	FactsCommit string `json:"facts_commit,omitempty"`
}

// Continues reports whether checkpoint next carries on the parts that
// checkpoint cp opened: the next part, or the last commit, of one fact.
func (cp Checkpoint) Continues(next Checkpoint) bool {
	return cp.Part > 0 && next.FactsThrough == cp.FactsThrough && next.FactsFolded == cp.FactsFolded &&
		(next.Part == 0 || next.Part == cp.Part+1)
}

// Output is what folding one fact produced.
type Output struct {
	Entries      []Entry
	Attributions []Attribution
	Refusals     []Refusal
	// Released lists the held facts that took effect.
	Released []Release
	// Policies are policy versions the live timeline adopted, recorded so
	// that the timeline can be read back from the ledger alone.
	Policies []PolicyVersion
	// transient is set by Engine.ApplyTransient: the entries and
	// explanations are in memory the engine takes back.
	transient bool
}

// Empty reports whether the fold produced nothing to record.
func (o Output) Empty() bool {
	return len(o.Entries) == 0 && len(o.Attributions) == 0 && len(o.Refusals) == 0 && len(o.Policies) == 0 && len(o.Released) == 0
}

// Record is one ledger-log event ready to store.
type Record struct {
	ID   string
	Type string
	Data []byte
	// Entry is what Data encodes, when the record was made from an entry
	// (Output.Records) rather than read back: a reader in the same process
	// takes it instead of decoding Data again.
	Entry *Entry
	// Explains and ReplayID are, for an attribution record made from an
	// attribution (Output.Records), the order it explains and the replay
	// that made it, which a reader in the same process takes instead of
	// decoding Data: copied, since the attribution itself may be written
	// over at the engine's next fact (Engine.ApplyTransient).
	Explains, ReplayID string
}

// Records encodes the output as ledger-log records in a fixed order. The
// records' Data share one buffer, each capped at its own end. The records
// outlive the output's memory: made from an output of
// Engine.ApplyTransient, their entries are copies.
func (o Output) Records() []Record {
	if o.transient && len(o.Entries) > 0 {
		o.Entries = slices.Clone(o.Entries)
	}
	out := make([]Record, 0, len(o.Attributions)+len(o.Entries)+len(o.Refusals)+len(o.Released)+len(o.Policies))
	buf := make([]byte, 0, 2048*len(o.Attributions)+512*len(o.Entries))
	encoded := func(start int) []byte { return buf[start:len(buf):len(buf)] }
	for i := range o.Attributions {
		a := &o.Attributions[i]
		start := len(buf)
		buf = appendAttribution(buf, a)
		id := "attribution:" + a.OrderID + ":" + a.Fact
		if a.DecidedAgainBy != "" {
			id += ":" + a.DecidedAgainBy
		}
		out = append(out, Record{ID: id, Type: TypeOrderAttributed, Data: encoded(start), Explains: a.OrderID, ReplayID: a.ReplayID})
	}
	for i := range o.Entries {
		e := &o.Entries[i]
		start := len(buf)
		buf = appendEntry(buf, e)
		out = append(out, Record{ID: e.EntryID, Type: e.Type(), Data: encoded(start), Entry: e})
	}
	for _, r := range o.Refusals {
		out = append(out, Record{ID: "refusal:" + r.Fact, Type: TypeFactRefused, Data: mustJSON(r)})
	}
	for _, r := range o.Released {
		out = append(out, Record{ID: "released:" + r.Fact + ":" + r.By, Type: TypeFactReleased, Data: mustJSON(r)})
	}
	for _, p := range o.Policies {
		out = append(out, Record{ID: "policy:" + p.Version, Type: TypePolicyAdopted, Data: mustJSON(p)})
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("ledger: encode record: %v", err)) // our own types always encode
	}
	return b
}
