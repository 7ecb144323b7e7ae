package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/ledger"
	"github.com/refledger/refledger/replay"

	"go.uber.org/zap"
)

// replayRequest is the body of POST /v1/replays.
type replayRequest struct {
	Policy  *events.Policy `json:"policy"`
	From    *time.Time     `json:"from"`
	Current bool           `json:"current"`
}

func (s *Server) postReplay(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, events.MaxEventBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "(body)", "the body is larger than %d bytes", events.MaxEventBytes)
		return
	}
	var req replayRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "(body)", "%s", err.Error())
		return
	}
	// The writer's snapshot and the ledger after it: not the whole ledger
	// log, which at millions of facts takes minutes to read.
	rr := replay.Request{Current: req.Current, From: req.From, LedgerSnapshot: s.cfg.snapshotPath(writerSnapshotFile)}
	switch {
	case req.Policy == nil && !req.Current:
		writeError(w, http.StatusBadRequest, "policy", "is required (or set current)")
		return
	case req.Policy != nil:
		p, err := ledger.PolicyFrom(*req.Policy)
		if err != nil {
			writeEventError(w, http.StatusBadRequest, err)
			return
		}
		rr.Policy = p
	}
	res, err := replay.WhatIf(r.Context(), s.facts, s.ledger, rr, nil)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "", "replay: %v", err)
		return
	}
	if res.SnapshotUnusable != nil && rr.LedgerSnapshot != "" && !errors.Is(res.SnapshotUnusable, fs.ErrNotExist) {
		s.cfg.Log.Info("what-if read the whole ledger log: the writer's snapshot was not used", zap.Error(res.SnapshotUnusable))
	}
	s.live.ledgerMoved() // the what-if may have moved the ledger by catching up
	s.keepReplay(res)
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) keepReplay(res *replay.Result) {
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	if _, ok := s.replays[res.ReplayID]; !ok {
		if len(s.replayIDs) >= replaysKept {
			delete(s.replays, s.replayIDs[0])
			s.replayIDs = s.replayIDs[1:]
		}
		s.replayIDs = append(s.replayIDs, res.ReplayID)
	}
	s.replays[res.ReplayID] = res
}

func (s *Server) applyReplay(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.replayMu.Lock()
	res, ok := s.replays[id]
	s.replayMu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "id", "no what-if %q is held: POST /v1/replays first (the last %d are kept)", id, replaysKept)
		return
	}
	applied, err := replay.Apply(r.Context(), s.ledger, res, s.cfg.now())
	if errors.Is(err, replay.ErrLedgerMoved) {
		writeError(w, http.StatusConflict, "id", "%v: POST /v1/replays again and apply the new what-if", err)
		return
	}
	if errors.Is(err, replay.ErrTooLarge) {
		writeError(w, http.StatusUnprocessableEntity, "id", "%v", err)
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "", "apply: %v", err)
		return
	}
	s.live.ledgerMoved()
	writeJSON(w, http.StatusOK, map[string]any{"replay_id": id, "applied": applied})
}
