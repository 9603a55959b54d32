package inboxproto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/realtime"
)

// The pushgate.v1 frames as Server-Sent Events (GET /v1/sse): each frame
// is one event whose "event:" is the frame's type and whose one "data:"
// line is the very JSON object the WebSocket frame carries. A
// notification event also has an "id:", its EventID, so that a client
// that reconnects with Last-Event-ID resumes right after it.

// sseProtocol renders hub messages as Server-Sent Events.
type sseProtocol struct{}

// SSE is the pushgate.v1 protocol over Server-Sent Events.
var SSE realtime.Protocol = &sseProtocol{}

func (*sseProtocol) Render(m realtime.Message) ([]byte, error) {
	f, err := frame(m.Type, m.Payload)
	if err != nil {
		return nil, err
	}
	return sseEvent(m.Type, f), nil
}

// sseEvent makes the event of a rendered WebSocket frame f of type typ.
func sseEvent(typ string, f []byte) []byte {
	if bytes.ContainsAny(f, "\r\n") {
		// One data line: JSON strings escape line breaks, so compacting
		// leaves none (a payload from the broker may be indented).
		var b bytes.Buffer
		if json.Compact(&b, f) == nil {
			f = b.Bytes()
		} else {
			f = []byte(lineBreaks.Replace(string(f)))
		}
	}
	var id string
	if typ == TypeNotification {
		var n struct {
			ID        string    `json:"id"`
			CreatedAt time.Time `json:"createdAt"`
		}
		if json.Unmarshal(f, &n) == nil && n.ID != "" {
			id = EventID(n.CreatedAt, n.ID)
		}
	}
	typ = lineBreaks.Replace(typ)
	out := make([]byte, 0, len(f)+len(typ)+len(id)+24)
	out = append(append(append(out, "event: "...), typ...), '\n')
	if id != "" {
		out = append(append(append(out, "id: "...), id...), '\n')
	}
	out = append(append(append(out, "data: "...), f...), "\n\n"...)
	return out
}

// lineBreaks removes what would end an SSE line.
var lineBreaks = strings.NewReplacer("\r", "", "\n", "")

// sseRender makes one event from a type and a payload value.
func sseRender(typ string, payload any) []byte { return sseEvent(typ, render(typ, payload)) }

// Event prefixes a session looks at.
var (
	sseNotificationPrefix = []byte("event: " + TypeNotification + "\n")
	sseUnseenPrefix       = []byte("event: " + TypeUnseen + "\n")
	sseRecountPrefix      = []byte("event: " + typeRecount + "\n")
	sseDataPrefix         = []byte("\ndata: ")
)

// sseData is the JSON object of an event's data line.
func sseData(event []byte) []byte {
	_, data, ok := bytes.Cut(event, sseDataPrefix)
	if !ok {
		return nil
	}
	return bytes.TrimSpace(data)
}

// Position is a place in a user's inbox, in the order the inbox lists it
// oldest first: by creation time, then by id.
type Position struct {
	At time.Time
	ID string
}

// Before reports whether p comes before the notification created at at
// with id id.
func (p Position) Before(at time.Time, id string) bool {
	return at.After(p.At) || at.Equal(p.At) && id > p.ID
}

// EventID is the SSE id of the notification created at at with id id: the
// Position of the notification, opaque to clients, as base64url (no
// padding) of "<createdAt, RFC 3339 with nanoseconds, UTC>|<id>". A
// position, not an id to look up: it keeps its meaning once the
// notification is deleted, read or purged, and it needs no query.
func EventID(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "|" + id))
}

// maxEventID bounds a Last-Event-ID: an EventID is about 90 characters.
const maxEventID = 200

// ParseEventID reads an EventID (a Last-Event-ID); an invalid one is a
// pushgate EINVALID error.
func ParseEventID(s string) (Position, error) {
	bad := pushgate.Invalid("Last-Event-ID is invalid",
		"Last-Event-ID: must be the id of an event this server sent (or empty)")
	if len(s) > maxEventID {
		return Position{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Position{}, bad
	}
	at, id, ok := strings.Cut(string(raw), "|")
	if !ok || !pushgate.ValidID(id) {
		return Position{}, bad
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return Position{}, bad
	}
	return Position{At: t.UTC(), ID: strings.ToLower(id)}, nil
}
