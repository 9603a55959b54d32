package websocket

import (
	"context"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/providers"
)

// Inbox stores a CORE message for its one user (inbox.Service.SendCore).
type Inbox interface {
	SendCore(ctx context.Context, n *inbox.Notification) error
}

// Register makes the websocket credential type sendable through in. Every
// credential of the type shares one provider: it has nothing of its own.
func Register(r *providers.Registry, in Inbox) {
	p := New(in)
	r.Register(buckets.WebSocket, func(*buckets.Credential) (providers.Provider, error) { return p, nil }, nil)
}

// Provider stores messages into users' inboxes.
type Provider struct {
	inbox Inbox
}

// New returns a provider storing into in.
func New(in Inbox) *Provider { return &Provider{inbox: in} }

// Send renders m and stores it in its receiver's inbox.
func (p *Provider) Send(ctx context.Context, m *providers.Message) error {
	n, err := Render(m)
	if err != nil {
		return providers.Permanent(providers.ReasonInvalidPayload, 0, err)
	}
	err = p.inbox.SendCore(ctx, n)
	switch pushgate.ErrorCode(err) {
	case "":
		return nil
	case pushgate.ECONFLICT:
		// Stored by an earlier attempt whose outcome was not known.
		return nil
	case pushgate.EINVALID:
		return providers.Permanent(providers.ReasonInvalidPayload, 0, err)
	case pushgate.ENOTFOUND:
		// The app is gone: nothing will ever store it.
		return providers.Permanent(providers.ReasonBadCredentials, 0, err)
	}
	return providers.Transient(providers.ReasonUnavailable, 0, 0, err)
}

// Close releases nothing: the inbox outlives the provider.
func (p *Provider) Close() error { return nil }
