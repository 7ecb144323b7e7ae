package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/refledger/refledger/events"
)

// apiError is the body of every error answer.
type apiError struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) //nolint:errcheck // the client went away; nothing to do
}

func writeError(w http.ResponseWriter, status int, field, format string, args ...any) {
	writeJSON(w, status, apiError{Error: errorBody{Field: field, Message: fmt.Sprintf(format, args...)}})
}

// writeEventError answers a rejected event, naming its field.
func writeEventError(w http.ResponseWriter, status int, err error) {
	if fe := events.FirstField(err); fe != nil {
		writeError(w, status, fe.Field, "%s", fe.Rule)
		return
	}
	writeError(w, status, "", "%s", err.Error())
}

// auth lets a request through if its bearer token's role allows needs.
func (s *Server) auth(needs Role, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		role, ok := s.role(w, r)
		if !ok {
			return
		}
		if !role.allows(needs) {
			writeError(w, http.StatusForbidden, "Authorization", "the %s role may not do this: it needs the %s role", role, needs)
			return
		}
		h(w, r)
	}
}

// authOwn is auth for the reads a partner may make of its own data: the
// finance role reads them all, a partner's own token (partner:ID) only
// its own, which the handler learns from ownPartner.
func (s *Server) authOwn(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		role, ok := s.role(w, r)
		if !ok {
			return
		}
		if id, isPartner := role.partner(); isPartner {
			h(w, r.WithContext(context.WithValue(r.Context(), ownPartnerKey{}, id)))
			return
		}
		if !role.allows(RoleFinance) {
			writeError(w, http.StatusForbidden, "Authorization", "the %s role may not do this: it needs the %s role, or the partner's own token", role, RoleFinance)
			return
		}
		h(w, r)
	}
}

type ownPartnerKey struct{}

// ownPartner is the partner whose own token made the request, if one did.
func ownPartner(r *http.Request) (string, bool) {
	id, ok := r.Context().Value(ownPartnerKey{}).(string)
	return id, ok
}

// ownOnly answers 403 when a partner's own token asks for another
// partner's data (it then returns false).
func ownOnly(w http.ResponseWriter, r *http.Request, partner string) bool {
	if own, scoped := ownPartner(r); scoped && partner != own {
		writeError(w, http.StatusForbidden, "Authorization", "the token of partner %s reads only that partner's data, not %q's", own, partner)
		return false
	}
	return true
}

// role is the role of the request's bearer token (operator when no tokens
// are configured); it answers 401 itself when there is none it knows. The
// scheme is case-insensitive (RFC 7235 section 2.1).
func (s *Server) role(w http.ResponseWriter, r *http.Request) (Role, bool) {
	if len(s.tokens) == 0 {
		return RoleOperator, true
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimLeft(token, " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="refledger"`)
		writeError(w, http.StatusUnauthorized, "Authorization", "a bearer token is required (Authorization: Bearer TOKEN)")
		return "", false
	}
	role, known := s.tokens.role(token)
	if !known {
		writeError(w, http.StatusUnauthorized, "Authorization", "the bearer token is not known")
		return "", false
	}
	return role, true
}

// tokenHashes are the configured bearer tokens, each kept as its SHA-256.
type tokenHashes []tokenHash

type tokenHash struct {
	sum  [sha256.Size]byte
	role Role
}

func hashTokens(tokens map[string]Role) tokenHashes {
	out := make(tokenHashes, 0, len(tokens))
	for token, role := range tokens {
		out = append(out, tokenHash{sum: sha256.Sum256([]byte(token)), role: role})
	}
	return out
}

// role is the role of token, found in constant time: its hash is
// compared with every configured token's, all of them, whatever matches,
// so the time an answer takes says nothing of how much of a token was
// right, nor of which token it was (a map lookup would say both).
func (ts tokenHashes) role(token string) (Role, bool) {
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range ts {
		if subtle.ConstantTimeCompare(sum[:], ts[i].sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return ts[found].role, true
}

// route is one pattern the service serves, and its handler.
type route struct {
	pattern string
	handler http.HandlerFunc
}

// routeTable lists every route: routes registers them, and
// TestOpenAPICoversEveryRoute holds openapi.yaml to the same list (a
// ServeMux cannot be asked for its patterns).
func (s *Server) routeTable() []route {
	return []route{
		{"GET /r/{code}", s.redirect},
		{"GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) }},
		{"GET /readyz", s.readyz},
		{"GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}).ServeHTTP},
		{"GET /v1/openapi.json", serveOpenAPI},
		{"GET /docs/api", serveAPIDocs},
		{"GET /docs/api/redoc.standalone.js", serveRedoc},

		{"POST /v1/events", s.auth(RolePublisher, s.postEvents)},
		{"GET /v1/rejections", s.auth(RoleFinance, s.getRejections)},

		{"GET /v1/partners", s.auth(RoleFinance, s.getPartners)},
		{"GET /v1/partners/{id}", s.authOwn(s.getPartner)},
		{"GET /v1/programs", s.auth(RoleFinance, s.getPrograms)},
		{"GET /v1/links", s.authOwn(s.getLinks)},
		{"GET /v1/partners/{id}/clicks", s.authOwn(s.getClicks)},
		{"GET /v1/contacts/{id}/referrals", s.auth(RoleFinance, s.getReferrals)},
		{"GET /v1/commissions", s.authOwn(s.ledgerRead(s.getCommissions))},
		{"GET /v1/balances", s.authOwn(s.ledgerRead(s.getBalances))},
		{"GET /v1/partners/{id}/statement", s.authOwn(s.ledgerRead(s.getStatement))},
		{"GET /v1/orders/{id}/explain", s.authOwn(s.ledgerRead(s.getExplain))},
		{"GET /v1/refusals", s.auth(RoleFinance, s.ledgerRead(s.getRefusals))},

		{"POST /v1/payouts", s.auth(RoleFinance, s.postFact(events.TypePayoutRecorded))},
		{"POST /v1/partners", s.auth(RoleOperator, s.postFact(events.TypePartnerRegistered))},
		{"POST /v1/programs", s.auth(RoleOperator, s.postFact(events.TypeProgramDefined))},
		{"POST /v1/links", s.auth(RoleOperator, s.postFact(events.TypeLinkCreated))},
		{"POST /v1/enrollments", s.auth(RoleOperator, s.postFact(events.TypePartnerEnrolled))},
		{"POST /v1/referrals", s.auth(RoleOperator, s.postFact(events.TypeReferralAssigned))},
		{"POST /v1/policies", s.auth(RoleOperator, s.postFact(events.TypePolicyChanged))},
		{"POST /v1/replays", s.auth(RoleOperator, s.postReplay)},
		{"GET /v1/replays", s.auth(RoleOperator, s.listReplays)},
		{"GET /v1/replays/{id}", s.auth(RoleOperator, s.getReplay)},
		{"GET /v1/replays/jobs/{id}", s.auth(RoleOperator, s.getJob)},
		{"POST /v1/replays/{id}/apply", s.auth(RoleOperator, s.applyReplay)},
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	table := s.routeTable()
	patterns := make([]string, len(table))
	for i, r := range table {
		mux.HandleFunc(r.pattern, r.handler)
		patterns[i] = r.pattern
	}
	return newTimedMux(s.metrics.http, mux, patterns)
}

// readyz answers 200 only when the service can do all of its work now:
// the read models and the ledger have caught up with the fact log as it
// stood at start, and no problem stands (a damaged log, failing appends,
// a ledger writer that cannot decide, is stuck, or is behind). Otherwise
// 503, with the problems, each with its reason and since when.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	body := map[string]any{"engine_lag": s.live.lag(), "facts_head": s.live.factsHead.Load(), "ledger_facts_through": s.live.factsFolded.Load()}
	problems := s.health.list()
	switch {
	case len(problems) > 0:
		body["status"], body["problems"] = "not ready", problems
		writeJSON(w, http.StatusServiceUnavailable, body)
	case !s.live.ready():
		body["status"] = "catching up"
		writeJSON(w, http.StatusServiceUnavailable, body)
	default:
		body["status"] = "ready"
		writeJSON(w, http.StatusOK, body)
	}
}

// Headers of every ledger read: the fact-log position the ledger has
// decided through, the fact log's head as the service follows it, and,
// when the first is behind, by how many commits.
const (
	headerLedgerThrough = "Refledger-Ledger-Facts-Through"
	headerFactsHead     = "Refledger-Facts-Head"
	headerLedgerBehind  = "Refledger-Ledger-Behind"
)

// ledgerRead serves a read of the ledger view only when the view can be
// trusted: never an empty or stale list that reads as "no money". While
// the ledger writer cannot decide (a damaged log, a ledger ahead of the
// facts) or has not opened the ledger yet, it answers 503 with the
// reason; otherwise the headers say what position the answer reflects.
func (s *Server) ledgerRead(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		through, head := s.live.factsFolded.Load(), s.live.factsHead.Load()
		h.Set(headerLedgerThrough, strconv.FormatUint(through, 10))
		h.Set(headerFactsHead, strconv.FormatUint(head, 10))
		// The writer cannot decide, or the service cannot follow the fact
		// log (then it cannot know how far behind the ledger is).
		for _, kind := range []string{problemWriter, problemFactLog} {
			if p, bad := s.health.has(kind); bad {
				h.Set("Retry-After", "5")
				writeError(w, http.StatusServiceUnavailable, "", "the ledger cannot be read as current: %s", p.Reason)
				return
			}
		}
		if !s.live.viewOpened.Load() {
			h.Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "", "the ledger is still being opened after a start; try again")
			return
		}
		if lag := s.live.lag(); lag > 0 {
			h.Set(headerLedgerBehind, strconv.FormatUint(lag, 10))
		}
		longWrite(w, ledgerAnswerTimeout)
		next(w, r)
	}
}

// queryTime reads an optional time parameter.
func queryTime(r *http.Request, name string) (time.Time, bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, false, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true, nil
		}
	}
	return time.Time{}, false, errors.New(name + ": " + v + " is not a time: want RFC 3339 or a date (2017-06-01)")
}

// wantsCSV reports whether the client asked for CSV (?format=csv or Accept).
func wantsCSV(r *http.Request) bool {
	return r.URL.Query().Get("format") == "csv" || strings.Contains(r.Header.Get("Accept"), "text/csv")
}
