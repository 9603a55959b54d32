package realtime

import "encoding/json"

// Close codes the hub itself uses, in WebSocket's numbering. Protocols with
// their own ranges (Pusher's 4000-4299) translate them in Session.Close.
const (
	// CloseGoingAway closes every session when the hub shuts down.
	CloseGoingAway = 1001
	// CloseSlowConsumer closes a session whose outbound queue is full: the
	// client should reconnect after a pause and catch up from its inbox.
	CloseSlowConsumer = 1013
	// CloseRevoked is the code issue 13 gives sessions of a deleted client
	// token; CloseToken takes any code, this is the one the API uses.
	CloseRevoked = 4003
)

// Message is what the hub carries to sessions and between nodes: a
// protocol-neutral type ("notification", "unseen", "retracted", ...) and its
// JSON payload. Each protocol renders it into its own frame, so one message
// reaches a user's /v1/ws, SSE and Socket.IO sessions alike. Payload is
// valid JSON or empty: the Redis broker carries it inside its own JSON.
type Message struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Protocol renders messages into the frames of one wire protocol. A fan-out
// renders a message once per protocol among its recipients, never once per
// session, so Render must not depend on the session: whatever differs per
// recipient belongs in the message (one message per user) or in Send.
//
// The hub compares protocols with ==: implement Protocol on a pointer or on
// a comparable value, one per wire protocol.
type Protocol interface {
	Render(m Message) ([]byte, error)
}

// Session is one live connection, implemented by the protocol layer.
//
// The hub calls Send and Close from its fan-out loop, concurrently with the
// session's own goroutines, and neither may block: Send queues the frame
// and reports whether it could (false when the queue is over its bound or
// the session is closed), and must not change frame, which other sessions
// share; Close starts closing and returns at once, and a
// second Close is harmless. A session the hub closes is unregistered by the
// hub; the protocol layer still calls its unregister func when the
// connection ends (it is idempotent).
type Session interface {
	Protocol() Protocol
	Send(frame []byte) bool
	Close(code int, reason string)
}

// Batch gathers the writes of one fan-out so that the sessions' transport
// makes them together (wsconn on Linux: a few hundred sockets in one
// io_uring submission instead of a system call each). The hub flushes it
// once its loop is done; a Batch is used by that loop alone.
type Batch interface {
	Flush()
}

// Batcher is a Session whose sends can be gathered. SendIn is Send with
// the write gathered in b when b is its transport's kind (nil: it begins
// one), and returns the batch the next session gets; a frame sent to the
// same session later still arrives after this one.
type Batcher interface {
	SendIn(b Batch, frame []byte) (Batch, bool)
}
