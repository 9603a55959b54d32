package inboxproto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/realtime"
)

// Server frame types (and the hub message types they render).
const (
	TypeHello        = "hello"
	TypeNotification = "notification"
	TypeUnseen       = "unseen"
	TypeRetracted    = "retracted"
	TypeHistory      = "history"
	TypePong         = "pong"
	TypeError        = "error"
)

// Error codes of error frames.
const (
	ErrMalformed   = "malformed"    // not a JSON object with a string type
	ErrUnknownType = "unknown_type" // a type the protocol does not have
	ErrInvalid     = "invalid"      // a field is missing or wrong
	ErrBinary      = "binary"       // a binary frame
	ErrInternal    = "internal"     // the server failed; the frame may be sent again
)

// typeRecount is a hub message, never a frame: every session that gets
// it reads its user's unseen count again (a broadcast was retracted).
const typeRecount = "recount"

// Prefixes of the rendered frames a session looks at.
var (
	notificationPrefix = []byte(`{"type":"` + TypeNotification + `"`)
	unseenPrefix       = []byte(`{"type":"` + TypeUnseen + `"`)
	recountPrefix      = []byte(`{"type":"` + typeRecount + `"`)
)

// Notification is a notification frame's payload: what a device shows.
type Notification struct {
	ID        string          `json:"id"`
	Title     string          `json:"title"`
	Message   string          `json:"message"`
	Priority  int             `json:"priority"`
	Extras    json.RawMessage `json:"extras,omitempty"`
	ImageURL  string          `json:"imageUrl,omitempty"`
	ClickURL  string          `json:"clickUrl,omitempty"`
	CreatedAt time.Time       `json:"createdAt"`
}

// NotificationOf is n as a notification frame shows it.
func NotificationOf(n *inbox.Notification) Notification {
	return Notification{ID: n.ID, Title: n.Title, Message: n.Message, Priority: n.Priority, Extras: n.Extras,
		ImageURL: n.ImageURL, ClickURL: n.ClickURL, CreatedAt: n.CreatedAt}
}

// Message makes the hub message of a frame type and its payload.
func Message(typ string, payload any) (realtime.Message, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return realtime.Message{}, fmt.Errorf("inboxproto: %s payload: %w", typ, err)
	}
	return realtime.Message{Type: typ, Payload: b}, nil
}

// wsProtocol renders hub messages as pushgate.v1 text frames: one JSON
// object, the message type under "type" beside the payload's fields.
type wsProtocol struct{}

// WebSocket is the pushgate.v1 protocol over WebSocket.
var WebSocket realtime.Protocol = &wsProtocol{}

func (*wsProtocol) Render(m realtime.Message) ([]byte, error) { return frame(m.Type, m.Payload) }

// frame joins a type and a JSON object payload into one object.
func frame(typ string, payload json.RawMessage) ([]byte, error) {
	t, _ := json.Marshal(typ)
	p := bytes.TrimSpace(payload)
	if len(p) == 0 || bytes.Equal(p, []byte("null")) {
		return append(append([]byte(`{"type":`), t...), '}'), nil
	}
	if p[0] != '{' {
		return nil, fmt.Errorf("inboxproto: %s payload is not a JSON object", typ)
	}
	out := make([]byte, 0, len(p)+len(t)+10)
	out = append(append(append(out, `{"type":`...), t...), ',')
	inner := bytes.TrimSpace(p[1:])
	if len(inner) > 0 && inner[0] == '}' {
		return append(out[:len(out)-1], '}'), nil
	}
	return append(out, p[1:]...), nil
}

// render makes one frame of this protocol from a type and a payload value.
func render(typ string, payload any) []byte {
	b, err := json.Marshal(payload)
	if err != nil {
		b = nil
	}
	f, err := frame(typ, b)
	if err != nil {
		f, _ = frame(typ, nil)
	}
	return f
}

type helloPayload struct {
	SessionID string `json:"sessionId"`
	UserID    string `json:"userId"`
	Unseen    int    `json:"unseen"`
	Heartbeat int    `json:"heartbeat"`
}

// unseenFrame is render(TypeUnseen, countPayload{Count: count}) without
// reflection: every session writes one after each live notification, so
// a 10,000-way fan-out makes 10,000 of them.
func unseenFrame(count int) []byte {
	b := make([]byte, 0, len(unseenPrefix)+len(`,"count":}`)+20)
	b = append(append(b, unseenPrefix...), `,"count":`...)
	return append(strconv.AppendInt(b, int64(count), 10), '}')
}

type countPayload struct {
	Count int `json:"count"`
}

type idPayload struct {
	ID string `json:"id"`
}

type historyPayload struct {
	Items  []*inbox.Item `json:"items"`
	Cursor string        `json:"cursor"`
	Ref    string        `json:"ref,omitempty"`
}

type errorPayload struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Ref     string `json:"ref,omitempty"`
}

type refPayload struct {
	Ref string `json:"ref,omitempty"`
}

func errorFrame(code, message, ref string) []byte {
	return render(TypeError, errorPayload{Code: code, Message: message, Ref: ref})
}
