package projections

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/ingest"
	"github.com/refledger/refledger/events/store"
)

// TestWriterStopsWhenTheLedgerIsAheadOfTheFacts: the fact log lost its
// tail (or was replaced) while the ledger kept its decisions, and a
// publisher sends the lost facts again. Before, a new writer decided them
// a second time (two entries with one id, a balance counted twice). It
// must refuse, whether the fact log is now shorter than what the ledger
// decided or as long again with other commits in it.
func TestWriterStopsWhenTheLedgerIsAheadOfTheFacts(t *testing.T) {
	ctx := context.Background()
	catalog := []events.Fact{
		fact(t, "p", events.TypePartnerRegistered, `{"partner_id":"maria","name":"Maria"}`),
		fact(t, "g", events.TypeProgramDefined, `{"program_id":"scm","name":"SCM","priority":1,"default_rate":"10%"}`),
		fact(t, "e", events.TypePartnerEnrolled, `{"partner_id":"maria","program_id":"scm"}`),
		fact(t, "r", events.TypeReferralAssigned, `{"contact_id":"katie","partner_id":"maria"}`),
	}
	order := func(i int) events.Fact {
		return fact(t, fmt.Sprintf("o%d", i), events.TypeOrderPlaced, fmt.Sprintf(
			`{"order_id":"o%d","contact_id":"katie","currency":"USD","lines":[{"line_id":"a","product_id":"x","quantity":1,"amount":"10.00"}]}`, i))
	}
	for _, tc := range []struct {
		name string
		// lost leaves the fact log as the damage left it, in a new log.
		resent func(t *testing.T, in *ingest.Ingester)
	}{
		{"the fact log is shorter", func(t *testing.T, in *ingest.Ingester) {
			submitEach(t, in, catalog)
			submitEach(t, in, []events.Fact{order(0)})
		}},
		{"the lost facts were sent again", func(t *testing.T, in *ingest.Ingester) {
			submitEach(t, in, catalog)
			submitEach(t, in, []events.Fact{order(0), order(2), order(1)}) // as a publisher resends: another order
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLogs(t)
			submitEach(t, l.in, catalog)
			submitEach(t, l.in, []events.Fact{order(0), order(1), order(2)})
			w, err := OpenWriter(ctx, l.facts, l.ledger, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.CatchUp(ctx); err != nil {
				t.Fatal(err)
			}
			// The same ledger, over a fact log that lost the orders.
			facts, _ := store.NewMemory().Log(ctx, store.FactsLog)
			in, err := ingest.Open(ctx, facts)
			if err != nil {
				t.Fatal(err)
			}
			tc.resent(t, in)
			w, err = OpenWriter(ctx, facts, l.ledger, nil)
			if !errors.Is(err, ErrLedgerAhead) {
				t.Fatalf("open writer = %v, want ErrLedgerAhead", err)
			}
			if w != nil {
				t.Fatal("a writer came back with the error")
			}
		})
	}
}

// submitEach appends each fact in a commit of its own.
func submitEach(t *testing.T, in *ingest.Ingester, facts []events.Fact) {
	t.Helper()
	for _, f := range facts {
		if _, err := in.Submit(context.Background(), []events.Fact{f}); err != nil {
			t.Fatal(err)
		}
	}
}
