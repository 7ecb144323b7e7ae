// Package synth generates large, deterministic, realistic fact histories
// for benchmarks: a catalog of partners, programs and links, then clicks,
// identifications, orders, payments and refunds interleaved in time order.
//
// synth imports events only; benchmarks and the bench command use it.
package synth

import (
	"fmt"
	"math/rand"
	"time"

	"github.com/refledger/refledger/events"
)

// Config sizes a history.
type Config struct {
	Seed            int64
	Partners        int
	Programs        int
	Links           int
	Visitors        int
	Clicks          int
	Identifications int
	Orders          int
	Payments        int
	Refunds         int
}

// Standard is the history of the speed goals: 8M clicks, 500k
// identifications, 1M orders, payments and refunds: about 10M events.
func Standard() Config {
	return Config{Seed: 1, Partners: 2000, Programs: 20, Links: 10_000, Visitors: 2_000_000,
		Clicks: 8_000_000, Identifications: 500_000, Orders: 1_000_000, Payments: 300_000, Refunds: 150_000}
}

// Scaled divides every count of c by div (at least 1 each).
func (c Config) Scaled(div int) Config {
	s := func(n int) int { return max(1, n/div) }
	return Config{Seed: c.Seed, Partners: s(c.Partners), Programs: max(2, s(c.Programs)), Links: s(c.Links), Visitors: s(c.Visitors),
		Clicks: s(c.Clicks), Identifications: s(c.Identifications), Orders: s(c.Orders), Payments: s(c.Payments), Refunds: s(c.Refunds)}
}

// Total is the number of facts Generate makes.
func (c Config) Total() int {
	catalog := 1 + c.Partners + c.Programs + c.Partners*2 + c.Links
	return catalog + c.Clicks + c.Identifications + c.Orders + c.Payments + c.Refunds
}

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Generate calls fn for every fact, in time order.
func Generate(c Config, fn func(events.Fact)) {
	g := &gen{c: c, r: rand.New(rand.NewSource(c.Seed)), fn: fn, at: epoch}
	g.catalog()
	g.activity()
}

type gen struct {
	c      Config
	r      *rand.Rand
	fn     func(events.Fact)
	at     time.Time
	n      int
	recent [1024]string // recent clicking visitors
	orders [1024]order  // recent orders
}

type order struct {
	id     string
	amount string
	paid   bool
	refund bool
}

func (g *gen) emit(source, typ string, data events.Data) {
	g.n++
	g.fn(events.Fact{ID: fmt.Sprintf("s-%d", g.n), Source: source, Type: typ, Time: g.at, Data: data})
}

func (g *gen) catalog() {
	cookie, hold := 30, 30
	g.emit("admin", events.TypePolicyChanged, &events.PolicyChanged{Policy: events.Policy{
		Tracking: events.TrackingHistoryAndCookies, Credit: events.CreditLast, CookieDays: &cookie, ReferralDays: new(int),
		ProgramBinding: events.BindingPartnerPrograms, SelfReferral: events.SelfReferralReject, HoldingDays: &hold, PayoutBasis: events.PayoutBasisUpfront,
	}})
	for p := 0; p < g.c.Partners; p++ {
		d := &events.PartnerRegistered{PartnerID: fmt.Sprintf("p%d", p), Name: fmt.Sprintf("Partner %d", p), ContactID: fmt.Sprintf("pc%d", p)}
		if p >= 10 && p%10 == 0 {
			d.ParentPartnerID = fmt.Sprintf("p%d", p/10)
		}
		g.emit("admin", events.TypePartnerRegistered, d)
	}
	for q := 0; q < g.c.Programs; q++ {
		prio := q
		rates := map[string]string{}
		for k := 0; k < 5; k++ {
			rates[fmt.Sprintf("prod%d", q*5+k)] = fmt.Sprintf("%d%%", 5+k*3)
		}
		g.emit("admin", events.TypeProgramDefined, &events.ProgramDefined{ProgramID: fmt.Sprintf("prog%d", q), Name: "Program", Priority: &prio,
			DefaultRate: "5%", ProductRates: rates, TierRates: []string{"3%", "1%"}})
	}
	for p := 0; p < g.c.Partners; p++ {
		for k := 0; k < 2; k++ {
			g.emit("admin", events.TypePartnerEnrolled, &events.PartnerEnrolled{PartnerID: fmt.Sprintf("p%d", p), ProgramID: fmt.Sprintf("prog%d", (p+k)%g.c.Programs)})
		}
	}
	for l := 0; l < g.c.Links; l++ {
		g.emit("admin", events.TypeLinkCreated, &events.LinkCreated{LinkCode: fmt.Sprintf("L%d", l), PartnerID: fmt.Sprintf("p%d", l%g.c.Partners),
			ProgramID: fmt.Sprintf("prog%d", l%g.c.Programs), LandingURL: "https://shop.example/p"})
	}
}

// activity interleaves the rest in proportion, about 3 seconds apart.
func (g *gen) activity() {
	left := [5]int{g.c.Clicks, g.c.Identifications, g.c.Orders, g.c.Payments, g.c.Refunds}
	total := 0
	for _, n := range left {
		total += n
	}
	for ; total > 0; total-- {
		g.at = g.at.Add(time.Duration(1+g.r.Intn(5)) * time.Second)
		k := g.r.Intn(total)
		kind := 0
		for ; k >= left[kind]; kind++ {
			k -= left[kind]
		}
		left[kind]--
		switch kind {
		case 0:
			g.click()
		case 1:
			g.emit("forms", events.TypeContactIdentified, &events.ContactIdentified{VisitorID: g.visitor(), ContactID: fmt.Sprintf("c%d", g.r.Intn(g.c.Visitors/2+1))})
		case 2:
			g.order()
		case 3:
			g.payment()
		case 4:
			g.refund()
		}
	}
}

func (g *gen) visitor() string { return fmt.Sprintf("v%d", g.r.Intn(g.c.Visitors)) }

func (g *gen) click() {
	v := g.visitor()
	g.recent[g.r.Intn(len(g.recent))] = v
	g.emit("tracker", events.TypeClickRecorded, &events.ClickRecorded{ClickID: fmt.Sprintf("k%d", g.n), LinkCode: fmt.Sprintf("L%d", g.r.Intn(g.c.Links)), VisitorID: v})
}

func (g *gen) order() {
	v := g.recent[g.r.Intn(len(g.recent))]
	if v == "" || g.r.Intn(10) < 3 {
		v = g.visitor()
	}
	id := fmt.Sprintf("o%d", g.n)
	amount := fmt.Sprintf("%d.%02d", 10+g.r.Intn(990), g.r.Intn(100))
	d := &events.OrderPlaced{OrderID: id, VisitorID: v, Currency: "USD", Lines: []events.OrderLine{
		{LineID: "l1", ProductID: fmt.Sprintf("prod%d", g.r.Intn(g.c.Programs*5+10)), Quantity: 1, Amount: events.NewMoney(amount)},
	}}
	if g.r.Intn(2) == 0 {
		d.ContactID = fmt.Sprintf("c%d", g.r.Intn(g.c.Visitors/2+1))
	}
	g.orders[g.r.Intn(len(g.orders))] = order{id: id, amount: amount}
	g.emit("checkout", events.TypeOrderPlaced, d)
}

func (g *gen) pick() *order {
	o := &g.orders[g.r.Intn(len(g.orders))]
	if o.id == "" {
		return nil
	}
	return o
}

func (g *gen) payment() {
	o := g.pick()
	if o == nil || o.paid {
		g.click()
		return
	}
	o.paid = true
	g.emit("billing", events.TypePaymentReceived, &events.PaymentReceived{OrderID: o.id, PaymentID: fmt.Sprintf("pay%d", g.n), Amount: events.NewMoney(o.amount)})
}

func (g *gen) refund() {
	o := g.pick()
	if o == nil || o.refund {
		g.click()
		return
	}
	o.refund = true
	g.emit("billing", events.TypeOrderRefunded, &events.OrderRefunded{OrderID: o.id, RefundID: fmt.Sprintf("r%d", g.n), Lines: []events.RefundLine{{LineID: "l1", Amount: events.NewMoney(o.amount)}}})
}
