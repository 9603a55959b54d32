package pusherproto

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"strings"
)

// WebhookEvent is one of Pusher's channel webhook events, with its
// fields as Pusher names them: Name is channel_occupied, channel_vacated,
// member_added, member_removed, client_event or cache_miss.
type WebhookEvent struct {
	Name, Channel string
	// UserID is a member event's user, or a presence client event's sender.
	UserID string
	// Event, Data and SocketID are a client event's.
	Event, Data, SocketID string
}

// Webhooks takes the channel webhook events of apps; Record must return
// at once (the server queues them for the webhooks package to store,
// batch and deliver).
type Webhooks interface {
	Record(appID string, e WebhookEvent)
}

// webhook reports an event of the session's app when the app has a
// channel webhook. The users' own channels (#server-to-user-...) are
// pusher-js's plumbing for sign-in, not the app's channels: not reported.
func (s *session) webhook(e WebhookEvent) {
	if s.app.Webhooks && s.h.opts.Webhooks != nil && !strings.HasPrefix(e.Channel, "#") {
		s.h.opts.Webhooks.Record(s.app.ID, e)
	}
}

// counted follows a change of a channel's subscription count to n (on
// every node): occupied at 1 after a subscription, vacated at 0 after an
// unsubscription (one node sees each, since Redis counts atomically),
// and, when the app asks for it, the new count to the channel's
// subscribers (not on presence channels, which have their member count,
// nor on a signed-in user's own channel).
func (s *session) counted(ctx context.Context, name string, ch *channel, n int, subscribed bool) {
	switch {
	case subscribed && n == 1:
		s.webhook(WebhookEvent{Name: "channel_occupied", Channel: name})
	case !subscribed && n == 0:
		s.webhook(WebhookEvent{Name: "channel_vacated", Channel: name})
	}
	if s.app.SubscriptionCount && ch.kind != presence && ch.kind != userChannel && n > 0 {
		s.publishCount(ctx, name)
	}
}

// publishCount sends a channel's subscription count to its subscribers.
// Two changes that come at once are published in turn, each with the
// count read when it is published, never the count its change returned:
// otherwise the first change's count could go out after the second's, and
// clients would be left with a count that is no longer true.
func (s *session) publishCount(ctx context.Context, name string) {
	h := fnv.New32a()
	h.Write([]byte(s.app.ID + "\x00" + name))
	mu := &s.h.counts[h.Sum32()%uint32(len(s.h.counts))]
	mu.Lock()
	defer mu.Unlock()
	n, err := s.h.opts.State.Subscriptions(ctx, s.app.ID, name)
	if err != nil || n == 0 {
		return
	}
	data := stringData(struct {
		Count int `json:"subscription_count"`
	}{n})
	s.publish(ctx, name, "", eventFrame("pusher_internal:subscription_count", name, data, ""))
}

// clientEventData is a client event's data as a webhook carries it: a
// string as it is, anything else as its JSON text.
func clientEventData(raw json.RawMessage) string {
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str
	}
	return string(raw)
}
