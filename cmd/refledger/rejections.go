package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/server"
)

// runReportRejections lists the events published on NATS without a reply
// subject that were not appended, with why: the rejections log, which
// survives restarts (GET /v1/rejections lists its latest).
func runReportRejections(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("report rejections", flag.ContinueOnError)
	var sf storeFlags
	var out format
	sf.register(fs)
	out.register(fs)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	st, err := sf.open(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	log, err := st.Log(ctx, store.RejectionsLog)
	if err != nil {
		return err
	}
	rejections := []server.Rejection{}
	err = log.Read(ctx, 1, func(s store.Stored) error {
		for _, e := range s.Commit.Events {
			var r server.Rejection
			if err := json.Unmarshal(e.Data, &r); err != nil {
				return fmt.Errorf("rejections log at %d: %w", s.Position, err)
			}
			rejections = append(rejections, r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	t := table{header: []string{"time", "source", "id", "field", "reason"}}
	for _, r := range rejections {
		t.rows = append(t.rows, []string{r.Time.Format(time.RFC3339), r.Source, r.ID, r.Error.Field, r.Error.Message})
	}
	return writeReport(env.stdout, out, map[string]any{"rejections": rejections}, t)
}
