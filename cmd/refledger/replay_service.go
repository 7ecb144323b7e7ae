package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/refledger/refledger/ledger"
	"github.com/refledger/refledger/replay"
)

// errServiceRefused: the service wants an operator token that
// REFLEDGER_TOKEN does not hold.
var errServiceRefused = errors.New("the running service refused the request")

// serviceReplay applies a replay through a running service's API: the
// service pauses its ledger writer for the apply, which a command beside it
// cannot do, so an apply lands however busy the service is. Both steps run
// as background jobs, polled, with their progress on a terminal.
type serviceReplay struct {
	env    *environment
	url    string
	token  string
	client *http.Client
}

// applyThroughService runs the what-if and applies it through the service
// at info, and returns the what-if it applied (run again by the service if
// its ledger moved in between) and the apply's answer.
func applyThroughService(ctx context.Context, env *environment, info ownerInfo, req replay.Request) (*replay.Result, *replay.Applied, error) {
	s := serviceReplay{env: env, url: info.HTTPURL, token: os.Getenv("REFLEDGER_TOKEN"), client: &http.Client{Timeout: time.Minute}}
	body, _ := json.Marshal(struct {
		Policy  *ledger.Policy `json:"policy,omitempty"`
		From    *time.Time     `json:"from,omitempty"`
		Current bool           `json:"current,omitempty"`
		Async   bool           `json:"async"`
	}{Policy: policyOrNil(req), From: req.From, Current: req.Current, Async: true})
	var job serviceJob
	if err := s.call(ctx, http.MethodPost, "/v1/replays", body, &job); err != nil {
		return nil, nil, err
	}
	if err := s.wait(ctx, "replay", &job); err != nil {
		return nil, nil, err
	}
	var applyJob serviceJob
	if err := s.call(ctx, http.MethodPost, "/v1/replays/"+job.ReplayID+"/apply?async=true", nil, &applyJob); err != nil {
		return nil, nil, err
	}
	if err := s.wait(ctx, "apply", &applyJob); err != nil {
		return nil, nil, err
	}
	answer := applyJob.Applied
	if answer == nil {
		return nil, nil, fmt.Errorf("the service's apply job %s ended without an answer", applyJob.JobID)
	}
	appliedID := answer.ReplayID
	if answer.Recomputed != nil {
		appliedID = answer.Recomputed.ReplayID
		env.log.Info("the service ran the what-if again before applying it: its ledger had moved")
	}
	var res replay.Result
	if err := s.call(ctx, http.MethodGet, "/v1/replays/"+appliedID, nil, &res); err != nil {
		return nil, nil, err
	}
	return &res, &answer.Applied, nil
}

func policyOrNil(req replay.Request) *ledger.Policy {
	if req.Current {
		return nil
	}
	return &req.Policy
}

// serviceJob is what the service says of a background job.
type serviceJob struct {
	JobID     string `json:"job_id"`
	Status    string `json:"status"`
	FactsDone int64  `json:"facts_done"`
	Facts     int64  `json:"facts"`
	ReplayID  string `json:"replay_id"`
	Applied   *struct {
		ReplayID   string         `json:"replay_id"`
		Applied    replay.Applied `json:"applied"`
		Recomputed *struct {
			ReplayID string `json:"replay_id"`
		} `json:"recomputed"`
	} `json:"applied"`
	Error string `json:"error"`
}

// wait polls a job until it ends, showing its progress on a terminal.
func (s serviceReplay) wait(ctx context.Context, what string, job *serviceJob) error {
	p := newProgress(s.env, what, 0)
	defer p.done()
	for job.Status == "running" {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (the service goes on with job %s)", ctx.Err(), job.JobID)
		case <-time.After(200 * time.Millisecond):
		}
		if err := s.call(ctx, http.MethodGet, "/v1/replays/jobs/"+job.JobID, nil, job); err != nil {
			return err
		}
		p.total = job.Facts
		p.add(job.FactsDone - p.n)
	}
	if job.Status != "done" {
		return fmt.Errorf("the service's %s job %s %s: %s", what, job.JobID, job.Status, job.Error)
	}
	return nil
}

// call sends one request to the service's API and decodes its answer into
// out; an error answer becomes an error naming it.
func (s serviceReplay) call(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("the running service's API (%s): %w", s.url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("the running service's API: %s %s: %w", method, path, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %s %s (%d): set REFLEDGER_TOKEN to an operator token: %s", errServiceRefused, method, path, resp.StatusCode, bytes.TrimSpace(b))
	case resp.StatusCode >= 300:
		return fmt.Errorf("the running service answered %s %s with %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("the running service's answer to %s %s: %w", method, path, err)
	}
	return nil
}
