package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

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
		if len(s.cfg.Tokens) == 0 {
			h(w, r)
			return
		}
		header := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(header, "Bearer ")
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="refledger"`)
			writeError(w, http.StatusUnauthorized, "Authorization", "a bearer token is required (Authorization: Bearer TOKEN)")
			return
		}
		role, known := s.cfg.Tokens[token]
		if !known {
			writeError(w, http.StatusUnauthorized, "Authorization", "the bearer token is not known")
			return
		}
		if !role.allows(needs) {
			writeError(w, http.StatusForbidden, "Authorization", "the %s role may not do this: it needs the %s role", role, needs)
			return
		}
		h(w, r)
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /r/{code}", s.redirect)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		s.metrics.write(w)
	})
	mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI) //nolint:errcheck
	})

	mux.HandleFunc("POST /v1/events", s.auth(RolePublisher, s.postEvents))
	mux.HandleFunc("GET /v1/rejections", s.auth(RoleFinance, s.getRejections))

	mux.HandleFunc("GET /v1/partners", s.auth(RoleFinance, s.getPartners))
	mux.HandleFunc("GET /v1/partners/{id}", s.auth(RoleFinance, s.getPartner))
	mux.HandleFunc("GET /v1/programs", s.auth(RoleFinance, s.getPrograms))
	mux.HandleFunc("GET /v1/links", s.auth(RoleFinance, s.getLinks))
	mux.HandleFunc("GET /v1/partners/{id}/clicks", s.auth(RoleFinance, s.getClicks))
	mux.HandleFunc("GET /v1/contacts/{id}/referrals", s.auth(RoleFinance, s.getReferrals))
	mux.HandleFunc("GET /v1/commissions", s.auth(RoleFinance, s.getCommissions))
	mux.HandleFunc("GET /v1/balances", s.auth(RoleFinance, s.getBalances))
	mux.HandleFunc("GET /v1/partners/{id}/statement", s.auth(RoleFinance, s.getStatement))
	mux.HandleFunc("GET /v1/orders/{id}/explain", s.auth(RoleFinance, s.getExplain))
	mux.HandleFunc("GET /v1/refusals", s.auth(RoleFinance, s.getRefusals))

	mux.HandleFunc("POST /v1/payouts", s.auth(RoleFinance, s.postFact(events.TypePayoutRecorded)))
	mux.HandleFunc("POST /v1/partners", s.auth(RoleOperator, s.postFact(events.TypePartnerRegistered)))
	mux.HandleFunc("POST /v1/programs", s.auth(RoleOperator, s.postFact(events.TypeProgramDefined)))
	mux.HandleFunc("POST /v1/links", s.auth(RoleOperator, s.postFact(events.TypeLinkCreated)))
	mux.HandleFunc("POST /v1/enrollments", s.auth(RoleOperator, s.postFact(events.TypePartnerEnrolled)))
	mux.HandleFunc("POST /v1/referrals", s.auth(RoleOperator, s.postFact(events.TypeReferralAssigned)))
	mux.HandleFunc("POST /v1/policies", s.auth(RoleOperator, s.postFact(events.TypePolicyChanged)))
	mux.HandleFunc("POST /v1/replays", s.auth(RoleOperator, s.postReplay))
	mux.HandleFunc("GET /v1/replays", s.auth(RoleOperator, s.listReplays))
	mux.HandleFunc("GET /v1/replays/{id}", s.auth(RoleOperator, s.getReplay))
	mux.HandleFunc("GET /v1/replays/jobs/{id}", s.auth(RoleOperator, s.getJob))
	mux.HandleFunc("POST /v1/replays/{id}/apply", s.auth(RoleOperator, s.applyReplay))
	return mux
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.live.ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "catching up", "engine_lag": s.live.lag()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "engine_lag": s.live.lag()})
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
