package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// checkKeys rejects JSON objects whose keys do not mean one thing:
// encoding/json keeps the last of a repeated key, and matches a key to a
// field without case, so {"id":"a","ID":"b"} decodes as the event "b" and
// hides the "a" that a reader of the text sees. In every object a key may
// appear once, and no two keys may differ only in case (Unicode simple
// folding, as encoding/json folds); in a map of ids (product_rates) keys
// are case-sensitive ids, so only a repeat is rejected.
//
// prefix is the path of the object ("" for the envelope, "data." for a
// payload alone). The scan does not judge the syntax: on malformed input
// it stops and reports nothing, and encoding/json names the fault.
func checkKeys(raw []byte, prefix string) *FieldError {
	s := scanners.Get().(*keyScanner)
	*s = keyScanner{b: raw, root: strings.TrimSuffix(prefix, "."), path: s.path[:0], keys: s.keys[:0]}
	s.value(0, false)
	err := s.err
	s.b, s.err = nil, nil
	clear(s.keys[:cap(s.keys)]) // keeps no caller's bytes alive
	clear(s.path[:cap(s.path)])
	scanners.Put(s)
	return err
}

// scanners keeps key scanners for reuse: the scan recurses, so the
// compiler cannot keep one on the stack, and Decode's fast path must not
// pay an allocation for it.
var scanners = sync.Pool{New: func() any { return &keyScanner{path: make([]pathSeg, 0, 8), keys: make([][]byte, 0, 32)} }}

// maxKeyDepth bounds the nesting the scan follows (encoding/json's own
// bound is 10,000); deeper input is left to encoding/json.
const maxKeyDepth = 10_000

type keyScanner struct {
	b    []byte
	i    int
	root string    // the path of the whole input: "" or "data"
	path []pathSeg // where the scan is below root, for the error
	// keys holds the keys of the objects open now, each object's after
	// those of the objects around it.
	keys [][]byte
	err  *FieldError
	stop bool // malformed, or an error found
}

// pathSeg is a key (its bytes in the input, or unescaped) or an index.
type pathSeg struct {
	key   []byte
	index int // -1: a key, not an array element
}

func (s *keyScanner) fail(rule string) {
	var b strings.Builder
	b.WriteString(s.root)
	for _, p := range s.path {
		switch {
		case p.index >= 0:
			b.WriteString("[" + strconv.Itoa(p.index) + "]")
		case len(p.key) == 0:
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.Write(p.key)
		}
	}
	s.err, s.stop = &FieldError{Field: b.String(), Rule: rule}, true
}

func (s *keyScanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *keyScanner) value(depth int, idMap bool) {
	s.space()
	if s.i >= len(s.b) || depth > maxKeyDepth {
		s.stop = true
		return
	}
	switch s.b[s.i] {
	case '{':
		s.object(depth, idMap)
	case '[':
		s.array(depth)
	case '"':
		if _, ok := s.str(); !ok {
			s.stop = true
		}
	default:
		for s.i < len(s.b) && !strings.ContainsRune(",]} \t\n\r", rune(s.b[s.i])) {
			s.i++
		}
	}
}

func (s *keyScanner) array(depth int) {
	s.i++ // '['
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return
	}
	s.path = append(s.path, pathSeg{index: 0})
	defer func() { s.path = s.path[:len(s.path)-1] }()
	for n := 0; !s.stop; n++ {
		s.path[len(s.path)-1].index = n
		s.value(depth+1, false)
		if !s.more(']') {
			return
		}
	}
}

// object reads an object and checks its keys. Keys are kept in a slice
// while few, and in a map by their folded form past that, so that an
// object of 10,000 product rates costs no more than reading it.
func (s *keyScanner) object(depth int, idMap bool) {
	s.i++ // '{'
	start := len(s.keys)
	defer func() { s.keys = s.keys[:start] }()
	var many map[string]string
	s.path = append(s.path, pathSeg{index: -1})
	defer func() { s.path = s.path[:len(s.path)-1] }()
	for first := true; !s.stop; first = false {
		s.space()
		if s.i < len(s.b) && s.b[s.i] == '}' && first {
			s.i++
			return
		}
		key, ok := s.str()
		s.space()
		if !ok || s.i >= len(s.b) || s.b[s.i] != ':' {
			s.stop = true
			return
		}
		s.i++
		s.path[len(s.path)-1].key = key
		if clash, found := s.seen(key, idMap, start, &many); found {
			if clash == string(key) {
				s.fail("appears twice: a repeated key would keep only its last value")
			} else {
				s.fail(fmt.Sprintf("differs from %q only in case: keys match without case, so one would hide the other", clash))
			}
			return
		}
		s.value(depth+1, string(key) == "product_rates")
		if !s.more('}') {
			return
		}
	}
}

// more reads what follows a member of an array or an object: a comma
// (more members: true), or its closing bracket (false, read), or anything
// else, which stops the scan (false).
func (s *keyScanner) more(closing byte) bool {
	s.space()
	switch {
	case s.i >= len(s.b):
		s.stop = true
		return false
	case s.b[s.i] == closing:
		s.i++
		return false
	case s.b[s.i] != ',':
		s.stop = true
		return false
	}
	s.i++
	return true
}

const fewKeys = 16

// seen records key among the keys of the object whose keys start at
// start, and returns an earlier key it clashes with. Up to fewKeys keys it
// compares them in place, allocating nothing.
func (s *keyScanner) seen(key []byte, idMap bool, start int, many *map[string]string) (string, bool) {
	norm := func(k []byte) string {
		if idMap {
			return string(k)
		}
		return foldKey(string(k))
	}
	if *many != nil {
		n := norm(key)
		if k, ok := (*many)[n]; ok {
			return k, true
		}
		(*many)[n] = string(key)
		return "", false
	}
	few := s.keys[start:]
	for _, k := range few {
		if bytes.Equal(k, key) || !idMap && bytes.EqualFold(k, key) {
			return string(k), true
		}
	}
	if len(few) < fewKeys {
		s.keys = append(s.keys, key)
		return "", false
	}
	*many = make(map[string]string, 4*fewKeys)
	for _, k := range append(few, key) {
		(*many)[norm(k)] = string(k)
	}
	return "", false
}

// foldKey maps a key to one form shared by every key it equals under
// simple case folding (strings.EqualFold): each rune becomes the least
// rune of its folding orbit.
func foldKey(k string) string {
	ascii := true
	for i := 0; i < len(k); i++ {
		if k[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// An ASCII letter's least orbit member is its upper case (the
		// orbits of k and s also hold U+212A and U+017F, which are larger).
		return strings.ToUpper(k)
	}
	var b strings.Builder
	for _, r := range k {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// str reads a string: its bytes in the input, or a copy unescaped when
// it holds an escape.
func (s *keyScanner) str() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start, escaped := s.i, false
	for j := s.i + 1; j < len(s.b); j++ {
		switch s.b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			s.i = j + 1
			if !escaped {
				return s.b[start+1 : j], true
			}
			var out string
			if json.Unmarshal(s.b[start:j+1], &out) != nil {
				return nil, false
			}
			return []byte(out), true
		}
	}
	return nil, false
}
