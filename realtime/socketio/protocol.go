package socketio

import (
	"encoding/json"
	"fmt"

	"github.com/pushgate/pushgate/realtime"
)

// TypePush is the hub message of a notification-server push: its payload
// is {"message": <the JSON the backend pushed>}. It is not stored, and a
// /v1/ws session shows it as a frame {"type":"push","message":...}.
const TypePush = "push"

// typeNotification is the inbox's stored notifications (inboxproto's
// TypeNotification): a Socket.IO tab hears them as a `message` event too.
const typeNotification = "notification"

// PushMessage makes the hub message of a push of message (valid JSON).
func PushMessage(message json.RawMessage) (realtime.Message, error) {
	b, err := json.Marshal(pushPayload{Message: message})
	if err != nil {
		return realtime.Message{}, fmt.Errorf("socketio: push payload: %w", err)
	}
	return realtime.Message{Type: TypePush, Payload: b}, nil
}

type pushPayload struct {
	Message json.RawMessage `json:"message"`
}

// protocol renders hub messages into a `message` event's Socket.IO packet
// (after the notification's id, see frameOf) carrying: a push's message, a kept
// push's message, or another stored notification as /v1/ws shows it. Every
// other message (unseen counts, retractions) has nothing to say to a
// notification-server client and renders empty, which Send skips.
type protocol struct{}

// Protocol is the Socket.IO protocol's realtime.Protocol.
var Protocol realtime.Protocol = &protocol{}

func (*protocol) Render(m realtime.Message) ([]byte, error) {
	switch m.Type {
	case TypePush:
		var p pushPayload
		if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Message) == 0 {
			return nil, fmt.Errorf("socketio: a push without a message")
		}
		return frameOf("", p.Message)
	case typeNotification:
		id, msg := emitted(m.Payload)
		return frameOf(id, msg)
	default:
		return []byte{}, nil
	}
}
