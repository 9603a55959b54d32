package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/pushgate/pushgate/inbox"
)

// Notification is what an application embedding a node sends to its own
// users with Notify: the fields of POST /v1/notifications.
type Notification struct {
	Title    string
	Message  string
	Priority int           // 1–10; 0 is the default, 5
	TTL      time.Duration // 0: inbox_max_age; whole seconds count
	Extras   json.RawMessage
	ImageURL string
	ClickURL string
}

// Notify stores n in the inboxes of userIDs of app appID (every user of the
// app when userIDs is nil) and delivers it at once to their connected
// devices on every node, as POST /v1/notifications does. It returns the
// notification's id and how many users it was stored for. An ImageURL is
// put on the node's image CDN first, as the API does (a failed image is
// logged, and n is sent without it). The node must be started.
func (s *Server) Notify(ctx context.Context, appID string, userIDs []string, n Notification) (id string, recipients int, err error) {
	nn := inbox.NewNotification{Title: n.Title, Message: n.Message, Extras: n.Extras, ImageURL: n.ImageURL, ClickURL: n.ClickURL}
	if n.Priority != 0 {
		nn.Priority = &n.Priority
	}
	if n.TTL > 0 {
		ttl := int64(n.TTL / time.Second)
		nn.TTL = &ttl
	}
	if userIDs != nil {
		nn.To = &inbox.Recipients{UserIDs: userIDs}
	}
	stored, counts, err := s.Inbox.Send(ctx, appID, nn)
	if err != nil {
		return "", 0, err
	}
	return stored.ID, counts.Recipients, nil
}
