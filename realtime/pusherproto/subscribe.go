package pusherproto

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
)

// MaxChannels bounds one connection's subscriptions, so that no client
// makes a node (and Redis) keep an unbounded list for it.
const MaxChannels = 1000

type subscribeData struct {
	Channel     string `json:"channel"`
	Auth        string `json:"auth"`
	ChannelData string `json:"channel_data"`
}

// presenceData is a presence subscription's channel_data: user_id may be
// a string or a number.
type presenceData struct {
	UserID   json.RawMessage `json:"user_id"`
	UserInfo json.RawMessage `json:"user_info"`
}

// subscribe answers pusher:subscribe: subscription_succeeded, or
// subscription_error for a bad name, signature or channel_data, or a full
// presence channel. Subscribing again to a channel is answered again.
func (s *session) subscribe(ctx context.Context, raw json.RawMessage) {
	d, ok := parseSubscribe(raw)
	if !ok {
		d = subscribeData{}
		ok = json.Unmarshal(raw, &d) == nil
	}
	if !ok {
		s.c.Send(errorFrame(0, "pusher:subscribe: data must be an object with a channel"))
		return
	}
	if p := validName(d.Channel); p != "" {
		s.c.Send(subscriptionError(truncate(d.Channel, MaxChannelName), "InvalidChannel", p, http.StatusBadRequest))
		return
	}
	if ch := s.find(d.Channel); ch != nil {
		s.succeeded(ctx, d.Channel, ch)
		return
	}
	if len(s.channels) >= MaxChannels {
		s.c.Send(subscriptionError(d.Channel, "LimitReached", "this connection has its maximum of channels", http.StatusForbidden))
		return
	}
	ch, problem := s.authorize(&d)
	if problem != "" {
		s.c.Send(subscriptionError(d.Channel, "AuthError", problem, http.StatusUnauthorized))
		return
	}
	added, err := s.join(ctx, d.Channel, ch, &d)
	if err != nil {
		return
	}
	s.channels = append(s.channels, ch)
	s.h.opts.Hub.Subscribe(s.app.ID, d.Channel, s)
	n, err := s.h.opts.State.Subscribed(ctx, s.app.ID, d.Channel)
	if err != nil {
		s.h.opts.Logger.Warn("pusher: counting a subscription", "app", s.app.ID, "err", err)
	}
	s.succeeded(ctx, d.Channel, ch)
	if err == nil {
		s.counted(ctx, d.Channel, ch, n, true)
	}
	if added {
		// After channel_occupied, as Pusher orders them.
		s.webhook(WebhookEvent{Name: "member_added", Channel: d.Channel, UserID: ch.member})
	}
	if isCache(d.Channel) {
		s.replayLast(ctx, d.Channel)
	}
}

// authorize checks a subscription's signature (private, encrypted and
// presence channels) or user (the user channel), and reads a presence
// channel's member; it returns what is wrong, or "".
func (s *session) authorize(d *subscribeData) (*channel, string) {
	ch := &channel{name: d.Channel, kind: kindOf(d.Channel)}
	switch ch.kind {
	case public:
		return ch, ""
	case userChannel:
		if s.user == "" || d.Channel != userChannelPrefix+s.user {
			return nil, "a user channel is only for its own signed-in user"
		}
		return ch, ""
	case presence:
		if !checkAuth(s.app, d.Auth, channelMessage(s.id, d.Channel, d.ChannelData)) {
			return nil, "invalid signature"
		}
		id, ok := memberID(d.ChannelData)
		if !ok {
			return nil, "channel_data must be a JSON object with a user_id"
		}
		ch.member = id
		return ch, ""
	}
	if !checkAuth(s.app, d.Auth, channelMessage(s.id, d.Channel, "")) {
		return nil, "invalid signature"
	}
	return ch, ""
}

// memberID reads user_id from channel_data (a string, or a number as
// written).
func memberID(channelData string) (string, bool) {
	var p presenceData
	if json.Unmarshal([]byte(channelData), &p) != nil || len(p.UserID) == 0 {
		return "", false
	}
	var id string
	if json.Unmarshal(p.UserID, &id) == nil {
		return id, id != ""
	}
	var n json.Number
	if json.Unmarshal(p.UserID, &n) == nil {
		return n.String(), true
	}
	return "", false
}

// join counts a presence member in, telling the channel when the user is
// new to it (first); a failure has been answered.
func (s *session) join(ctx context.Context, name string, ch *channel, d *subscribeData) (first bool, err error) {
	if ch.kind != presence {
		return false, nil
	}
	var p presenceData
	_ = json.Unmarshal([]byte(d.ChannelData), &p)
	first, err = s.h.opts.State.Join(ctx, s.app.ID, name, ch.member, p.UserInfo, s.h.opts.MemberLimit)
	switch {
	case errors.Is(err, ErrMemberLimit):
		s.c.Send(subscriptionError(name, "LimitReached", "the presence channel is full", http.StatusForbidden))
		return false, err
	case err != nil:
		s.h.opts.Logger.Warn("pusher: presence join", "app", s.app.ID, "err", err)
		s.c.Send(subscriptionError(name, "ServerError", "the server could not subscribe now; try again", http.StatusServiceUnavailable))
		return false, err
	}
	if first {
		data := stringData(struct {
			UserID   string          `json:"user_id"`
			UserInfo json.RawMessage `json:"user_info,omitempty"`
		}{ch.member, p.UserInfo})
		s.publish(ctx, name, s.id, eventFrame("pusher_internal:member_added", name, data, ""))
	}
	return first, nil
}

// succeeded sends subscription_succeeded, with the members of a presence
// channel.
func (s *session) succeeded(ctx context.Context, name string, ch *channel) {
	data := json.RawMessage(`"{}"`)
	if ch.kind == presence {
		members, err := s.h.opts.State.Members(ctx, s.app.ID, name)
		if err != nil {
			s.h.opts.Logger.Warn("pusher: presence members", "app", s.app.ID, "err", err)
		}
		data = stringData(presenceOf(members))
	}
	s.c.Send(eventFrame("pusher_internal:subscription_succeeded", name, data, ""))
}

type presenceList struct {
	Presence struct {
		IDs   []string                   `json:"ids"`
		Hash  map[string]json.RawMessage `json:"hash"`
		Count int                        `json:"count"`
	} `json:"presence"`
}

func presenceOf(members map[string]json.RawMessage) presenceList {
	var p presenceList
	p.Presence.IDs = make([]string, 0, len(members))
	p.Presence.Hash = make(map[string]json.RawMessage, len(members))
	for id, info := range members {
		p.Presence.IDs = append(p.Presence.IDs, id)
		p.Presence.Hash[id] = info
	}
	p.Presence.Count = len(members)
	return p
}

// replayLast sends a cache channel's last event, or pusher:cache_miss.
func (s *session) replayLast(ctx context.Context, name string) {
	frame, err := s.h.opts.State.Last(ctx, s.app.ID, name)
	if err != nil {
		s.h.opts.Logger.Warn("pusher: cache channel", "app", s.app.ID, "err", err)
	}
	if frame == nil {
		frame = eventFrame("pusher:cache_miss", name, nil, "")
		if err == nil {
			s.webhook(WebhookEvent{Name: "cache_miss", Channel: name})
		}
	}
	s.c.Send(frame)
}

// unsubscribeFrame answers pusher:unsubscribe (nothing is sent back).
func (s *session) unsubscribeFrame(ctx context.Context, raw json.RawMessage) {
	var d subscribeData
	if json.Unmarshal(raw, &d) != nil || d.Channel == "" {
		s.c.Send(errorFrame(0, "pusher:unsubscribe: data must be an object with a channel"))
		return
	}
	if ch := s.find(d.Channel); ch != nil {
		s.drop(ch)
		s.leave(ctx, d.Channel, ch)
	}
}

// leave takes the session out of a channel, here and in the shared
// counts, telling a presence channel when its user's last connection left.
// The member leaves before the count drops, so that member_removed comes
// before channel_vacated, as Pusher orders them.
func (s *session) leave(ctx context.Context, name string, ch *channel) {
	s.h.opts.Hub.Unsubscribe(s.app.ID, name, s)
	if ch.kind == presence {
		s.leavePresence(ctx, name, ch)
	}
	if n, err := s.h.opts.State.Unsubscribed(ctx, s.app.ID, name); err != nil {
		s.h.opts.Logger.Warn("pusher: counting an unsubscription", "app", s.app.ID, "err", err)
	} else {
		s.counted(ctx, name, ch, n, false)
	}
}

func (s *session) leavePresence(ctx context.Context, name string, ch *channel) {
	last, err := s.h.opts.State.Leave(ctx, s.app.ID, name, ch.member)
	if err != nil {
		s.h.opts.Logger.Warn("pusher: presence leave", "app", s.app.ID, "err", err)
		return
	}
	if last {
		data := stringData(struct {
			UserID string `json:"user_id"`
		}{ch.member})
		s.publish(ctx, name, "", eventFrame("pusher_internal:member_removed", name, data, ""))
		s.webhook(WebhookEvent{Name: "member_removed", Channel: name, UserID: ch.member})
	}
}

// publish sends a frame to a channel on every node.
func (s *session) publish(ctx context.Context, channel, except string, frame []byte) {
	if err := s.h.opts.Hub.ToChannel(ctx, s.app.ID, channel, except, Frame(frame)); err != nil {
		s.h.opts.Logger.Warn("pusher: publishing to other nodes", "app", s.app.ID, "err", err)
	}
}
