// Package jsonl reads JSON-lines files for an import: line by line, with
// a bound on a line's length that skips an overlong line rather than
// stopping, and in the order of the events' times (TimeOrdered), so that
// a file's line order never decides what its events mean.
package jsonl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/refledger/refledger/events"
)

// Source calls fn for every line to import, in the order to import
// them: n numbers the line in its file, from 1; a line longer than an
// event may be comes without its bytes, and tooLong set.
type Source func(fn func(n int, line []byte, tooLong bool) error) error

// TimeOrdered reads a file once to see whether its events come in the
// order of their times. They nearly always do, and then the import reads
// the file as it is. When they do not, it reads the file again, and hands
// the lines on in events.AppendOrder (by time and, within an instant, by
// type; definitions never after the activity below them; a key's later
// lines with its first), reading each back by its offset. A file that is
// not a regular file (a pipe) is imported as it comes.
func TimeOrdered(f *os.File, maxLen int) (Source, error) {
	asItIs := func(fn func(n int, line []byte, tooLong bool) error) error {
		return Read(f, maxLen, func(n int, _ int64, line []byte, tooLong bool) error {
			return fn(n, line, tooLong)
		})
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return asItIs, nil
	}
	inOrder, err := inTimeOrder(f, info.Size(), maxLen)
	if err != nil {
		return nil, err
	}
	if inOrder {
		return asItIs, nil
	}
	var places []linePlace
	var items []events.Placed
	err = Read(f, maxLen, func(n int, off int64, line []byte, tooLong bool) error {
		if len(bytes.TrimSpace(line)) == 0 && !tooLong {
			return nil
		}
		places = append(places, linePlace{n: n, off: off, size: len(line), tooLong: tooLong})
		e, ok := events.Peek(line)
		items = append(items, events.Placed{Key: e.Key(), Type: e.Type, Time: e.Time.UnixNano(), Unread: !ok || tooLong})
		return nil
	})
	if err != nil {
		return nil, err
	}
	order := events.AppendOrder(items) // nil: the lines are in order after all
	items = nil                        // the keys are no longer needed
	buf := make([]byte, maxLen)
	return func(fn func(n int, line []byte, tooLong bool) error) error {
		for i := range places {
			p := places[i]
			if order != nil {
				p = places[order[i]]
			}
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
// in events.AppendOrder's order already (by time, and among events of one
// instant by events.AppendRank; lines whose time does not read do not
// count), and leaves the file at its start. Every core reads a part of the
// file: the check costs an import of a million lines about half a second.
func inTimeOrder(f *os.File, size int64, maxLen int) (bool, error) {
	type part struct {
		first, last  events.Moment
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
			p.err = Read(r, maxLen, func(_ int, _ int64, line []byte, tooLong bool) error {
				if tooLong {
					return nil
				}
				if e, ok := events.Peek(line); ok {
					m := events.MomentOf(e.Type, e.Time.UnixNano())
					switch {
					case !p.any:
						p.first, p.any = m, true
					case m.Compare(p.last) < 0:
						p.inOrder = false
					}
					p.last = m
				}
				return nil
			})
		})
	}
	wg.Wait()
	inOrder, any := true, false
	var last events.Moment
	for _, p := range parts {
		if p.err != nil {
			return false, p.err
		}
		if !p.any {
			continue
		}
		inOrder = inOrder && p.inOrder && (!any || p.first.Compare(last) >= 0)
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

// linePlace is where a line lies in its file.
type linePlace struct {
	off     int64
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

// Read calls fn for every line of r (numbered from 1, without its line
// ending), with the offset it starts at. A line longer than maxLen is
// skipped to its end and reported with tooLong set and no bytes, so one
// bad line never stops an import.
func Read(r io.Reader, maxLen int, fn func(n int, off int64, line []byte, tooLong bool) error) error {
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
		if tooLong || len(line) > maxLen {
			// (When ReadSlice filled the buffer, what it gave is
			// overwritten by now.)
			line, tooLong = nil, true
		}
		if ferr := fn(n, start, line, tooLong); ferr != nil {
			return ferr
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
}
