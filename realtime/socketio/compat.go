package socketio

import (
	"context"
	"encoding/json"

	"github.com/pushgate/pushgate/realtime"
)

// Publisher is what a push goes out through (realtime.Hub).
type Publisher interface {
	ToUsers(ctx context.Context, appID string, userIDs []string, m realtime.Message) error
}

// Compat is notification-server's REST API: the backend registers
// connectionIds and pushes to users (httpapi.CompatService).
type Compat struct {
	conns *Connections
	hub   Publisher
	app   func(ctx context.Context) (string, error)
	inbox Inbox
	keep  KeepOffline
}

// NewCompat makes the service; app names the compat app, keep says
// whether an app keeps pushes in its users' inboxes (in).
func NewCompat(conns *Connections, hub Publisher, app func(ctx context.Context) (string, error), in Inbox, keep KeepOffline) *Compat {
	return &Compat{conns: conns, hub: hub, app: app, inbox: in, keep: keep}
}

// App is the id of the app notification-server's routes serve.
func (c *Compat) App(ctx context.Context) (string, error) { return c.app(ctx) }

// Register records connID as userID's, for a socket's register.
func (c *Compat) Register(ctx context.Context, appID, userID, connID string) error {
	return c.conns.Register(ctx, appID, userID, connID)
}

// Push sends message to every session of userID, on every node: the
// user's Socket.IO tabs hear it as a `message` event. A user with no
// session misses it, as with notification-server, unless the app keeps
// pushes (compatKeepOffline): then it is stored in the user's inbox first,
// and a tab that registers later hears it. An error means other nodes may
// not have it; this node's sessions have it either way.
func (c *Compat) Push(ctx context.Context, appID, userID string, message json.RawMessage) error {
	if c.keep != nil {
		keepIt, err := c.keep(ctx, appID)
		if err != nil {
			return err
		}
		if keepIt {
			return keep(ctx, c.inbox, appID, userID, message)
		}
	}
	m, err := PushMessage(message)
	if err != nil {
		return err
	}
	return c.hub.ToUsers(ctx, appID, []string{userID}, m)
}
