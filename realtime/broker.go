package realtime

import "context"

// EventKind names what an Event asks every node to do.
type EventKind string

// The kinds of Event.
const (
	ToUsersEvent    EventKind = "users"       // send Message to UserIDs' sessions
	ToAppEvent      EventKind = "app"         // send Message to every session of AppID
	CloseTokenEvent EventKind = "close_token" // close TokenID's sessions with Code and Reason
	ChannelEvent    EventKind = "channel"     // send Message to Channel's subscribers but Except
	CloseUserEvent  EventKind = "close_user"  // close UserIDs' sessions with Code and Reason
)

// Event is what a hub publishes to the other nodes. Node is the publishing
// hub's id: a hub delivers its own publications locally when it makes them
// and ignores them when the broker brings them back.
//
// An Event handed to a broker or delivered by one is read-only: the memory
// broker passes the same value to every hub.
type Event struct {
	Node    string    `json:"node"`
	Kind    EventKind `json:"kind"`
	AppID   string    `json:"app"`
	UserIDs []string  `json:"users,omitempty"`
	TokenID string    `json:"token,omitempty"`
	Channel string    `json:"channel,omitempty"`
	Except  string    `json:"except,omitempty"`
	Code    int       `json:"code,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Message Message   `json:"msg"`
}

// Broker carries events between the hubs of every node.
type Broker interface {
	// Publish hands e to every subscriber, on every node, the publisher's own
	// included, at most once each. It returns once the broker has taken e,
	// not once it is delivered; an error means other nodes may not see it.
	// Events one goroutine publishes arrive in the order published.
	Publish(ctx context.Context, e *Event) error
	// Subscribe calls deliver with every event published after it returns,
	// until cancel is called; after cancel returns, deliver is called for no
	// new event. deliver must be safe for concurrent calls (the memory broker
	// delivers in each publisher's goroutine) and must not block for long (the
	// Redis broker delivers one event at a time).
	Subscribe(ctx context.Context, deliver func(*Event)) (cancel func(), err error)
}
