package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/replay"
)

// replayJob is a what-if or an apply run in the background (POST
// /v1/replays with "async": true, POST /v1/replays/{id}/apply?async=true),
// for work that takes longer than a client or a proxy lets a request wait:
// at ten million facts, most of a minute.
type replayJob struct {
	ID      string
	kind    string // what-if, apply
	started time.Time

	mu        sync.Mutex
	status    string // running, done, failed
	factsDone store.Position
	facts     store.Position
	replayID  string
	applied   *appliedReplay
	err       string
	ended     time.Time
}

// jobView is the JSON of a job.
type jobView struct {
	JobID     string     `json:"job_id"`
	Kind      string     `json:"kind"`
	Status    string     `json:"status"`
	Started   time.Time  `json:"started"`
	Ended     *time.Time `json:"ended,omitempty"`
	FactsDone uint64     `json:"facts_done"`
	Facts     uint64     `json:"facts"`
	// ReplayID names the what-if once done: GET /v1/replays/{replay_id}
	// gives its diff, and POST /v1/replays/{replay_id}/apply applies it.
	ReplayID string `json:"replay_id,omitempty"`
	// Applied is an apply's answer once done, as POST
	// /v1/replays/{id}/apply gives it.
	Applied *appliedReplay `json:"applied,omitempty"`
	Error   string         `json:"error,omitempty"`
}

func (j *replayJob) view() jobView {
	j.mu.Lock()
	defer j.mu.Unlock()
	v := jobView{JobID: j.ID, Kind: j.kind, Status: j.status, Started: j.started, FactsDone: j.factsDone, Facts: j.facts, ReplayID: j.replayID, Applied: j.applied, Error: j.err}
	if !j.ended.IsZero() {
		ended := j.ended
		v.Ended = &ended
	}
	return v
}

// jobsKept bounds the jobs the service remembers.
const jobsKept = 32

// startJob runs a what-if or an apply in the background and returns its
// job. run reports its progress, and gives the what-if's replay id, or the
// apply's answer. The job ends with the service.
func (s *Server) startJob(kind string, run func(context.Context, replay.Progress) (replayID string, applied *appliedReplay, err error)) *replayJob {
	var id [8]byte
	rand.Read(id[:])
	job := &replayJob{ID: "job-" + hex.EncodeToString(id[:]), kind: kind, started: time.Now().UTC(), status: "running"}
	s.replayMu.Lock()
	if len(s.jobIDs) >= jobsKept {
		delete(s.jobs, s.jobIDs[0])
		s.jobIDs = s.jobIDs[1:]
	}
	s.jobs[job.ID] = job
	s.jobIDs = append(s.jobIDs, job.ID)
	s.replayMu.Unlock()
	logged := s.replayProgress(kind + " " + job.ID)
	go func() {
		replayID, applied, err := run(s.jobsCtx, func(done, total store.Position) {
			job.mu.Lock()
			job.factsDone, job.facts = done, total
			job.mu.Unlock()
			logged(done, total)
		})
		job.mu.Lock()
		defer job.mu.Unlock()
		job.ended = time.Now().UTC()
		if err != nil {
			job.status, job.err = "failed", err.Error()
			if s.jobsCtx.Err() == nil {
				s.cfg.Log.Error(kind+" job failed", zap.String("job", job.ID), zap.Error(err))
			}
			return
		}
		job.status, job.replayID, job.applied = "done", replayID, applied
		if job.facts > 0 {
			job.factsDone = job.facts
		}
	}()
	return job
}

// getJob answers how far a background what-if has got.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.replayMu.Lock()
	job, ok := s.jobs[id]
	s.replayMu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "id", "no job %q is held (the last %d are kept)", id, jobsKept)
		return
	}
	writeJSON(w, http.StatusOK, job.view())
}
