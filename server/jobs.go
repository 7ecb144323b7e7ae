package server

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/replay"
)

// replayJob is a what-if run in the background (POST /v1/replays with
// "async": true), for what-ifs that take longer than a client or a proxy
// lets a request wait: at ten million facts, most of a minute.
type replayJob struct {
	ID      string
	started time.Time

	mu        sync.Mutex
	status    string // running, done, failed
	factsDone store.Position
	facts     store.Position
	replayID  string
	err       string
	ended     time.Time
}

// jobView is the JSON of a job.
type jobView struct {
	JobID     string     `json:"job_id"`
	Status    string     `json:"status"`
	Started   time.Time  `json:"started"`
	Ended     *time.Time `json:"ended,omitempty"`
	FactsDone uint64     `json:"facts_done"`
	Facts     uint64     `json:"facts"`
	// ReplayID names the what-if once done: GET /v1/replays/{replay_id}
	// gives its diff, and POST /v1/replays/{replay_id}/apply applies it.
	ReplayID string `json:"replay_id,omitempty"`
	Error    string `json:"error,omitempty"`
}

func (j *replayJob) view() jobView {
	j.mu.Lock()
	defer j.mu.Unlock()
	v := jobView{JobID: j.ID, Status: j.status, Started: j.started, FactsDone: j.factsDone, Facts: j.facts, ReplayID: j.replayID, Error: j.err}
	if !j.ended.IsZero() {
		ended := j.ended
		v.Ended = &ended
	}
	return v
}

// jobsKept bounds the jobs the service remembers.
const jobsKept = 32

// startWhatIf runs a what-if in the background and returns its job. The job
// ends with the service.
func (s *Server) startWhatIf(rr replay.Request) *replayJob {
	var id [8]byte
	rand.Read(id[:])
	job := &replayJob{ID: "job-" + hex.EncodeToString(id[:]), started: time.Now().UTC(), status: "running"}
	s.replayMu.Lock()
	if len(s.jobIDs) >= jobsKept {
		delete(s.jobs, s.jobIDs[0])
		s.jobIDs = s.jobIDs[1:]
	}
	s.jobs[job.ID] = job
	s.jobIDs = append(s.jobIDs, job.ID)
	s.replayMu.Unlock()
	logged := s.replayProgress("what-if " + job.ID)
	go func() {
		res, err := s.whatIf(s.jobsCtx, rr, func(done, total store.Position) {
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
				s.cfg.Log.Error("what-if job failed", zap.String("job", job.ID), zap.Error(err))
			}
			return
		}
		job.status, job.replayID = "done", res.ReplayID
		job.factsDone, job.facts = res.FactsThrough, res.FactsThrough
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
