package pusherproto

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/pushgate/pushgate/realtime"
	"github.com/pushgate/pushgate/realtime/wsconn"
)

// session is one Pusher connection. Its frames are handled one at a time
// and Closed runs after the last, so what only they touch (channels, the
// sign-in, the client event bucket) needs no lock; the hub calls only
// Send, Close, Protocol and SocketID.
type session struct {
	h   *Handler
	c   *wsconn.Conn
	app *App
	id  string // socket_id
	// unregister takes it out of the hub once sign-in registered it under
	// its user (nil until then).
	unregister func()

	user string // the signed-in user's id, if any
	// channels are the subscribed channels: a few, so a list (a map would
	// cost every idle connection a few hundred bytes).
	channels []*channel
	// A token bucket bounds client events (Options.ClientEventRate a
	// second, as many at once); last is the time of the last refill, in
	// Unix nanoseconds (a time.Time would make every session 16 bytes
	// bigger).
	tokens float64
	last   int64
}

// channel is a session's subscription.
type channel struct {
	name   string
	kind   kind
	member string // presence: the user id it joined as
}

func (s *session) find(name string) *channel {
	for _, ch := range s.channels {
		if ch.name == name {
			return ch
		}
	}
	return nil
}

// drop takes ch out of the session's list.
func (s *session) drop(ch *channel) {
	for i, x := range s.channels {
		if x == ch {
			last := len(s.channels) - 1
			s.channels[i], s.channels[last] = s.channels[last], nil
			s.channels = s.channels[:last]
			return
		}
	}
}

var _ realtime.Identified = (*session)(nil)

func (s *session) Protocol() realtime.Protocol { return Protocol }
func (s *session) SocketID() string            { return s.id }
func (s *session) Close(code int, reason string) {
	if code == realtime.CloseGoingAway {
		code = CloseReconnect // Pusher's "reconnect at once", to another node
	}
	s.c.Close(code, reason)
}

// Send queues a frame; messages of other protocols render empty and are
// skipped.
func (s *session) Send(frame []byte) bool {
	if len(frame) == 0 {
		return true
	}
	return s.c.Send(frame)
}

// SendIn is Send with the write gathered in b (realtime.Batcher).
func (s *session) SendIn(b realtime.Batch, frame []byte) (realtime.Batch, bool) {
	if len(frame) == 0 {
		return b, true
	}
	wb, ok := b.(*wsconn.Batch)
	if !ok {
		if b != nil { // another transport's
			return b, s.c.Send(frame)
		}
		wb = wsconn.NewBatch()
	}
	return wb, wb.Send(s.c, frame)
}

// inFrame is a client frame.
type inFrame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

// Frame handles a client frame (wsconn.Handler).
func (s *session) Frame(data []byte, err error) {
	if err != nil {
		s.c.Send(errorFrame(0, "binary frames are not accepted: send JSON text"))
		return
	}
	f, ok := parseFrame(data)
	if !ok {
		f = inFrame{}
		ok = json.Unmarshal(data, &f) == nil
	}
	if !ok || f.Event == "" {
		s.c.Send(errorFrame(0, "the frame is not a JSON object with an event name"))
		return
	}
	ctx := context.Background()
	switch {
	case f.Event == "pusher:ping":
		s.c.Send(pongFrame)
	case f.Event == "pusher:pong":
	case f.Event == "pusher:subscribe":
		s.subscribe(ctx, f.Data)
	case f.Event == "pusher:unsubscribe":
		s.unsubscribeFrame(ctx, f.Data)
	case f.Event == "pusher:signin":
		s.signin(f.Data)
	case strings.HasPrefix(f.Event, "client-"):
		s.clientEvent(ctx, &f)
	default:
		s.c.Send(errorFrame(0, "unknown event: "+truncate(f.Event, 64)))
	}
}

var pongFrame = []byte(`{"event":"pusher:pong","data":{}}`)

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Closed leaves every channel and the hub once the connection ended
// (wsconn.Handler).
func (s *session) Closed() {
	ctx := context.Background()
	for _, ch := range s.channels {
		s.leave(ctx, ch.name, ch)
	}
	s.channels = nil
	if s.unregister != nil {
		s.unregister()
	}
	if s.h.opts.Tracker != nil {
		s.h.opts.Tracker.Done(s)
	}
}

// CloseConn closes the connection as the server shuts down (Closer).
func (s *session) CloseConn(context.Context) {
	s.c.Close(CloseReconnect, "server shutting down")
}
