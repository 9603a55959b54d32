package socketio

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/pushgate/pushgate/inbox"
)

// Inbox is what keeping pushes for offline users needs of the user's
// inbox (inbox.Service).
type Inbox interface {
	Send(ctx context.Context, appID string, nn inbox.NewNotification) (*inbox.Notification, inbox.Counts, error)
	Inbox(ctx context.Context, q inbox.Query) ([]*inbox.Item, string, error)
	Mark(ctx context.Context, appID, userID string, ids []string, status inbox.Status) ([]*inbox.Item, error)
}

// KeepOffline says whether an app keeps pushes for users with no open
// session (its compatKeepOffline setting).
type KeepOffline func(ctx context.Context, appID string) (bool, error)

// compatTitle is the title of a kept push in the inbox, whose
// notifications need one; the pushed JSON is in extras.compatMessage.
const compatTitle = "notification-server push"

// keptExtras is a kept push's extras.
type keptExtras struct {
	CompatMessage json.RawMessage `json:"compatMessage"`
}

// keep stores message in userID's inbox: the inbox tells the hub, whose
// Socket.IO sessions emit the message itself (and /v1/ws sessions show a
// notification with the message in extras).
func keep(ctx context.Context, in Inbox, appID, userID string, message json.RawMessage) error {
	extras, err := json.Marshal(keptExtras{CompatMessage: message})
	if err != nil {
		return err
	}
	_, _, err = in.Send(ctx, appID, inbox.NewNotification{Title: compatTitle, Extras: extras,
		To: &inbox.Recipients{UserIDs: []string{userID}}})
	return err
}

// emitted is what a Socket.IO tab emits of a stored notification (its
// payload as /v1/ws shows it): a kept push's message, or the notification.
func emitted(notification json.RawMessage) (id string, message json.RawMessage) {
	var n struct {
		ID     string          `json:"id"`
		Extras json.RawMessage `json:"extras"`
	}
	if json.Unmarshal(notification, &n) != nil {
		return "", notification
	}
	var x keptExtras
	if len(n.Extras) > 0 && json.Unmarshal(n.Extras, &x) == nil && len(x.CompatMessage) > 0 {
		return n.ID, x.CompatMessage
	}
	return n.ID, notification
}

// A rendered frame is "<notification id>\n<Socket.IO packet>": the id
// (empty for a push) lets a session mark what it emitted delivered, as a
// /v1/ws client acknowledges it, so that the next register does not replay
// it. The packet is the `message` event of message on the main namespace,
// encoded as the library would ("2" and the JSON array ["message", ...]),
// once for every socket that hears it: Send writes it as it is.
func frameOf(id string, message json.RawMessage) ([]byte, error) {
	args, err := json.Marshal([]any{"message", message})
	if err != nil {
		return nil, fmt.Errorf("socketio: a message that is not JSON: %w", err)
	}
	return append(append([]byte(id), '\n', eventPacket), args...), nil
}

// eventPacket is Socket.IO's EVENT packet type, as its encoder writes it.
const eventPacket = '2'

func splitFrame(frame []byte) (id string, message []byte) {
	i := bytes.IndexByte(frame, '\n')
	if i < 0 {
		return "", frame
	}
	return string(frame[:i]), frame[i+1:]
}

// replay emits userID's notifications that no device has had, oldest
// first (at most replayLimit), and marks them delivered.
func replay(ctx context.Context, in Inbox, appID, userID string, emit func(json.RawMessage)) error {
	items, _, err := in.Inbox(ctx, inbox.Query{AppID: appID, UserID: userID, Filter: inbox.FilterUnseen, Oldest: true, Limit: replayLimit})
	if err != nil {
		return err
	}
	var ids []string
	for _, it := range items {
		if it.Status != inbox.StatusUnseen {
			continue
		}
		b, err := json.Marshal(notificationPayload(&it.Notification))
		if err != nil {
			continue
		}
		_, m := emitted(b)
		emit(m)
		ids = append(ids, it.ID)
	}
	if len(ids) == 0 {
		return nil
	}
	_, err = in.Mark(ctx, appID, userID, ids, inbox.StatusDelivered)
	return err
}

const replayLimit = 100

// notificationPayload is a notification as the hub carries it
// (inboxproto.NotificationOf's fields).
func notificationPayload(n *inbox.Notification) map[string]any {
	p := map[string]any{"id": n.ID, "title": n.Title, "message": n.Message, "priority": n.Priority, "createdAt": n.CreatedAt}
	if len(n.Extras) > 0 {
		p["extras"] = n.Extras
	}
	if n.ImageURL != "" {
		p["imageUrl"] = n.ImageURL
	}
	if n.ClickURL != "" {
		p["clickUrl"] = n.ClickURL
	}
	return p
}
