package pusherproto

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/pushgate/pushgate"
)

// Limits of the HTTP API, as Pusher has them.
const (
	MaxTriggerChannels = 100
	MaxBatchEvents     = 10
	maxEventName       = 200
)

// Event is one event the HTTP API triggers.
type Event struct {
	Name     string
	Data     string
	Channels []string
	// SocketID, when set, is the connection that does not hear it.
	SocketID string
}

// Check says what is wrong with e (EINVALID, or ETOOLARGE for its data).
func (h *Handler) Check(e *Event) error {
	var problems []string
	if e.Name == "" || len(e.Name) > maxEventName {
		problems = append(problems, fmt.Sprintf("name: must be 1 to %d characters", maxEventName))
	}
	if n := len(e.Channels); n < 1 || n > MaxTriggerChannels {
		problems = append(problems, fmt.Sprintf("channels: must name 1 to %d channels", MaxTriggerChannels))
	}
	for _, c := range e.Channels {
		if p := validName(c); p != "" {
			problems = append(problems, "channels: "+p)
			break
		}
	}
	if e.SocketID != "" && !validSocketID(e.SocketID) {
		problems = append(problems, "socket_id: must be two numbers joined by a dot")
	}
	if len(problems) > 0 {
		return pushgate.Invalid("the event is invalid", problems...)
	}
	if len(e.Data) > h.opts.MaxEventBytes {
		return pushgate.Errorf(pushgate.ETOOLARGE, "data: must be at most %d bytes", h.opts.MaxEventBytes)
	}
	return nil
}

func validSocketID(id string) bool {
	a, b, ok := strings.Cut(id, ".")
	digits := func(s string) bool {
		return s != "" && len(s) <= 20 && strings.Trim(s, "0123456789") == ""
	}
	return ok && digits(a) && digits(b)
}

// Trigger sends checked events to their channels on every node: each
// frame is encoded once per channel, and a cache channel keeps it as its
// last event.
func (h *Handler) Trigger(ctx context.Context, appID string, events []Event) error {
	for i := range events {
		e := &events[i]
		data, _ := json.Marshal(e.Data)
		for _, c := range e.Channels {
			frame := eventFrame(e.Name, c, data, "")
			if isCache(c) {
				if err := h.opts.State.SetLast(ctx, appID, c, frame); err != nil {
					return &pushgate.Error{Code: pushgate.EUNAVAILABLE, Message: "the cache channel's event was not kept", Err: err}
				}
			}
			if err := h.opts.Hub.ToChannel(ctx, appID, c, e.SocketID, Frame(frame)); err != nil {
				return err
			}
		}
	}
	return nil
}

// ChannelInfo is what the HTTP API says of a channel.
type ChannelInfo struct {
	Occupied          bool `json:"occupied"`
	SubscriptionCount *int `json:"subscription_count,omitempty"`
	UserCount         *int `json:"user_count,omitempty"`
}

// Info reads a channel's state; user_count only for presence channels.
func (h *Handler) Info(ctx context.Context, appID, name string, subs, users bool) (ChannelInfo, error) {
	if p := validName(name); p != "" {
		return ChannelInfo{}, pushgate.Invalid("the channel name is invalid", "channel: "+p)
	}
	if users && kindOf(name) != presence {
		return ChannelInfo{}, pushgate.Invalid("user_count is only for presence channels", "info: user_count needs a presence- channel")
	}
	n, err := h.opts.State.Subscriptions(ctx, appID, name)
	if err != nil {
		return ChannelInfo{}, unavailable(err)
	}
	info := ChannelInfo{Occupied: n > 0}
	if subs {
		info.SubscriptionCount = &n
	}
	if users {
		m, err := h.opts.State.Members(ctx, appID, name)
		if err != nil {
			return ChannelInfo{}, unavailable(err)
		}
		count := len(m)
		info.UserCount = &count
	}
	return info, nil
}

// Channels lists the occupied channels whose name starts with prefix;
// user counts only when the prefix is presence-.
func (h *Handler) Channels(ctx context.Context, appID, prefix string, subs, users bool) (map[string]ChannelInfo, error) {
	if users && !strings.HasPrefix(prefix, "presence-") {
		return nil, pushgate.Invalid("user_count is only for presence channels", "info: user_count needs filter_by_prefix=presence-")
	}
	all, err := h.opts.State.Channels(ctx, appID, prefix)
	if err != nil {
		return nil, unavailable(err)
	}
	out := make(map[string]ChannelInfo, len(all))
	for name, n := range all {
		info := ChannelInfo{}
		if subs {
			info.SubscriptionCount = &n
		}
		if users {
			m, err := h.opts.State.Members(ctx, appID, name)
			if err != nil {
				return nil, unavailable(err)
			}
			count := len(m)
			info.UserCount = &count
		}
		out[name] = info
	}
	return out, nil
}

// Users lists a presence channel's user ids, sorted.
func (h *Handler) Users(ctx context.Context, appID, name string) ([]string, error) {
	if p := validName(name); p != "" {
		return nil, pushgate.Invalid("the channel name is invalid", "channel: "+p)
	}
	if kindOf(name) != presence {
		return nil, pushgate.Invalid("users are only listed for presence channels", "channel: must start with presence-")
	}
	m, err := h.opts.State.Members(ctx, appID, name)
	if err != nil {
		return nil, unavailable(err)
	}
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// TerminateUser closes every connection of a signed-in user, on every
// node, with 4009 (the client does not reconnect).
func (h *Handler) TerminateUser(ctx context.Context, appID, userID string) error {
	return h.opts.Hub.CloseUsers(ctx, appID, []string{userID}, CloseUnauthorized, "connections terminated")
}

func unavailable(err error) error {
	return &pushgate.Error{Code: pushgate.EUNAVAILABLE, Message: "the channels' state cannot be read now", Err: err}
}
