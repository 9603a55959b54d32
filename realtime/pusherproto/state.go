package pusherproto

import (
	"context"
	"encoding/json"
	"errors"
)

// State is what every node must know of an app's channels: subscription
// counts, presence members, cache channels' last events. RedisState keeps
// it in the Redis all nodes share.
type State interface {
	// Subscribed and Unsubscribed count one subscription of channel more
	// or less and return the count on every node after it: a channel is
	// occupied while its count is above zero, so 1 after Subscribed is its
	// occupation and 0 after Unsubscribed its vacation, seen by one node.
	Subscribed(ctx context.Context, appID, channel string) (int, error)
	Unsubscribed(ctx context.Context, appID, channel string) (int, error)
	// Join counts one more connection of userID in a presence channel and
	// reports whether it is the user's first (a member_added); limit bounds
	// the channel's members (ErrMemberLimit). Leave counts one less and
	// reports whether it was the user's last (a member_removed).
	Join(ctx context.Context, appID, channel, userID string, info json.RawMessage, limit int) (first bool, err error)
	Leave(ctx context.Context, appID, channel, userID string) (last bool, err error)
	// Members are a presence channel's users and their user_info.
	Members(ctx context.Context, appID, channel string) (map[string]json.RawMessage, error)
	// Channels are the occupied channels whose names start with prefix,
	// with their subscription counts.
	Channels(ctx context.Context, appID, prefix string) (map[string]int, error)
	// Subscriptions counts channel's subscriptions on every node.
	Subscriptions(ctx context.Context, appID, channel string) (int, error)
	// SetLast keeps a cache channel's last event; Last returns it (nil
	// when there is none).
	SetLast(ctx context.Context, appID, channel string, frame []byte) error
	Last(ctx context.Context, appID, channel string) ([]byte, error)
	// Heartbeat says this node is alive; Reap takes out what the nodes
	// that stopped saying so counted, and returns the presence members
	// whose last connection was there and the channels whose last
	// subscriptions were (a Member with no UserID); Forget takes this node
	// out once its connections ended.
	Heartbeat(ctx context.Context) error
	Reap(ctx context.Context) ([]Member, error)
	Forget(ctx context.Context) ([]Member, error)
}

// ErrMemberLimit is what Join returns when a presence channel is full.
var ErrMemberLimit = errors.New("pusherproto: the presence channel has its maximum of members")
