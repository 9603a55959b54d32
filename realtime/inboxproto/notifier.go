package inboxproto

import (
	"context"
	"log/slog"

	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/realtime"
)

// Publisher is what the Notifier publishes through (realtime.Hub).
type Publisher interface {
	ToUsers(ctx context.Context, appID string, userIDs []string, m realtime.Message) error
	ToApp(ctx context.Context, appID string, m realtime.Message) error
	CloseToken(ctx context.Context, appID, tokenID string, code int, reason string) error
}

// Counter is the unseen count the Notifier reads (inbox.Service).
type Counter interface {
	Unseen(ctx context.Context, appID, userID string) (int, error)
}

// Notifier tells connected devices what changed in the inbox: it is the
// inbox.Listener the server gives the inbox service. New notifications
// and retractions go to their users (or the whole app, for a broadcast);
// a user's own change (ack, read, read-all, delete) sends that user's new
// unseen count to all of the user's sessions; a deleted token's sessions
// close with 4003.
type Notifier struct {
	hub    Publisher
	counts Counter
	log    *slog.Logger
}

// NewNotifier makes a Notifier.
func NewNotifier(hub Publisher, counts Counter, log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{hub: hub, counts: counts, log: log}
}

var _ inbox.Listener = (*Notifier)(nil)

// Stored publishes n. Each session counts it into its user's unseen count
// itself (a new notification is unread), so a broadcast costs no query
// per user.
func (no *Notifier) Stored(ctx context.Context, n *inbox.Notification, users []string) {
	m, err := Message(TypeNotification, NotificationOf(n))
	if err == nil {
		err = no.to(ctx, n.AppID, users, m)
	}
	no.warn(err, "notification", n.AppID)
}

// Changed sends the user's unseen count to every session of the user.
func (no *Notifier) Changed(ctx context.Context, appID, userID string, _ []*inbox.Item) {
	no.sendCount(ctx, appID, userID)
}

// Retracted tells n's users it is gone, and their new unseen counts: each
// targeted user's, or for a broadcast a recount by every session.
func (no *Notifier) Retracted(ctx context.Context, n *inbox.Notification, users []string) {
	m, err := Message(TypeRetracted, idPayload{ID: n.ID})
	if err == nil {
		err = no.to(ctx, n.AppID, users, m)
	}
	no.warn(err, "retraction", n.AppID)
	if users == nil {
		no.warn(no.hub.ToApp(ctx, n.AppID, realtime.Message{Type: typeRecount}), "recount", n.AppID)
		return
	}
	for _, u := range users {
		no.sendCount(ctx, n.AppID, u)
	}
}

// TokenRevoked closes the token's sessions on every node.
func (no *Notifier) TokenRevoked(ctx context.Context, t *inbox.Token) {
	no.warn(no.hub.CloseToken(ctx, t.AppID, t.ID, realtime.CloseRevoked, "client token revoked"), "revocation", t.AppID)
}

func (no *Notifier) sendCount(ctx context.Context, appID, userID string) {
	count, err := no.counts.Unseen(ctx, appID, userID)
	if err != nil {
		no.warn(err, "unseen count", appID)
		return
	}
	m, err := Message(TypeUnseen, countPayload{Count: count})
	if err == nil {
		err = no.hub.ToUsers(ctx, appID, []string{userID}, m)
	}
	no.warn(err, "unseen count", appID)
}

func (no *Notifier) to(ctx context.Context, appID string, users []string, m realtime.Message) error {
	if users == nil {
		return no.hub.ToApp(ctx, appID, m)
	}
	return no.hub.ToUsers(ctx, appID, users, m)
}

// warn logs a publication that failed: the change is stored, and devices
// find it in the inbox when they next look.
func (no *Notifier) warn(err error, what, appID string) {
	if err != nil {
		no.log.Warn("realtime: publish "+what, "app", appID, "err", err)
	}
}
