package server

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/refledger/refledger/internal/csvsafe"
	"github.com/refledger/refledger/ledger"
	"github.com/refledger/refledger/projections"

	"go.uber.org/zap"
)

// writeCSV answers rows as CSV, each cell made safe to open in a
// spreadsheet (csvsafe).
func writeCSV(w http.ResponseWriter, header []string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv")
	cw := csv.NewWriter(w)
	cw.Write(csvsafe.Record(header)) //nolint:errcheck // a failed write ends the response anyway
	for _, row := range rows {
		cw.Write(csvsafe.Record(row)) //nolint:errcheck
	}
	cw.Flush()
}

// asOf reads ?as_of= (default now); on a bad value it answers 400 and
// returns false.
func (s *Server) asOf(w http.ResponseWriter, r *http.Request) (time.Time, bool) {
	at, given, err := queryTime(r, "as_of")
	if err != nil {
		writeError(w, http.StatusBadRequest, "as_of", "%s", err.Error())
		return time.Time{}, false
	}
	if !given {
		at = s.cfg.now()
	} else if _, err := time.Parse(time.DateOnly, r.URL.Query().Get("as_of")); err == nil {
		at = at.AddDate(0, 0, 1).Add(-time.Nanosecond) // a bare date: as of its end
	}
	return at, true
}

func (s *Server) getPartners(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"partners": s.live.catalog.Partners()})
}

func (s *Server) getPartner(w http.ResponseWriter, r *http.Request) {
	if !ownOnly(w, r, r.PathValue("id")) {
		return
	}
	p, ok := s.live.catalog.Partner(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "partner_id", "no partner %q", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) getPrograms(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"programs": s.live.catalog.Programs()})
}

func (s *Server) getLinks(w http.ResponseWriter, r *http.Request) {
	links := s.live.catalog.Links()
	if own, scoped := ownPartner(r); scoped {
		// A partner lists its own links: the ones it has to share.
		links = slices.DeleteFunc(links, func(l projections.LinkView) bool { return l.PartnerID != own })
	}
	writeJSON(w, http.StatusOK, map[string]any{"links": links})
}

func (s *Server) getClicks(w http.ResponseWriter, r *http.Request) {
	partner := r.PathValue("id")
	if !ownOnly(w, r, partner) {
		return
	}
	var period [2]time.Time
	for i, name := range []string{"from", "to"} {
		var err error
		if period[i], _, err = queryTime(r, name); err != nil {
			writeError(w, http.StatusBadRequest, name, "%s", err.Error())
			return
		}
	}
	clicks := s.live.clicks.OfPartner(partner, period[0], period[1])
	if _, scoped := ownPartner(r); scoped {
		// A partner sees its clicks, not who made them: the buyer's contact
		// and IP address stay with finance.
		for i := range clicks {
			clicks[i].ContactID, clicks[i].IP = "", ""
		}
	}
	if wantsCSV(r) {
		rows := make([][]string, len(clicks))
		for i, c := range clicks {
			rows[i] = []string{c.ClickID, c.Time.Format(time.RFC3339Nano), c.LinkCode, c.ProgramID, c.VisitorID, c.ContactID}
		}
		writeCSV(w, []string{"click_id", "time", "link_code", "program_id", "visitor_id", "contact_id"}, rows)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"partner_id": partner, "clicks": clicks})
}

func (s *Server) getReferrals(w http.ResponseWriter, r *http.Request) {
	contact := r.PathValue("id")
	writeJSON(w, http.StatusOK, map[string]any{"contact_id": contact, "referrals": s.live.clicks.Referrals(contact)})
}

func (s *Server) getCommissions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := projections.CommissionFilter{PartnerID: q.Get("partner"), OrderID: q.Get("order"), Kind: q.Get("kind")}
	if err := projections.CheckKind(f.Kind); err != nil {
		writeError(w, http.StatusBadRequest, "kind", "%s", err.Error())
		return
	}
	if own, scoped := ownPartner(r); scoped {
		if f.PartnerID != "" && !ownOnly(w, r, f.PartnerID) {
			return
		}
		f.PartnerID = own // a partner's token reads its own commissions only
	}
	var err error
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if *p.dst, _, err = queryTime(r, p.name); err != nil {
			writeError(w, http.StatusBadRequest, p.name, "%s", err.Error())
			return
		}
	}
	asOf, ok := s.asOf(w, r)
	if !ok {
		return
	}
	rows := []projections.CommissionRow{}
	for _, c := range s.live.ledgerView().Commissions(f, asOf) {
		rows = append(rows, c.Row())
	}
	if wantsCSV(r) {
		cells := make([][]string, len(rows))
		for i, row := range rows {
			cells[i] = row.Cells()
		}
		writeCSV(w, projections.CommissionHeader, cells)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"commissions": rows})
}

func (s *Server) getBalances(w http.ResponseWriter, r *http.Request) {
	asOf, ok := s.asOf(w, r)
	if !ok {
		return
	}
	balances := s.live.ledgerView().Balances(asOf)
	if own, scoped := ownPartner(r); scoped {
		balances = slices.DeleteFunc(balances, func(b projections.Balance) bool { return b.PartnerID != own })
	}
	if wantsCSV(r) {
		cells := make([][]string, len(balances))
		for i, b := range balances {
			cells[i] = b.Cells()
		}
		writeCSV(w, projections.BalanceHeader, cells)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"as_of": asOf, "balances": balances})
}

func (s *Server) getStatement(w http.ResponseWriter, r *http.Request) {
	from, _, err := queryTime(r, "from")
	if err != nil {
		writeError(w, http.StatusBadRequest, "from", "%s", err.Error())
		return
	}
	to, ok, err := queryTime(r, "to")
	if err != nil {
		writeError(w, http.StatusBadRequest, "to", "%s", err.Error())
		return
	}
	if !ok {
		to = s.cfg.now()
	}
	if !from.Before(to) {
		writeError(w, http.StatusBadRequest, "from", "from must be before to")
		return
	}
	partner := r.PathValue("id")
	if !ownOnly(w, r, partner) {
		return
	}
	statements := s.live.ledgerView().Statements(partner, from, to)
	if _, known := s.live.catalog.Partner(partner); len(statements) == 0 && !known {
		writeError(w, http.StatusNotFound, "partner_id", "no partner %q is registered", partner)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"partner_id": partner, "statements": statements})
}

// partnersView is what a partner's own token sees of an order's
// explanation: its own candidates and commission, and the decision, but
// not who else was a candidate, who won if it did not, or the buyer. An
// order the partner had no part in is not there for it (false).
func partnersView(a ledger.Attribution, partner string) (ledger.Attribution, bool) {
	won := a.PartnerID != nil && *a.PartnerID == partner
	var candidates []ledger.Candidate
	for _, c := range a.Candidates {
		if c.PartnerID == partner {
			candidates = append(candidates, c)
		}
	}
	lines := make([]ledger.LineExplanation, 0, len(a.Lines))
	earned := false
	for _, l := range a.Lines {
		var tiers []ledger.TierShare
		for _, t := range l.Tiers {
			if t.PartnerID == partner {
				tiers = append(tiers, t)
			}
		}
		earned = earned || len(tiers) > 0
		if !won { // the line's rate, amount and reason are the winner's
			l = ledger.LineExplanation{LineID: l.LineID, ProductID: l.ProductID, Currency: l.Currency}
		}
		l.Tiers = tiers
		lines = append(lines, l)
	}
	if !won && !earned && len(candidates) == 0 {
		return ledger.Attribution{}, false
	}
	a.Candidates, a.Lines = candidates, lines
	if a.Candidates == nil {
		a.Candidates = []ledger.Candidate{}
	}
	if !won {
		a.PartnerID, a.ClickID, a.LinkCode, a.ProgramID, a.Source, a.ReferralTime, a.Notes = nil, "", "", "", "", nil, nil
	}
	return a, true
}

func (s *Server) getExplain(w http.ResponseWriter, r *http.Request) {
	a, ok, err := s.live.ledgerView().Attribution(r.Context(), r.PathValue("id"))
	if err != nil {
		s.cfg.Log.Error("explain", zap.Error(err))
		writeError(w, http.StatusServiceUnavailable, "", "the explanation could not be read: %v", err)
		return
	}
	if own, scoped := ownPartner(r); ok && scoped {
		a, ok = partnersView(a, own)
	}
	if !ok {
		writeError(w, http.StatusNotFound, "order_id", "order %q has not been decided (unknown, or not yet folded)", r.PathValue("id"))
		return
	}
	raw, _ := json.Marshal(a)
	var doc map[string]any
	json.Unmarshal(raw, &doc) //nolint:errcheck // our own JSON
	doc["explain"] = []json.RawMessage{raw}
	writeJSON(w, http.StatusOK, doc)
}

func (s *Server) getRefusals(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"refusals": s.live.ledgerView().Refusals()})
}
