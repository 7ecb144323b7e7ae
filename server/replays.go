package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/ledger"
	"github.com/refledger/refledger/projections"
	"github.com/refledger/refledger/replay"

	"go.uber.org/zap"
)

// replayRequest is the body of POST /v1/replays.
type replayRequest struct {
	Policy  *events.Policy `json:"policy"`
	From    *time.Time     `json:"from"`
	Current bool           `json:"current"`
	// Async runs the what-if in the background: the answer is 202 with a
	// job to poll (GET /v1/replays/jobs/{id}), for what-ifs longer than a
	// proxy lets a request wait.
	Async bool `json:"async"`
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
	// The ledger is read from the writer's snapshot and the records after
	// it (not the whole ledger log, minutes at millions of facts), and, as
	// the live writer keeps it, the what-if replays what that writer has
	// decided rather than race it to decide the rest.
	rr := replay.Request{Current: req.Current, From: req.From, LedgerSnapshot: s.cfg.snapshotPath(WriterSnapshotFile), Live: true}
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
	if req.Async {
		job := s.startJob("what-if", func(ctx context.Context, progress replay.Progress) (string, *appliedReplay, error) {
			res, err := s.whatIf(ctx, rr, progress)
			if err != nil {
				return "", nil, err
			}
			return res.ReplayID, nil, nil
		})
		w.Header().Set("Location", "/v1/replays/jobs/"+job.ID)
		writeJSON(w, http.StatusAccepted, job.view())
		return
	}
	longAnswer(w, replayAnswerTimeout) // the body is read: the what-if may take minutes
	res, err := s.whatIf(r.Context(), rr, s.replayProgress("what-if"))
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "", "replay: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, answerOf(res))
}

// replayAnswer is a what-if as the API answers it: its policy is null
// for a what-if of the policy timeline in force ({current: true}), which
// has no candidate policy (replay.Result holds the zero policy then).
type replayAnswer struct {
	*replay.Result
	Policy *ledger.Policy `json:"policy"` // shadows Result.Policy
}

func answerOf(res *replay.Result) replayAnswer {
	return replayAnswer{Result: res, Policy: candidate(res.Policy)}
}

// candidate is p, or nil for the zero policy of a current what-if (a
// candidate policy is validated, so never zero).
func candidate(p ledger.Policy) *ledger.Policy {
	if p == (ledger.Policy{}) {
		return nil
	}
	return &p
}

// whatIf runs a what-if in its turn and keeps its result for its apply.
func (s *Server) whatIf(ctx context.Context, rr replay.Request, progress replay.Progress) (*replay.Result, error) {
	if err := s.replayTurn(ctx); err != nil {
		return nil, err
	}
	defer func() { <-s.replaying }()
	res, err := replay.WhatIf(ctx, s.facts, s.ledger, rr, progress)
	for busy := 0; errors.Is(err, replay.ErrLedgerBusy) && busy < 20 && sleep(ctx, 50*time.Millisecond); busy++ {
		res, err = replay.WhatIf(ctx, s.facts, s.ledger, rr, progress)
	}
	if err != nil {
		s.metrics.whatIfs.WithLabelValues("failed").Inc()
		return nil, err
	}
	s.metrics.whatIfs.WithLabelValues("done").Inc()
	if res.SnapshotUnusable != nil && rr.LedgerSnapshot != "" && !errors.Is(res.SnapshotUnusable, fs.ErrNotExist) {
		s.cfg.Log.Info("what-if read the whole ledger log: the writer's snapshot was not used", zap.Error(res.SnapshotUnusable))
	}
	s.keepReplay(res)
	return res, nil
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

// replayProgress logs how far a long replay has got: a what-if of millions
// of facts takes most of a minute, with the HTTP request waiting.
func (s *Server) replayProgress(what string) replay.Progress {
	logged := logProgress(s.cfg.Log, what+" in progress", s.cfg.progressEvery())
	return func(done, total store.Position) {
		logged(zap.Uint64("facts_done", done), zap.Uint64("facts", total))
	}
}

// logProgress returns a func that logs msg with the fields it is handed
// and the time elapsed, at most once every interval: a long job (a
// replay, the ledger writer's rebuild) says how far it has got.
func logProgress(log *zap.Logger, msg string, every time.Duration) func(fields ...zap.Field) {
	start := time.Now()
	last := start
	return func(fields ...zap.Field) {
		if now := time.Now(); now.Sub(last) >= every {
			last = now
			log.Info(msg, append(fields, zap.Duration("elapsed", now.Sub(start).Round(time.Second)))...)
		}
	}
}

// replayTurn waits for the one what-if or apply that may run at a time.
func (s *Server) replayTurn(ctx context.Context) error {
	select {
	case s.replaying <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("another what-if or apply is running: %w", ctx.Err())
	}
}

// heldWhatIf is one line of GET /v1/replays: a held what-if without its
// changes and totals.
type heldWhatIf struct {
	ReplayID     string         `json:"replay_id"`
	Policy       *ledger.Policy `json:"policy"` // nil: a what-if of the timeline in force
	From         *time.Time     `json:"from"`
	FactsThrough uint64         `json:"facts_through"`
	LedgerAt     uint64         `json:"ledger_at"`
	Summary      replay.Summary `json:"summary"`
	Noop         bool           `json:"noop"`
}

// listReplays lists the held what-ifs, oldest first.
func (s *Server) listReplays(w http.ResponseWriter, r *http.Request) {
	s.replayMu.Lock()
	held := make([]heldWhatIf, 0, len(s.replayIDs))
	for _, id := range s.replayIDs {
		res := s.replays[id]
		held = append(held, heldWhatIf{ReplayID: res.ReplayID, Policy: candidate(res.Policy), From: res.From,
			FactsThrough: res.FactsThrough, LedgerAt: res.LedgerAt, Summary: res.Summary, Noop: res.Noop})
	}
	s.replayMu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"replays": held})
}

// getReplay answers a held what-if again.
func (s *Server) getReplay(w http.ResponseWriter, r *http.Request) {
	res, ok := s.heldReplay(w, r.PathValue("id"))
	if ok {
		writeJSON(w, http.StatusOK, answerOf(res))
	}
}

func (s *Server) heldReplay(w http.ResponseWriter, id string) (*replay.Result, bool) {
	s.replayMu.Lock()
	res, ok := s.replays[id]
	s.replayMu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "id", "no what-if %q is held: POST /v1/replays first (the last %d are kept)", id, replaysKept)
	}
	return res, ok
}

// appliedReplay is the answer of POST /v1/replays/{id}/apply.
type appliedReplay struct {
	ReplayID string         `json:"replay_id"`
	Applied  replay.Applied `json:"applied"`
	// Recomputed is set when the ledger had moved since the what-if (the
	// live ledger decided more facts) and the what-if was run again and
	// applied: what was applied is this, not the what-if named. GET
	// /v1/replays/{id} gives its whole diff.
	Recomputed *recomputedReplay `json:"recomputed,omitempty"`
}

type recomputedReplay struct {
	ReplayID     string         `json:"replay_id"`
	FactsThrough uint64         `json:"facts_through"`
	LedgerAt     uint64         `json:"ledger_at"`
	Summary      replay.Summary `json:"summary"`
}

// applyReplay applies a held what-if with the live writer paused, so that
// the live ledger cannot move it. If the ledger had already moved since the
// what-if (more facts decided), the what-if is run again and that is
// applied, unless ?recompute=false asks for a 409 instead; a change of the
// policy timeline in force since the what-if is always a 409. ?async=true
// answers 202 with a job (GET /v1/replays/jobs/{id}) instead of waiting:
// a request that a proxy gives up on would end the apply with it.
func (s *Server) applyReplay(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	res, ok := s.heldReplay(w, id)
	if !ok {
		return
	}
	retries := 1
	switch q := r.URL.Query().Get("recompute"); q {
	case "", "true":
	case "false":
		retries = 0
	default:
		writeError(w, http.StatusBadRequest, "recompute", "is %q: use true or false", q)
		return
	}
	switch q := r.URL.Query().Get("async"); q {
	case "", "false":
	case "true":
		job := s.startJob("apply", func(ctx context.Context, progress replay.Progress) (string, *appliedReplay, error) {
			answer, err := s.apply(ctx, id, res, retries, progress)
			if err != nil {
				return "", nil, err
			}
			return id, &answer, nil
		})
		w.Header().Set("Location", "/v1/replays/jobs/"+job.ID)
		writeJSON(w, http.StatusAccepted, job.view())
		return
	default:
		writeError(w, http.StatusBadRequest, "async", "is %q: use true or false", q)
		return
	}
	longAnswer(w, replayAnswerTimeout) // it reads no body; the apply may take minutes
	answer, err := s.apply(r.Context(), id, res, retries, s.replayProgress("what-if run again before its apply"))
	switch {
	case errors.Is(err, replay.ErrLedgerMoved) && retries == 0:
		writeError(w, http.StatusConflict, "id", "%v: POST /v1/replays again, or apply without recompute=false", err)
	case errors.Is(err, replay.ErrLedgerMoved), errors.Is(err, replay.ErrTimelineMoved):
		writeError(w, http.StatusConflict, "id", "%v: POST /v1/replays again and apply the new what-if", err)
	case errors.Is(err, replay.ErrLedgerBusy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "", "%v", err)
	case errors.Is(err, replay.ErrTooLarge):
		writeError(w, http.StatusUnprocessableEntity, "id", "%v", err)
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "", "apply: %v", err)
	default:
		writeJSON(w, http.StatusOK, answer)
	}
}

// apply applies res (the held what-if id) in its turn, with the live
// writer paused, running the what-if again (retries times at most) if the
// ledger moved since.
func (s *Server) apply(ctx context.Context, id string, res *replay.Result, retries int, progress replay.Progress) (appliedReplay, error) {
	if err := s.replayTurn(ctx); err != nil {
		return appliedReplay{}, err
	}
	defer func() { <-s.replaying }()
	var applied replay.Applied
	var done *replay.Result
	err := s.live.whileWriterPaused(ctx, func() (func(context.Context, *projections.Writer) error, error) {
		var err error
		done, applied, err = replay.ApplyLatest(ctx, res, s.cfg.now(), retries, progress)
		if rec, engine, ok := applied.Restated(); ok && err == nil {
			// The live writer goes on with the replay's fold instead of
			// folding the history again.
			return func(ctx context.Context, w *projections.Writer) error { return w.AdoptReplay(ctx, rec, engine) }, nil
		}
		return nil, err
	})
	s.metrics.countApply(applyOutcome(err, applied, done != res))
	if err != nil {
		return appliedReplay{}, err
	}
	answer := appliedReplay{ReplayID: id, Applied: applied.Reported()}
	if done != res {
		s.keepReplay(done)
		answer.Recomputed = &recomputedReplay{ReplayID: done.ReplayID, FactsThrough: done.FactsThrough, LedgerAt: done.LedgerAt, Summary: done.Summary}
		s.cfg.Log.Info("replay recomputed before its apply: the ledger had moved since the what-if",
			zap.String("replay", id), zap.String("applied", done.ReplayID), zap.Int("orders_changed", done.Summary.OrdersChanged))
	}
	return answer, nil
}

// applyOutcome names an apply's outcome for the metrics.
func applyOutcome(err error, applied replay.Applied, recomputed bool) string {
	switch {
	case errors.Is(err, replay.ErrLedgerMoved), errors.Is(err, replay.ErrTimelineMoved):
		return "conflict"
	case err != nil:
		return "failed"
	case applied.AlreadyApplied:
		return "already_applied"
	case recomputed:
		return "recomputed"
	}
	return "applied"
}
