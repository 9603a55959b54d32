package pusherproto

import (
	"context"
	"encoding/json"
	"time"
)

// clientEvent relays a client-* event to the channel's other subscribers,
// on every node, never back to its sender. Only subscribers of private
// (not encrypted) and presence channels may send them, only when the app allows them,
// and at most ClientEventRate a second (pusher:error 4301 beyond).
func (s *session) clientEvent(ctx context.Context, f *inFrame) {
	ch := s.find(f.Channel)
	switch {
	case !s.app.ClientEvents:
		s.c.Send(errorFrame(0, "client events are not enabled for this app"))
		return
	case ch == nil:
		s.c.Send(errorFrame(0, "client events need a subscription to their channel"))
		return
	case ch.kind != private && ch.kind != presence:
		// Not on encrypted channels either: Pusher has none there (the
		// SDKs refuse them).
		s.c.Send(errorFrame(0, "client events are only for private and presence channels"))
		return
	case len(f.Data) > s.h.opts.MaxEventBytes:
		s.c.Send(errorFrame(0, "the event's data is over the size limit"))
		return
	case !s.allowClientEvent():
		s.c.Send(errorFrame(ErrClientEventLimited, "client event rejected: too many client events a second"))
		return
	}
	data := f.Data
	if data == nil {
		data = json.RawMessage("null")
	}
	s.publish(ctx, f.Channel, s.id, eventFrame(f.Event, f.Channel, data, ch.member))
	s.webhook(WebhookEvent{Name: "client_event", Channel: f.Channel, Event: f.Event,
		Data: clientEventData(data), SocketID: s.id, UserID: ch.member})
}

// allowClientEvent counts a client event against the token bucket.
func (s *session) allowClientEvent() bool {
	now := time.Now().UnixNano()
	rate := s.h.opts.ClientEventRate
	if s.last != 0 {
		s.tokens = min(rate, s.tokens+time.Duration(now-s.last).Seconds()*rate)
	}
	s.last = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

type signinData struct {
	Auth     string `json:"auth"`
	UserData string `json:"user_data"`
}

// signin answers pusher:signin: a valid signature of user_data, which
// names the user's id, makes the connection that user's (it then hears
// the user's events and is ended by terminate_connections); anything
// else closes it with 4009, as Pusher does.
func (s *session) signin(raw json.RawMessage) {
	var d signinData
	if json.Unmarshal(raw, &d) != nil || !checkAuth(s.app, d.Auth, signinMessage(s.id, d.UserData)) {
		s.refuse("pusher:signin: invalid signature")
		return
	}
	var user struct {
		ID string `json:"id"`
	}
	if json.Unmarshal([]byte(d.UserData), &user) != nil || user.ID == "" {
		s.refuse("pusher:signin: user_data must be a JSON object with a string id")
		return
	}
	if s.user != "" && s.user != user.ID {
		s.refuse("pusher:signin: the connection is signed in as another user")
		return
	}
	if s.user == "" {
		s.user = user.ID // and s.unregister is nil: no sign-in before
		s.unregister = s.h.opts.Hub.Register(s.app.ID, user.ID, "", s)
	}
	s.c.Send(eventFrame("pusher:signin_success", "", objectData(struct {
		UserData string `json:"user_data"`
	}{d.UserData}), ""))
}

// refuse tells the client why and closes its connection with 4009.
func (s *session) refuse(message string) {
	s.c.Send(errorFrame(CloseUnauthorized, message))
	s.c.Close(CloseUnauthorized, "unauthorized")
}
