package webhooks

import (
	"fmt"
	"time"

	"github.com/pushgate/pushgate"
)

// ClientEvent is what a client (a service worker, an app) reports about a
// message it received: delivered, clicked (with the action, if any) or
// close.
type ClientEvent struct {
	// EventID becomes the webhook event's ID; filled in when empty.
	EventID   string
	ContextID string
	MessageID string
	Kind      Kind
	Action    string
	At        time.Time
}

func (e *ClientEvent) normalize(now time.Time) error {
	var p []string
	switch e.Kind {
	case Delivered, Clicked, Close:
	default:
		p = append(p, fmt.Sprintf("kind: must be delivered, clicked or close, got %q", e.Kind))
	}
	if !pushgate.ValidID(e.ContextID) {
		return pushgate.NotFound("context")
	}
	if e.MessageID == "" {
		p = append(p, "messageId: is required")
	}
	if e.Kind != Clicked {
		e.Action = ""
	} else if len(e.Action) > MaxAction {
		p = append(p, fmt.Sprintf("action: must be at most %d bytes", MaxAction))
	} else if !pushgate.StorableText(e.Action) {
		// Anyone holding a message id sends it, and PostgreSQL cannot
		// store NUL or invalid UTF-8 in text.
		p = append(p, "action: must be UTF-8 text without NUL characters")
	}
	if len(p) > 0 {
		return pushgate.Invalid("the event is invalid", p...)
	}
	if !pushgate.ValidID(e.MessageID) {
		return pushgate.NotFound("message")
	}
	stamp(&e.EventID, &e.At, now)
	return nil
}
