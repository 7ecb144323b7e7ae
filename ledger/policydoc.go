package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/refledger/refledger/events"
)

// MaxPolicyDocumentBytes bounds a policy document.
const MaxPolicyDocumentBytes = 64 << 10

// DecodePolicyDocument reads a candidate policy as operators write it (the
// document of CONTRACT §2, with an optional effective_at). Unlike events,
// it refuses unknown fields: an operator's typo must not pass for a
// default. Errors name the field.
func DecodePolicyDocument(raw []byte) (Policy, *time.Time, error) {
	if len(raw) > MaxPolicyDocumentBytes {
		return Policy{}, nil, fmt.Errorf("the policy document is %d bytes, more than %d", len(raw), MaxPolicyDocumentBytes)
	}
	var doc struct {
		events.Policy
		EffectiveAt *time.Time `json:"effective_at"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return Policy{}, nil, fmt.Errorf("policy document: %w", err)
	}
	if dec.More() {
		return Policy{}, nil, fmt.Errorf("policy document: more than one JSON value")
	}
	p, err := PolicyFrom(doc.Policy)
	if err != nil {
		return Policy{}, nil, err
	}
	if doc.EffectiveAt != nil {
		at := doc.EffectiveAt.UTC()
		doc.EffectiveAt = &at
	}
	return p, doc.EffectiveAt, nil
}
