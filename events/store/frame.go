package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A frame is how backends that store bytes (JetStream) hold one durable
// write: one or more commits, group committed together. The format is
// versioned and fixed:
//
//	'R' 1  uvarint(commits)  { str(id) uvarint(events) { str(id) str(type) str(data) } }
//
// where str is a uvarint length followed by the bytes.
const (
	frameMagic   = 'R'
	frameVersion = 1
)

// AppendFrame encodes commits as one frame appended to buf.
func AppendFrame(buf []byte, commits ...Commit) []byte {
	buf = append(buf, frameMagic, frameVersion)
	buf = binary.AppendUvarint(buf, uint64(len(commits)))
	for _, c := range commits {
		buf = appendStr(buf, c.ID)
		buf = binary.AppendUvarint(buf, uint64(len(c.Events)))
		for _, e := range c.Events {
			buf = appendStr(buf, e.ID)
			buf = appendStr(buf, e.Type)
			buf = appendStr(buf, e.Data)
		}
	}
	return buf
}

func appendStr[S string | []byte](buf []byte, s S) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// DecodeFrame calls fn for each commit of a frame. Event data alias b: a
// caller that keeps them past fn must copy b first (backends hand out
// frames they own).
func DecodeFrame(b []byte, fn func(Commit) error) error {
	if !IsFrame(b) {
		return fmt.Errorf("%w: not a frame of version %d", ErrCorrupt, frameVersion)
	}
	r := frameReader{b: b[2:]}
	var types recentStrings
	n := r.uvarint()
	if n > MaxCommitEvents {
		return fmt.Errorf("%w: frame claims %d commits", ErrCorrupt, n)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		c := Commit{ID: string(r.str())}
		m := r.uvarint()
		if m > MaxCommitEvents {
			return fmt.Errorf("%w: commit claims %d events", ErrCorrupt, m)
		}
		c.Events = make([]Event, 0, m)
		for j := uint64(0); j < m && r.err == nil; j++ {
			c.Events = append(c.Events, Event{ID: string(r.str()), Type: types.of(r.str()), Data: r.str()})
		}
		if r.err != nil {
			break
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d bytes after the last commit", ErrCorrupt, len(r.b))
	}
	return nil
}

type frameReader struct {
	b   []byte
	err error
}

func (r *frameReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: truncated frame", ErrCorrupt)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// recentStrings makes strings of bytes, reusing one it made before for
// the same bytes: a frame's events have a handful of types, and a string
// each would be millions of allocations in a replay.
type recentStrings []string

func (rs *recentStrings) of(b []byte) string {
	for _, s := range *rs {
		if s == string(b) { // compares without allocating
			return s
		}
	}
	s := string(b)
	if len(*rs) < 16 {
		*rs = append(*rs, s)
	}
	return s
}

func (r *frameReader) str() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: truncated frame", ErrCorrupt)
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

// DeliverFrame decodes the frame stored at pos and hands each commit to fn.
// A message that is not a frame at all is handed over as Foreign, with no
// commit; a frame that does not decode is damage (an error naming the
// position).
func DeliverFrame(log string, pos Position, frame []byte, fn func(Stored) error) error {
	if !IsFrame(frame) {
		return fn(Stored{Position: pos, Foreign: &Foreign{Position: pos, Size: len(frame), Reason: "not a frame of version 1"}})
	}
	err := DecodeFrame(frame, func(c Commit) error { return fn(Stored{Position: pos, Commit: c}) })
	if errors.Is(err, ErrCorrupt) {
		return &Damage{Log: log, Position: pos, Problem: err.Error()}
	}
	return err
}

// IsFrame reports whether b starts as a frame does.
func IsFrame(b []byte) bool { return len(b) >= 2 && b[0] == frameMagic && b[1] == frameVersion }
