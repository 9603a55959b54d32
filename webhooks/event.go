package webhooks

import (
	"fmt"
	"time"
	"unicode/utf8"

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

// Valid reports whether k is one of the five kinds.
func (k Kind) Valid() bool {
	switch k {
	case Sent, Failed, Delivered, Clicked, Close:
		return true
	}
	return false
}

// Limits on the free-text fields of an event. Client events come from
// public endpoints: without bounds one request could bloat every batch.
const (
	MaxForeignID = 1024
	MaxReason    = 256
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
}

// normalize fills ID and At, drops fields the kind does not carry, and
// reports what is wrong with e as field problems under path.
func (e *Event) normalize(path string, now time.Time) []string {
	var p []string
	add := func(field, problem string) { p = append(p, fmt.Sprintf("%s.%s: %s", path, field, problem)) }
	if !e.Kind.Valid() {
		add("kind", fmt.Sprintf("must be sent, failed, delivered, clicked or close, got %q", e.Kind))
	}
	for _, f := range []struct{ name, v string }{{"appId", e.AppID}, {"bucketId", e.BucketID}, {"messageId", e.MessageID}} {
		if f.v == "" {
			add(f.name, "is required")
		}
	}
	if len(e.MessageID) > 64 {
		add("messageId", "must be at most 64 characters")
	}
	if len(e.ForeignID) > MaxForeignID {
		add("foreignId", fmt.Sprintf("must be at most %d bytes", MaxForeignID))
	}
	if e.Kind != Failed {
		e.Reason = ""
	} else if len(e.Reason) > MaxReason {
		// Cut on a character boundary: half a character is text
		// PostgreSQL refuses.
		n := MaxReason
		for n > 0 && !utf8.RuneStart(e.Reason[n]) {
			n--
		}
		e.Reason = e.Reason[:n]
	}
	if e.Kind != Clicked {
		e.Action = ""
	} else if len(e.Action) > MaxAction {
		add("action", fmt.Sprintf("must be at most %d bytes", MaxAction))
	}
	stamp(&e.ID, &e.At, now)
	return p
}

// stamp gives an event an id and a time (now) when it has none, in UTC.
func stamp(id *string, at *time.Time, now time.Time) {
	if *id == "" {
		*id = pushgate.NewID()
	}
	if at.IsZero() {
		*at = now
	}
	*at = at.UTC()
}

// normalizeAll prepares events for the store, or explains why none of them
// can be recorded.
func normalizeAll(events []Event, now time.Time) error {
	var problems []string
	for i := range events {
		problems = append(problems, events[i].normalize(fmt.Sprintf("events[%d]", i), now)...)
	}
	if len(problems) > 0 {
		return pushgate.Invalid("events are invalid", problems...)
	}
	return nil
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
