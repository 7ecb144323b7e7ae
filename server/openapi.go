package server

import (
	"encoding/json"
	"fmt"
)

// openAPI describes the HTTP API (OpenAPI 3.1), served at /v1/openapi.json.
var openAPI = mustOpenAPI()

type op struct {
	Summary string `json:"summary"`
	Role    string `json:"x-role,omitempty"`
}

func mustOpenAPI() []byte {
	paths := map[string]map[string]op{
		"/r/{link_code}":              {"get": {Summary: "Record a click, set the rl_vid cookie, and redirect 302 to the link's landing URL (404 for an unknown code)."}},
		"/healthz":                    {"get": {Summary: "Liveness."}},
		"/readyz":                     {"get": {Summary: "Ready once the read models and the ledger have caught up with the log."}},
		"/metrics":                    {"get": {Summary: "Prometheus metrics: ingest outcomes, clicks, engine lag, append latency."}},
		"/v1/events":                  {"post": {Summary: "Ingest one CloudEvent, a JSON array of them, or JSON lines; a batch is appended in the order of its events' time. Answers accepted, duplicate or rejected per event (by its index in the batch), with the field at fault.", Role: "publisher"}},
		"/v1/rejections":              {"get": {Summary: "Rejected events that were published on NATS without a reply subject.", Role: "finance"}},
		"/v1/partners":                {"get": {Summary: "Partners with their programs (held_programs: enrollments waiting for their program to be defined).", Role: "finance"}, "post": {Summary: "Register a partner (body: partner.registered data).", Role: "operator"}},
		"/v1/partners/{id}":           {"get": {Summary: "One partner.", Role: "finance, or the partner's own token (partner:ID), for its own data"}},
		"/v1/programs":                {"get": {Summary: "Programs.", Role: "finance"}, "post": {Summary: "Define a program (body: program.defined data).", Role: "operator"}},
		"/v1/links":                   {"get": {Summary: "Links, each with its status: active, or held with what it waits for (missing: its partner or program); a held link redirects and records clicks, which count once it takes effect (a partner's own token lists its own).", Role: "finance, or the partner's own token (partner:ID), for its own data"}, "post": {Summary: "Create a link (body: link.created data).", Role: "operator"}},
		"/v1/enrollments":             {"post": {Summary: "Enroll a partner in a program (body: partner.enrolled data).", Role: "operator"}},
		"/v1/referrals":               {"post": {Summary: "Assign a manual referral (body: referral.assigned data).", Role: "operator"}},
		"/v1/policies":                {"post": {Summary: "Change the attribution policy (body: policy document, effective_at optional).", Role: "operator"}},
		"/v1/payouts":                 {"post": {Summary: "Record a payout (body: payout.recorded data); refused by the ledger if over what is payable. The answer waits up to 2 s for the ledger: ledger.outcome is paid, refused (with the reason) or pending.", Role: "finance"}},
		"/v1/partners/{id}/clicks":    {"get": {Summary: "Click history with the exact link and program (?from=&to= for a period, ?format=csv).", Role: "finance, or the partner's own token (partner:ID), for its own data"}},
		"/v1/contacts/{id}/referrals": {"get": {Summary: "A contact's referral history.", Role: "finance"}},
		"/v1/commissions":             {"get": {Summary: "Commission entries (?partner=&order=&kind=accrued|reversed|adjusted&from=&to=&as_of=&format=csv).", Role: "finance, or the partner's own token (partner:ID), for its own data"}},
		"/v1/balances":                {"get": {Summary: "Balances per partner and currency (?as_of=&format=csv).", Role: "finance, or the partner's own token (partner:ID), for its own data"}},
		"/v1/partners/{id}/statement": {"get": {Summary: "Statement: opening, accrued, reversed, adjusted, paid, closing (?from=&to=).", Role: "finance, or the partner's own token (partner:ID), for its own data"}},
		"/v1/orders/{id}/explain":     {"get": {Summary: "Why an order's commission went where it went.", Role: "finance, or the partner's own token (partner:ID): its own candidates and commission on an order it had a part in"}},
		"/v1/refusals":                {"get": {Summary: "Facts the ledger kept but could not honour, with reasons, and definitions it holds (held: true) until the partner or program they name arrives.", Role: "finance"}},
		"/v1/replays":                 {"post": {Summary: "What-if: replay history under a candidate policy ({policy, from?} or {current:true}) over the facts the live ledger has decided; returns the diff. With \"async\":true, answers 202 with a job to poll instead.", Role: "operator"}, "get": {Summary: "The held what-ifs, oldest first, with their summaries.", Role: "operator"}},
		"/v1/replays/jobs/{id}":       {"get": {Summary: "A background what-if's or apply's job: running, done (with the what-if's replay_id, or the apply's answer) or failed, and how many facts it has replayed.", Role: "operator"}},
		"/v1/replays/{id}":            {"get": {Summary: fmt.Sprintf("A held what-if's diff again (the last %d are held, recomputed ones included).", replaysKept), Role: "operator"}},
		"/v1/replays/{id}/apply":      {"post": {Summary: "Apply a what-if as adjusting entries, all or nothing, with the live ledger paused. If the ledger decided more facts since the what-if, it is run again and that is applied (the answer's recomputed names it); ?recompute=false answers 409 instead. 409 if the policy timeline in force changed since. ?async=true answers 202 with a job to poll instead.", Role: "operator"}},
	}
	doc := map[string]any{
		"openapi":    "3.1.0",
		"info":       map[string]string{"title": "refledger", "version": "1"},
		"components": map[string]any{"securitySchemes": map[string]any{"bearer": map[string]string{"type": "http", "scheme": "bearer"}}},
		"security":   []map[string][]string{{"bearer": {}}},
		"paths":      paths,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}
