package pusherproto

import "encoding/json"

// The frames clients send most, pusher:subscribe to a public or private
// channel and pusher:ping, are small flat JSON objects of plain strings.
// parseFrame and parseSubscribe read that shape directly, without
// encoding/json's reflection (and without the deeper stack it needs, which
// a fresh goroutine pays for by copying its stack); anything else they
// leave to encoding/json (ok false), which then decides as it always did.
// What they accept, encoding/json would decode to the same values: member
// names exactly the fields' (encoding/json would also match other cases),
// each at most once (inside a flat object kept as data, any names), string
// values of printable ASCII without escapes, and nothing after the object
// but whitespace (fastjson_test.go fuzzes both against encoding/json).

// scanner reads b from i.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// next reports whether c comes next (after whitespace), and takes it.
func (s *scanner) next(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a plain string (printable ASCII, no escapes) and returns
// its text between the quotes.
func (s *scanner) str() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	for j := s.i; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := s.b[s.i:j]
			s.i = j + 1
			return v, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// member reads, inside an object, the end (end true) or the next
// member's name and colon (first: no comma before it).
func (s *scanner) member(first bool) (name []byte, end, ok bool) {
	if s.next('}') {
		return nil, true, true
	}
	if !first && !s.next(',') {
		return nil, false, false
	}
	name, ok = s.str()
	return name, false, ok && s.next(':')
}

// end reports whether only whitespace is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// flat reads a plain string or an object of plain strings and returns
// its text.
func (s *scanner) flat() ([]byte, bool) {
	s.space()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '"' {
		_, ok := s.str()
		return s.b[start:s.i], ok
	}
	if !s.next('{') {
		return nil, false
	}
	for first := true; ; first = false {
		_, end, ok := s.member(first)
		switch {
		case !ok:
			return nil, false
		case end:
			return s.b[start:s.i], true
		}
		if _, ok := s.str(); !ok {
			return nil, false
		}
	}
}

// parseFrame reads {"event":..,"channel":..,"data":..} in the plain shape.
func parseFrame(b []byte) (f inFrame, ok bool) {
	s := scanner{b: b}
	var seen [3]bool
	if !s.next('{') {
		return f, false
	}
	for first := true; ; first = false {
		name, end, ok := s.member(first)
		if !ok || end {
			return f, ok && s.end()
		}
		var v []byte
		switch {
		case string(name) == "event" && !seen[0]:
			seen[0] = true
			v, ok = s.str()
			f.Event = string(v)
		case string(name) == "channel" && !seen[1]:
			seen[1] = true
			v, ok = s.str()
			f.Channel = string(v)
		case string(name) == "data" && !seen[2]:
			seen[2] = true
			v, ok = s.flat()
			f.Data = append(json.RawMessage(nil), v...)
		default:
			ok = false
		}
		if !ok {
			return f, false
		}
	}
}

// parseSubscribe reads pusher:subscribe's data in the plain shape.
func parseSubscribe(b []byte) (d subscribeData, ok bool) {
	s := scanner{b: b}
	var seen [3]bool
	if !s.next('{') {
		return d, false
	}
	for first := true; ; first = false {
		name, end, ok := s.member(first)
		if !ok || end {
			return d, ok && s.end()
		}
		var v []byte
		switch {
		case string(name) == "channel" && !seen[0]:
			seen[0] = true
			v, ok = s.str()
			d.Channel = string(v)
		case string(name) == "auth" && !seen[1]:
			seen[1] = true
			v, ok = s.str()
			d.Auth = string(v)
		case string(name) == "channel_data" && !seen[2]:
			seen[2] = true
			v, ok = s.str()
			d.ChannelData = string(v)
		default:
			ok = false
		}
		if !ok {
			return d, false
		}
	}
}
