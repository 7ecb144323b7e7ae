package events

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
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
	s := keyScanner{b: raw}
	s.path = append(s.path, pathSeg{key: strings.TrimSuffix(prefix, "."), index: -1})
	s.value(0, false)
	return s.err
}

// maxKeyDepth bounds the nesting the scan follows (encoding/json's own
// bound is 10,000); deeper input is left to encoding/json.
const maxKeyDepth = 10_000

type keyScanner struct {
	b    []byte
	i    int
	path []pathSeg // where the scan is, for the error
	err  *FieldError
	stop bool // malformed, or an error found
}

type pathSeg struct {
	key   string
	index int // -1: a key, not an array element
}

func (s *keyScanner) fail(rule string) {
	var b strings.Builder
	for _, p := range s.path {
		switch {
		case p.index >= 0:
			b.WriteString("[" + strconv.Itoa(p.index) + "]")
		case p.key == "":
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p.key)
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
		s.space()
		if s.i >= len(s.b) {
			s.stop = true
			return
		}
		if s.b[s.i] == ']' {
			s.i++
			return
		}
		if s.b[s.i] != ',' {
			s.stop = true
			return
		}
		s.i++
	}
}

// object reads an object and checks its keys. Keys are kept in a slice
// while few, and in a map by their folded form past that, so that an
// object of 10,000 product rates costs no more than reading it.
func (s *keyScanner) object(depth int, idMap bool) {
	s.i++ // '{'
	var few []string
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
		if clash, found := s.seen(key, idMap, &few, &many); found {
			if clash == key {
				s.fail("appears twice: a repeated key would keep only its last value")
			} else {
				s.fail(fmt.Sprintf("differs from %q only in case: keys match without case, so one would hide the other", clash))
			}
			return
		}
		s.value(depth+1, key == "product_rates")
		s.space()
		if s.i >= len(s.b) {
			s.stop = true
			return
		}
		if s.b[s.i] == '}' {
			s.i++
			return
		}
		if s.b[s.i] != ',' {
			s.stop = true
			return
		}
		s.i++
	}
}

const fewKeys = 16

// seen records key and returns an earlier key it clashes with.
func (s *keyScanner) seen(key string, idMap bool, few *[]string, many *map[string]string) (string, bool) {
	norm := key
	if !idMap {
		norm = foldKey(key)
	}
	if *many != nil {
		if k, ok := (*many)[norm]; ok {
			return k, true
		}
		(*many)[norm] = key
		return "", false
	}
	for _, k := range *few {
		if k == key || !idMap && strings.EqualFold(k, key) {
			return k, true
		}
	}
	*few = append(*few, key)
	if len(*few) > fewKeys {
		*many = make(map[string]string, 2*fewKeys)
		for _, k := range *few {
			n := k
			if !idMap {
				n = foldKey(k)
			}
			(*many)[n] = k
		}
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

// str reads a string, unescaped when it holds an escape.
func (s *keyScanner) str() (string, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false
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
				return string(s.b[start+1 : j]), true
			}
			var out string
			if json.Unmarshal(s.b[start:j+1], &out) != nil {
				return "", false
			}
			return out, true
		}
	}
	return "", false
}
