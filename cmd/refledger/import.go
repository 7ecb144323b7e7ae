package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/ingest"
	"github.com/refledger/refledger/internal/jsonl"
	"github.com/refledger/refledger/projections"

	"go.uber.org/zap"
)

// importReport is the JSON answer of import (CONTRACT §3).
type importReport struct {
	Accepted   int         `json:"accepted"`
	Duplicate  int         `json:"duplicate"`
	Rejected   int         `json:"rejected"`
	Rejections []rejection `json:"rejections"`
	// DecidedAgain counts the orders that referrals the file brought late
	// (happened before them) decided again, with adjusting entries.
	DecidedAgain int `json:"decided_again,omitempty"`
}

type rejection struct {
	Line   int    `json:"line"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// bigImport is the file size past which import says, on a terminal, that
// it reads the file once before appending (about a million lines).
const bigImport = 200 << 20

// maxRejectionsListed bounds the rejections kept for the report; the count
// stays exact past it.
const maxRejectionsListed = 10_000

func runImport(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	var sf storeFlags
	var out format
	var future futureFlag
	sf.register(fs)
	out.register(fs)
	future.register(fs)
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	maxFuture, err := future.value()
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return usagef("import needs exactly one FILE.jsonl, got %d", len(files))
	}
	f, err := os.Open(files[0])
	if err != nil {
		return err
	}
	defer f.Close()

	st, facts, ledgerLog, err := sf.openLogs(ctx, env)
	if err != nil {
		return err
	}
	defer st.Close()
	var in intake
	if sf.service != nil {
		// The service appends through its own intake: fenced appends
		// from here would lose every race against its group commits.
		si, err := newServiceIntake(*sf.service, facts)
		if err != nil {
			return err
		}
		defer si.close()
		in = si
	} else {
		// Appending to a damaged folder would bury the damage, and facts
		// the ledger decided once would be decided again.
		if err := projections.VerifyLogs(ctx, facts, ledgerLog); err != nil {
			return err
		}
		ing, err := ingest.Open(ctx, facts)
		if err != nil {
			return err
		}
		in = localIntake{ing}
	}
	if info, err := f.Stat(); err == nil && env.terminal && info.Size() > bigImport {
		// About half a second a million lines, before the first is appended.
		fmt.Fprintf(env.stderr, "import: reading %s once for the time order of its events\n", files[0])
	}
	lines, err := jsonl.TimeOrdered(f, events.MaxEventBytes)
	if err != nil {
		return err
	}
	rep, err := importLines(ctx, env, in, lines, maxFuture)
	if err != nil {
		return err
	}
	if sf.service != nil {
		// The service decides what was appended, as it does what its own
		// publishers send: deciding here too would only race its writer.
		env.log.Info("the running service decides the imported facts", zap.Int("accepted", rep.Accepted))
	} else if _, again, err := catchUpLedger(ctx, env, &sf, facts, ledgerLog); err != nil {
		return err
	} else {
		rep.DecidedAgain = len(again)
	}
	if err := writeImportReport(env.stdout, out, rep); err != nil {
		return err
	}
	if rep.Rejected > 0 {
		return errRejectedLines
	}
	return nil
}

// errRejectedLines ends an import that appended what was valid but
// rejected some lines (its report names them): exit status 3, so that a
// script can tell it from a clean import.
var errRejectedLines = errors.New("some lines were rejected")

// importLines decodes JSON lines, rejecting those stamped more than
// maxFuture after the wall clock's now, and submits them in batches of
// ingest.MaxBatch lines. The stages overlap: while one batch is being
// appended, the lines after it are read and decoded, by as many decoders
// as there are cores; batches are submitted in order, one at a time (the
// idempotency of a key decides by log order), and rejections are reported
// in line order.
func importLines(ctx context.Context, env *environment, in intake, lines jsonl.Source, maxFuture time.Duration) (*importReport, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rep := &importReport{Rejections: []rejection{}}
	progress := newProgress(env, "import", 0)
	defer progress.done()

	decode := make(chan *importChunk, importChunksAhead)
	ordered := make(chan *importChunk, importChunksAhead)
	for range runtime.GOMAXPROCS(0) {
		go func() {
			for c := range decode {
				c.decode(maxFuture)
			}
		}()
	}
	submitted := make(chan error, 1)
	go func() {
		var err error
		for c := range ordered {
			if err == nil {
				err = c.submit(ctx, in, rep)
				if err != nil {
					cancel() // stops the reading
				}
			}
		}
		submitted <- err
	}()

	c := newImportChunk()
	send := func() error {
		select {
		case ordered <- c: // first: the submitter waits on it in order
		case <-ctx.Done():
			return ctx.Err()
		}
		decode <- c // a decoder is always free soon: chunks ahead are bounded by ordered
		c = newImportChunk()
		return nil
	}
	err := lines(func(n int, line []byte, tooLong bool) error {
		progress.add(1)
		switch {
		case tooLong:
			c.tooLong = append(c.tooLong, n)
		case len(bytes.TrimSpace(line)) == 0:
			progress.add(-1)
			return nil
		default:
			c.add(n, line)
			if len(c.lines) == ingest.MaxBatch {
				return send()
			}
		}
		return ctx.Err()
	})
	if err == nil {
		err = send()
	}
	close(ordered)
	close(decode)
	if subErr := <-submitted; subErr != nil {
		return nil, subErr // the cause of a cancelled read too
	}
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// importChunksAhead bounds the batches read ahead of the one being
// appended (each holds up to ingest.MaxBatch lines).
const importChunksAhead = 4

// importChunk is a batch of import lines on its way from the reader,
// through a decoder, to the ingester.
type importChunk struct {
	raw     []byte // the lines, back to back
	ends    []int  // where each line ends in raw
	lines   []int  // each line's number
	tooLong []int  // numbers of lines too long to read
	// Set by decode, which closes decoded.
	facts     []events.Fact
	factLines []int
	factRaw   [][]byte // each fact's line, in raw
	rejected  []lineError
	decoded   chan struct{}
}

type lineError struct {
	line int
	err  error
}

func newImportChunk() *importChunk { return &importChunk{decoded: make(chan struct{})} }

// add copies a line in (the reader reuses its buffer).
func (c *importChunk) add(n int, line []byte) {
	c.raw = append(c.raw, line...)
	c.ends = append(c.ends, len(c.raw))
	c.lines = append(c.lines, n)
}

// decode decodes the chunk's lines, rejecting those stamped more than
// maxFuture after now, when they arrive.
func (c *importChunk) decode(maxFuture time.Duration) {
	defer close(c.decoded)
	for _, n := range c.tooLong {
		c.rejected = append(c.rejected, lineError{n, &events.FieldError{Field: "(event)", Rule: fmt.Sprintf("line is longer than the %d bytes an event may take", events.MaxEventBytes)}})
	}
	start, arrived := 0, time.Now()
	for i, end := range c.ends {
		line := c.raw[start:end]
		start = end
		fact, err := events.Decode(line)
		if err == nil {
			err = events.CheckArrival(fact, arrived, maxFuture)
		}
		if err != nil {
			c.rejected = append(c.rejected, lineError{c.lines[i], err})
			continue
		}
		c.facts = append(c.facts, fact)
		c.factLines = append(c.factLines, c.lines[i])
		c.factRaw = append(c.factRaw, line)
	}
}

// submit appends the chunk's facts once decoded, and reports its lines:
// counts, and rejections in line order.
func (c *importChunk) submit(ctx context.Context, in intake, rep *importReport) error {
	select {
	case <-c.decoded:
	case <-ctx.Done():
		return ctx.Err()
	}
	if len(c.facts) > 0 {
		outcomes, err := in.submit(ctx, c)
		if err != nil {
			return err
		}
		for i, o := range outcomes {
			switch o.Status {
			case ingest.Accepted:
				rep.Accepted++
			case ingest.Duplicate:
				rep.Duplicate++
			default:
				c.rejected = append(c.rejected, lineError{c.factLines[i], o.Err})
			}
		}
	}
	slices.SortFunc(c.rejected, func(a, b lineError) int { return a.line - b.line })
	for _, r := range c.rejected {
		rep.reject(r.line, r.err)
	}
	return nil
}

func (r *importReport) reject(line int, err error) {
	r.Rejected++
	if len(r.Rejections) >= maxRejectionsListed {
		return
	}
	rej := rejection{Line: line, Reason: err.Error()}
	if fe := events.FirstField(err); fe != nil {
		rej.Field = fe.Field
	}
	r.Rejections = append(r.Rejections, rej)
}

func writeImportReport(w io.Writer, f format, rep *importReport) error {
	switch f {
	case formatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case formatCSV:
		t := table{header: []string{"line", "status", "field", "reason"}}
		for _, r := range rep.Rejections {
			t.rows = append(t.rows, []string{strconv.Itoa(r.Line), "rejected", r.Field, r.Reason})
		}
		return writeReport(w, f, nil, t)
	}
	fmt.Fprintf(w, "accepted   %d\nduplicate  %d\nrejected   %d\n", rep.Accepted, rep.Duplicate, rep.Rejected)
	for _, r := range rep.Rejections {
		fmt.Fprintf(w, "  line %d: %s\n", r.Line, r.Reason)
	}
	if rep.DecidedAgain > 0 {
		orders := "orders"
		if rep.DecidedAgain == 1 {
			orders = "order"
		}
		fmt.Fprintf(w, "decided again: %d %s, for referrals that came before them (report commissions --kind adjusted)\n", rep.DecidedAgain, orders)
	}
	return nil
}

// progress prints a running count (and an ETA when the total is known) on a
// terminal, at most a few times a second, once the job has run for
// progressQuiet (a short job prints nothing). Off a terminal it prints
// nothing.
type progress struct {
	env   *environment
	what  string
	total int64
	n     int64
	start time.Time
	last  time.Time
	now   func() time.Time
}

const progressQuiet = time.Second

func newProgress(env *environment, what string, total int64) *progress {
	return &progress{env: env, what: what, total: total, start: time.Now(), now: time.Now}
}

func (p *progress) add(n int64) {
	p.n += n
	if !p.env.terminal {
		return
	}
	now := p.now()
	if now.Sub(p.start) < progressQuiet || now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	rate := float64(p.n) / now.Sub(p.start).Seconds()
	if p.total > 0 {
		eta := time.Duration(float64(p.total-p.n)/rate) * time.Second
		fmt.Fprintf(p.env.stderr, "\r%s: %d/%d (%.0f%%, %.0f/s, eta %s)   ", p.what, p.n, p.total, 100*float64(p.n)/float64(p.total), rate, eta.Round(time.Second))
		return
	}
	fmt.Fprintf(p.env.stderr, "\r%s: %d (%.0f/s)   ", p.what, p.n, rate)
}

func (p *progress) done() {
	if p.env.terminal && !p.last.IsZero() {
		fmt.Fprintf(p.env.stderr, "\r%s: %d in %s\n", p.what, p.n, p.now().Sub(p.start).Round(time.Millisecond))
	}
}
