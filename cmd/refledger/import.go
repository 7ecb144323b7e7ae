package main

import (
	"bufio"
	"bytes"
	"cmp"
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
	"sync"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/ingest"
)

// importReport is the JSON answer of import (CONTRACT §3).
type importReport struct {
	Accepted   int         `json:"accepted"`
	Duplicate  int         `json:"duplicate"`
	Rejected   int         `json:"rejected"`
	Rejections []rejection `json:"rejections"`
}

type rejection struct {
	Line   int    `json:"line"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// maxRejectionsListed bounds the rejections kept for the report; the count
// stays exact past it.
const maxRejectionsListed = 10_000

func runImport(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	var sf storeFlags
	var out format
	sf.register(fs)
	out.register(fs)
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return usagef("import needs exactly one FILE.jsonl, got %d", len(files))
	}
	f, err := os.Open(files[0])
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()

	st, facts, ledgerLog, err := sf.openLogs(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	in, err := ingest.Open(ctx, facts)
	if err != nil {
		return err
	}
	lines, err := timeOrdered(f)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	rep, err := importLines(ctx, env, in, lines)
	if err != nil {
		return err
	}
	if _, err := catchUpLedger(ctx, env, &sf, facts, ledgerLog); err != nil {
		return err
	}
	return writeImportReport(env.stdout, out, rep)
}

// importLines decodes JSON lines, and submits them in batches of
// ingest.MaxBatch lines. The stages overlap: while one batch is being
// appended, the lines after it are read and decoded, by as many decoders
// as there are cores; batches are submitted in order, one at a time (the
// idempotency of a key decides by log order), and rejections are reported
// in line order.
func importLines(ctx context.Context, env *environment, in *ingest.Ingester, lines lineSource) (*importReport, error) {
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
				c.decode()
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

func (c *importChunk) decode() {
	defer close(c.decoded)
	for _, n := range c.tooLong {
		c.rejected = append(c.rejected, lineError{n, &events.FieldError{Field: "(event)", Rule: fmt.Sprintf("line is longer than the %d bytes an event may take", events.MaxEventBytes)}})
	}
	start := 0
	for i, end := range c.ends {
		fact, err := events.Decode(c.raw[start:end])
		start = end
		if err != nil {
			c.rejected = append(c.rejected, lineError{c.lines[i], err})
			continue
		}
		c.facts = append(c.facts, fact)
		c.factLines = append(c.factLines, c.lines[i])
	}
}

// submit appends the chunk's facts once decoded, and reports its lines:
// counts, and rejections in line order.
func (c *importChunk) submit(ctx context.Context, in *ingest.Ingester, rep *importReport) error {
	select {
	case <-c.decoded:
	case <-ctx.Done():
		return ctx.Err()
	}
	if len(c.facts) > 0 {
		outcomes, err := in.Submit(ctx, c.facts)
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

// lineSource calls fn for every line to import, in the order to import
// them: n numbers the line in its file, from 1; a line longer than an
// event may be comes without its bytes, and tooLong set.
type lineSource func(fn func(n int, line []byte, tooLong bool) error) error

// timeOrdered reads a file once to see whether its events come in the
// order of their times. They nearly always do, and then the import reads
// the file as it is. When they do not, it imports them in time order,
// stably (lines of one time keep their file order): attribution goes by
// each event's time, never by when it arrived, and the ledger decides an
// order with the referrals before it in the log, so a click listed after
// an order it came before must still reach the log first.
//
// A line whose key (source and id) came earlier in the file goes where
// the first goes, so that a duplicate or a conflict is still judged
// against the line above it; a line whose key or time does not read stays
// where it is (it is rejected anyway). A file that is not a regular file
// (a pipe) is imported as it comes.
func timeOrdered(f *os.File) (lineSource, error) {
	asItIs := func(fn func(n int, line []byte, tooLong bool) error) error {
		return readLines(f, events.MaxEventBytes, func(n int, _ int64, line []byte, tooLong bool) error {
			return fn(n, line, tooLong)
		})
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return asItIs, nil
	}
	inOrder, err := inTimeOrder(f, info.Size())
	if err != nil {
		return nil, err
	}
	if inOrder {
		return asItIs, nil
	}
	var places []linePlace
	var last int64                // the time of the line before, in Unix nanoseconds
	firstAt := map[string]int64{} // the time of each key's first line
	err = readLines(f, events.MaxEventBytes, func(n int, off int64, line []byte, tooLong bool) error {
		if len(bytes.TrimSpace(line)) == 0 && !tooLong {
			return nil
		}
		p := linePlace{n: n, off: off, size: len(line), at: last, tooLong: tooLong}
		if source, id, at, ok := events.Peek(line); ok && !tooLong {
			key := source + "\x00" + id
			if first, seen := firstAt[key]; seen {
				p.at = first
			} else {
				p.at, firstAt[key] = at.UnixNano(), at.UnixNano()
			}
			last = at.UnixNano()
		}
		places = append(places, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	buf := make([]byte, events.MaxEventBytes)
	slices.SortStableFunc(places, func(a, b linePlace) int { return cmp.Compare(a.at, b.at) })
	return func(fn func(n int, line []byte, tooLong bool) error) error {
		for _, p := range places {
			line, err := p.read(f, buf)
			if err != nil {
				return err
			}
			if err := fn(p.n, line, p.tooLong); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// inTimeOrder reports whether the events of a file of the given size come
// in the order of their times (lines whose time does not read do not
// count), and leaves the file at its start. Every core reads a part of the
// file: the check costs an import of a million lines about half a second.
func inTimeOrder(f *os.File, size int64) (bool, error) {
	type part struct {
		first, last  int64 // times, in Unix nanoseconds
		any, inOrder bool
		err          error
	}
	parts := make([]part, runtime.GOMAXPROCS(0))
	bounds := make([]int64, len(parts)+1)
	bounds[len(parts)] = size
	for i := 1; i < len(parts); i++ {
		// A part starts after the first line end at or past its share.
		at, err := lineEndAfter(f, size*int64(i)/int64(len(parts)))
		if err != nil {
			return false, err
		}
		bounds[i] = max(at, bounds[i-1])
	}
	var wg sync.WaitGroup
	for i := range parts {
		wg.Go(func() {
			p := &parts[i]
			p.inOrder = true
			r := io.NewSectionReader(f, bounds[i], bounds[i+1]-bounds[i])
			p.err = readLines(r, events.MaxEventBytes, func(_ int, _ int64, line []byte, tooLong bool) error {
				if tooLong {
					return nil
				}
				if _, _, at, ok := events.Peek(line); ok {
					t := at.UnixNano()
					switch {
					case !p.any:
						p.first, p.any = t, true
					case t < p.last:
						p.inOrder = false
					}
					p.last = t
				}
				return nil
			})
		})
	}
	wg.Wait()
	inOrder, last, any := true, int64(0), false
	for _, p := range parts {
		if p.err != nil {
			return false, p.err
		}
		if !p.any {
			continue
		}
		inOrder = inOrder && p.inOrder && (!any || p.first >= last)
		last, any = p.last, true
	}
	_, err := f.Seek(0, io.SeekStart)
	return inOrder, err
}

// lineEndAfter is the offset just past the first line end at or after off
// (the file's size when none is).
func lineEndAfter(f *os.File, off int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for {
		n, err := f.ReadAt(buf, off)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return off + int64(i) + 1, nil
		}
		off += int64(n)
		if errors.Is(err, io.EOF) {
			return off, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// linePlace is where a line lies in its file, and the time it is
// imported at.
type linePlace struct {
	off     int64
	at      int64 // Unix nanoseconds
	n, size int
	tooLong bool
}

// read reads the line into buf (nothing for a line too long).
func (p linePlace) read(f *os.File, buf []byte) ([]byte, error) {
	if p.tooLong {
		return nil, nil
	}
	line := buf[:p.size]
	if _, err := f.ReadAt(line, p.off); err != nil {
		return nil, fmt.Errorf("read line %d: %w", p.n, err)
	}
	return line, nil
}

// readLines calls fn for every line of r (numbered from 1, without its line
// ending), with the offset it starts at. A line longer than maxLen is
// skipped to its end and reported with tooLong set, so one bad line never
// stops an import.
func readLines(r io.Reader, maxLen int, fn func(n int, off int64, line []byte, tooLong bool) error) error {
	br := bufio.NewReaderSize(r, maxLen+2)
	var off int64
	for n := 1; ; n++ {
		start := off
		line, err := br.ReadSlice('\n')
		off += int64(len(line))
		tooLong := false
		for errors.Is(err, bufio.ErrBufferFull) {
			tooLong = true
			var more []byte
			more, err = br.ReadSlice('\n')
			off += int64(len(more))
		}
		if len(line) == 0 && errors.Is(err, io.EOF) && !tooLong {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read line %d: %w", n, err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if ferr := fn(n, start, line, tooLong); ferr != nil {
			return ferr
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
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
