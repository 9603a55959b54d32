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

// object reads a flat object whose members are among names, each at most
// once, handing member the index of each name to read its value.
func (s *scanner) object(names []string, member func(i int) bool) bool {
	var seen [4]bool // a name's index: len(names) <= 4
	if !s.next('{') {
		return false
	}
	for first := true; ; first = false {
		name, end, ok := s.member(first)
		if !ok || end {
			return ok && s.end()
		}
		i := -1
		for j, n := range names {
			if string(name) == n {
				i = j
			}
		}
		if i < 0 || seen[i] || !member(i) {
			return false
		}
		seen[i] = true
	}
}

var frameMembers = []string{"event", "channel", "data"}

// parseFrame reads {"event":..,"channel":..,"data":..} in the plain shape.
func parseFrame(b []byte) (f inFrame, ok bool) {
	s := scanner{b: b}
	ok = s.object(frameMembers, func(i int) bool {
		if i == 2 {
			v, ok := s.flat()
			f.Data = append(json.RawMessage(nil), v...)
			return ok
		}
		v, ok := s.str()
		if i == 0 {
			f.Event = string(v)
		} else {
			f.Channel = string(v)
		}
		return ok
	})
	return f, ok
}

var subscribeMembers = []string{"channel", "auth", "channel_data"}

// parseSubscribe reads pusher:subscribe's data in the plain shape.
func parseSubscribe(b []byte) (d subscribeData, ok bool) {
	s := scanner{b: b}
	fields := [...]*string{&d.Channel, &d.Auth, &d.ChannelData}
	ok = s.object(subscribeMembers, func(i int) bool {
		v, ok := s.str()
		*fields[i] = string(v)
		return ok
	})
	return d, ok
}
