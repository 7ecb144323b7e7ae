package events

// scanEnvelope reads the envelope of a plain event without reflection: an
// object whose keys are the envelope's own names, each at most once, whose
// string values hold only printable ASCII without escapes, whose
// schemaversion is a small integer, and whose data is an object. That is
// nearly every event publishers send, and encoding/json, which checks the
// whole document before it decodes it, took more than half of the time
// an import spends decoding. For anything else it reports false, and
// Decode takes encoding/json's path, which gives every error its words.
//
// It does not check the data object's syntax, only finds its end: Decode
// unmarshals it with encoding/json, and falls back to the full path on any
// error. When it reports true and the document is valid JSON, the envelope
// is the one encoding/json reads (FuzzScanEnvelope holds it to that).
func scanEnvelope(raw []byte) (Envelope, bool) {
	var env Envelope
	s := envScanner{b: raw}
	if !s.byte('{') {
		return env, false
	}
	var seen uint8
	for first := true; ; first = false {
		s.space()
		if s.at('}') && first {
			return env, false // an empty object: nothing to gain
		}
		key, ok := s.plainString()
		if !ok || !s.byte(':') {
			return env, false
		}
		var bit uint8
		var dst *string
		switch key {
		case "specversion":
			bit, dst = 1, &env.SpecVersion
		case "id":
			bit, dst = 2, &env.ID
		case "source":
			bit, dst = 4, &env.Source
		case "type":
			bit, dst = 8, &env.Type
		case "time":
			bit, dst = 16, &env.Time
		case "datacontenttype":
			bit, dst = 32, &env.DataContentType
		case "schemaversion":
			bit = 64
		case "data":
			bit = 128
		default:
			return env, false // encoding/json matches keys loosely; let it
		}
		if seen&bit != 0 {
			return env, false // a repeated key: encoding/json keeps the last
		}
		seen |= bit
		s.space()
		switch {
		case dst != nil:
			v, ok := s.plainString()
			if !ok {
				return env, false
			}
			*dst = v
		case bit == 64:
			n, ok := s.smallInt()
			if !ok {
				return env, false
			}
			env.SchemaVersion = n
		default:
			d, ok := s.object()
			if !ok {
				return env, false
			}
			env.Data = d
		}
		s.space()
		if s.byte('}') {
			break
		}
		if !s.byte(',') {
			return env, false
		}
	}
	s.space()
	return env, s.i == len(s.b)
}

type envScanner struct {
	b []byte
	i int
}

func (s *envScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *envScanner) at(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

// byte skips space, then takes c if it comes next.
func (s *envScanner) byte(c byte) bool {
	s.space()
	if !s.at(c) {
		return false
	}
	s.i++
	return true
}

// plainString reads a string of printable ASCII with no escape.
func (s *envScanner) plainString() (string, bool) {
	if !s.at('"') {
		return "", false
	}
	start := s.i + 1
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return string(s.b[start:i]), true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return "", false
		}
	}
	return "", false
}

// smallInt reads an integer of at most nine digits, as JSON writes one.
func (s *envScanner) smallInt() (int, bool) {
	neg := s.at('-')
	if neg {
		s.i++
	}
	start, n := s.i, 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	switch {
	case digits == 0 || digits > 9 || (digits > 1 && s.b[start] == '0'):
		return 0, false
	case s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E'):
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// object finds the end of the object that starts here, minding strings
// and nesting but not checking the syntax in between.
func (s *envScanner) object() ([]byte, bool) {
	if !s.at('{') {
		return nil, false
	}
	start, depth := s.i, 0
	for i := start; i < len(s.b); i++ {
		switch s.b[i] {
		case '"':
			for i++; i < len(s.b) && s.b[i] != '"'; i++ {
				if s.b[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				s.i = i + 1
				return s.b[start:s.i], true
			}
		}
	}
	return nil, false
}
