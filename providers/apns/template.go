package apns

import (
	"bytes"
	"encoding/json"
	"sync/atomic"

	"github.com/pushgate/pushgate/contexts"
)

// A template is a context rendered once for a whole chunk, with markers
// where each message's own ids go: every message of a chunk shares its
// context, and rendering it through encoding/json for each of them was a
// sixth of the node's CPU per push.
type template struct {
	c      *contexts.Context
	safari bool
	r      rendered // r.body holds the markers; r.collapseID is the context's own
	msgAt  int      // where the message id's marker starts
	// fidAt is where the foreign id's marker starts, and [memberAt,
	// memberEnd) its whole member with one comma, dropped for a message
	// without one.
	fidAt, memberAt, memberEnd int
}

const (
	msgMarker = "\x00m"
	fidMarker = "\x00f"
)

var (
	msgMarkerJSON = []byte(`"\u0000m"`)
	fidMarkerJSON = []byte(`"\u0000f"`)
	fidKeyJSON    = []byte(`"foreignId":`)
)

// templates keeps the last template a provider made.
type templates struct{ last atomic.Pointer[template] }

// render makes c into the request for one message, from the last template
// when it was made for c.
func (ts *templates) render(c *contexts.Context, id identity, safari bool) (rendered, error) {
	t := ts.last.Load()
	if t == nil || t.c != c || t.safari != safari {
		var ok bool
		if t, ok = newTemplate(c, id.contextID, safari); !ok {
			return render(c, id, safari)
		}
		ts.last.Store(t)
	}
	return t.fill(id), nil
}

// newTemplate renders c with markers for the ids; false when c cannot be
// rendered, or when its own content holds a marker, and the slow path must
// decide.
func newTemplate(c *contexts.Context, contextID string, safari bool) (*template, bool) {
	r, err := renderContext(c, identity{messageID: msgMarker, contextID: contextID, foreignID: fidMarker}, safari)
	if err != nil || bytes.Count(r.body, msgMarkerJSON) != 1 || bytes.Count(r.body, fidMarkerJSON) != 1 {
		return nil, false
	}
	t := &template{c: c, safari: safari, r: r, msgAt: bytes.Index(r.body, msgMarkerJSON), fidAt: bytes.Index(r.body, fidMarkerJSON)}
	t.memberAt = t.fidAt - len(fidKeyJSON)
	t.memberEnd = t.fidAt + len(fidMarkerJSON)
	if t.memberAt < 1 || !bytes.Equal(r.body[t.memberAt:t.fidAt], fidKeyJSON) {
		return nil, false
	}
	switch {
	case r.body[t.memberAt-1] == ',':
		t.memberAt--
	case t.memberEnd < len(r.body) && r.body[t.memberEnd] == ',':
		t.memberEnd++
	default:
		return nil, false
	}
	return t, true
}

// fill is the template with id's message and foreign ids in place.
func (t *template) fill(id identity) rendered {
	body := t.r.body
	type edit struct {
		at, end int
		value   string
		drop    bool
	}
	m := edit{at: t.msgAt, end: t.msgAt + len(msgMarkerJSON), value: id.messageID}
	f := edit{at: t.fidAt, end: t.fidAt + len(fidMarkerJSON), value: id.foreignID}
	if id.foreignID == "" {
		f = edit{at: t.memberAt, end: t.memberEnd, drop: true}
	}
	first, second := m, f
	if f.at < m.at {
		first, second = f, m
	}
	out := make([]byte, 0, len(body)+len(id.messageID)+len(id.foreignID)+8)
	out = append(out, body[:first.at]...)
	if !first.drop {
		out = appendJSONString(out, first.value)
	}
	out = append(out, body[first.end:second.at]...)
	if !second.drop {
		out = appendJSONString(out, second.value)
	}
	out = append(out, body[second.end:]...)
	r := t.r
	r.body = out
	if r.collapseID == "" {
		r.collapseID = collapseID(id.messageID)
	}
	return r
}

// appendJSONString appends s as encoding/json writes it, HTML escapes
// included.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
