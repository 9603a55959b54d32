package webhooks

import (
	"time"

	"github.com/pushgate/pushgate"
)

// Kind is what happened to a message, as CORE's webhook body spells it.
type Kind string

const (
	Sent      Kind = "sent"      // the push service accepted the message
	Failed    Kind = "failed"    // it will never be sent (Reason says why)
	Delivered Kind = "delivered" // a client displayed it
	Clicked   Kind = "clicked"   // a user clicked it or one of its actions
	Close     Kind = "close"     // a user dismissed it
)

// Limits on the free-text fields of a client event, which comes from
// public endpoints: without bounds one request could bloat every batch.
const (
	MaxForeignID = 1024
	MaxAction    = 256
)

// Event is one thing that happened to one message. A message has at most
// one event of each kind: the first one recorded wins.
type Event struct {
	ID        string
	AppID     string
	BucketID  string
	MessageID string
	ForeignID string
	Kind      Kind
	// Reason is why a Failed message failed; empty for other kinds.
	Reason string
	// Action is the clicked action of a Clicked event; empty for other kinds.
	Action string
	At     time.Time
	// Channel is what a Pusher channel webhook event says (in a
	// ChannelStore's batches, which carry no message fields); nil in a
	// bucket's.
	Channel *ChannelEvent
}

// stamp gives a client event an id and a time (now) when it has none, in UTC.
func stamp(id *string, at *time.Time, now time.Time) {
	if *id == "" {
		*id = pushgate.NewID()
	}
	if at.IsZero() {
		*at = now
	}
	*at = at.UTC()
}

// ResultEvent is the webhook event that a message's delivery result makes,
// the one mapping from results to events: the message store writes it with
// the result, in the same transaction (see messages.Store.Finish), on every
// backend. status is the message's status as package messages spells it
// (webhooks does not import messages): "sent" makes a Sent event; "failed"
// and "expired" make a Failed event carrying the result's reason; any other
// status (queued for a retry) makes none, and ok is false. Only Kind,
// Reason and Action are set: the store fills in the message's fields, an
// ID and the result's time.
func ResultEvent(status, reason string) (e Event, ok bool) {
	switch status {
	case "sent":
		return Event{Kind: Sent}, true
	case "failed", "expired":
		return Event{Kind: Failed, Reason: reason}, true
	}
	return Event{}, false
}
