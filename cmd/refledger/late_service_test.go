package main

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refledger/refledger/projections"
	"github.com/shopspring/decimal"
)

// lateHistory makes a seeded history (a catalog with a parent tier, then
// clicks, identifications, manual referrals, orders and partial refunds,
// each at its own minute) as CloudEvents, in time order, and the order in
// which a service receives it: referrals late by up to two days, orders
// and refunds as they happen.
func lateHistory(seed int64) (inTime, arrival []string) {
	r := rand.New(rand.NewSource(seed))
	type timed struct {
		at  int
		raw string
	}
	var all, late []timed
	add := func(minute int, typ, data string) {
		at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(minute) * time.Minute).Format(time.RFC3339)
		e := timed{minute, fmt.Sprintf(`{"specversion":"1.0","id":"h-%d","source":"e2e","type":%q,"time":%q,"data":%s}`, len(all), typ, at, data)}
		all = append(all, e)
		switch typ {
		case "click.recorded", "contact.identified", "referral.assigned":
			e.at += []int{0, 0, 60, 600, 2880}[r.Intn(5)]
		}
		late = append(late, e)
	}
	add(0, "policy.changed", `{"tracking":"referral-history-and-cookies","credit":"last","cookie_days":3,"holding_days":0}`)
	add(0, "partner.registered", `{"partner_id":"c","name":"C"}`)
	add(0, "partner.registered", `{"partner_id":"a","name":"A","parent_partner_id":"c"}`)
	add(0, "partner.registered", `{"partner_id":"b","name":"B"}`)
	add(0, "program.defined", `{"program_id":"g","name":"G","priority":1,"default_rate":"10%","tier_rates":["5%"]}`)
	for _, p := range []string{"a", "b", "c"} {
		add(0, "partner.enrolled", `{"partner_id":"`+p+`","program_id":"g"}`)
		add(0, "link.created", `{"link_code":"L`+p+`","partner_id":"`+p+`","landing_url":"https://shop.example/"}`)
	}
	var orders []string
	for i, minute := 0, 10; i < 250; i++ {
		minute += 1 + r.Intn(600)
		v, c := fmt.Sprintf("v%d", r.Intn(8)), fmt.Sprintf("c%d", r.Intn(5))
		switch k := r.Intn(100); {
		case k < 45:
			add(minute, "click.recorded", fmt.Sprintf(`{"click_id":"k%d","link_code":"L%c","visitor_id":%q}`, i, "abc"[r.Intn(3)], v))
		case k < 55:
			add(minute, "contact.identified", fmt.Sprintf(`{"visitor_id":%q,"contact_id":%q}`, v, c))
		case k < 62:
			add(minute, "referral.assigned", fmt.Sprintf(`{"contact_id":%q,"partner_id":"%c"}`, c, "abc"[r.Intn(3)]))
		case k < 92:
			buyer := []string{fmt.Sprintf(`"visitor_id":%q`, v), fmt.Sprintf(`"contact_id":%q`, c), fmt.Sprintf(`"visitor_id":%q,"contact_id":%q`, v, c)}[r.Intn(3)]
			orders = append(orders, fmt.Sprintf("o%d", i))
			add(minute, "order.placed", fmt.Sprintf(`{"order_id":"o%d",%s,"currency":"USD","lines":[{"line_id":"l","product_id":"x","quantity":1,"amount":"%d.00"}]}`, i, buyer, 10+r.Intn(90)))
		case len(orders) > 0:
			j := r.Intn(len(orders))
			add(minute, "order.refunded", fmt.Sprintf(`{"order_id":%q,"refund_id":"r%d","lines":[{"line_id":"l","amount":"5.00"}]}`, orders[j], i))
			orders = slices.Delete(orders, j, j+1)
		}
	}
	slices.SortStableFunc(late, func(a, b timed) int { return a.at - b.at })
	for i := range all {
		inTime, arrival = append(inTime, all[i].raw), append(arrival, late[i].raw)
	}
	return inTime, arrival
}

// commissionNets sums a data folder's commission entries per order line,
// partner and tier.
func commissionNets(t *testing.T, data string) map[string]decimal.Decimal {
	t.Helper()
	var report struct{ Commissions []projections.CommissionRow }
	cliJSON(t, &report, "report", "commissions", "--data", data)
	nets := map[string]decimal.Decimal{}
	for _, c := range report.Commissions {
		amount := decimal.RequireFromString(c.Amount)
		if c.Kind == "reversed" {
			amount = amount.Neg()
		}
		k := fmt.Sprintf("%s/%s/%s/t%d", c.OrderID, c.LineID, c.PartnerID, c.Tier)
		nets[k] = nets[k].Add(amount)
	}
	for k, v := range nets {
		if v.IsZero() {
			delete(nets, k)
		}
	}
	return nets
}

// A service that receives referrals late, one event at a time, ends with
// every order line's commission where an import of the same facts in time
// order puts it (CONTRACT §1: attribution uses time, never arrival).
func TestServiceLateArrivalsEndAsTimeOrder(t *testing.T) {
	inTime, arrival := lateHistory(7)
	live := t.TempDir()
	s := startService(t, live)
	for _, e := range arrival {
		if code, body := s.do("POST", "/v1/events", "", e); code != 200 && code != 201 && code != 202 {
			t.Fatalf("posting %s: %d %s", e, code, body)
		}
	}
	timed := t.TempDir()
	file := filepath.Join(t.TempDir(), "in-time.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(inTime, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "import", file, "--data", timed)
	want := commissionNets(t, timed)
	var got map[string]decimal.Decimal
	eventually(t, "the service's ledger to end where time order does", func() bool {
		got = commissionNets(t, live)
		if len(got) != len(want) {
			return false
		}
		for k, v := range want {
			if !got[k].Equal(v) {
				return false
			}
		}
		return true
	})
	var adjusted struct {
		Commissions []json.RawMessage `json:"commissions"`
	}
	cliJSON(t, &adjusted, "report", "commissions", "--kind", "adjusted", "--data", live)
	if len(adjusted.Commissions) == 0 {
		t.Error("no late referral moved an order: the history does not test what it says")
	}
	if len(want) < 50 {
		t.Errorf("only %d shares earned: the history is too thin", len(want))
	}
}
