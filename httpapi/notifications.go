package httpapi

import (
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/inbox"
)

// clientTokenJSON is a client token as the API shows it; Token, the
// value, only in the answer that created it.
type clientTokenJSON struct {
	ID        string    `json:"id"`
	Token     string    `json:"token,omitempty"`
	UserID    string    `json:"userId"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

func toClientTokenJSON(t *inbox.Token) clientTokenJSON {
	return clientTokenJSON{ID: t.ID, UserID: t.UserID, Name: t.Name, CreatedAt: t.CreatedAt}
}

func (h *Handler) createToken(c *gin.Context) {
	var req struct {
		Name   string `json:"name"`
		UserID string `json:"userId"`
	}
	if err := decodeJSON(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	t, value, err := h.opts.Inbox.CreateToken(c.Request.Context(), currentApp(c).ID, req.UserID, req.Name)
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := toClientTokenJSON(t)
	out.Token = value
	c.JSON(http.StatusCreated, out)
}

func (h *Handler) listTokens(c *gin.Context) {
	var problems []string
	cursor, limit := pageQuery(c, &problems)
	if len(problems) > 0 {
		h.writeError(c, pushgate.Invalid("the query is invalid", problems...))
		return
	}
	list, next, err := h.opts.Inbox.ListTokens(c.Request.Context(), currentApp(c).ID, c.Query("userId"), cursor, limit)
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := make([]clientTokenJSON, len(list))
	for i, t := range list {
		out[i] = toClientTokenJSON(t)
	}
	c.JSON(http.StatusOK, gin.H{"tokens": out, "cursor": next})
}

func (h *Handler) deleteToken(c *gin.Context) {
	id, err := pathID(c, "tokenId", "client token")
	if err == nil {
		err = h.opts.Inbox.DeleteToken(c.Request.Context(), currentApp(c).ID, id)
	}
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// notificationJSON is a notification as its app sees it, with its
// aggregate counts.
type notificationJSON struct {
	*inbox.Notification
	Broadcast bool         `json:"broadcast"`
	UserIDs   []string     `json:"userIds,omitempty"`
	Counts    inbox.Counts `json:"counts"`
}

func toNotificationJSON(n *inbox.Notification, counts inbox.Counts) notificationJSON {
	return notificationJSON{Notification: n, Broadcast: n.Broadcast, UserIDs: n.UserIDs, Counts: counts}
}

var errOtherUsers = pushgate.Errorf(pushgate.EFORBIDDEN,
	"a client token sends to its own user only: leave out \"to\", or name only the token's user")

// sendNotification stores a notification, once its image is on the CDN
// (inbox.Service.Send waits for it). With an API key it goes to the users
// of "to", or to every user of the app; with a client token, to the
// token's own user only.
func (h *Handler) sendNotification(c *gin.Context) {
	var req inbox.NewNotification
	if err := decodeJSON(c, &req); err != nil {
		h.writeError(c, err)
		return
	}
	var appID string
	if t := currentToken(c); t != nil {
		if req.To != nil && slices.ContainsFunc(req.To.UserIDs, func(u string) bool { return u != t.UserID }) {
			h.writeError(c, errOtherUsers)
			return
		}
		appID, req.To = t.AppID, &inbox.Recipients{UserIDs: []string{t.UserID}}
	} else {
		appID = currentApp(c).ID
	}
	n, counts, err := h.opts.Inbox.Send(c.Request.Context(), appID, req)
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := gin.H{"id": n.ID, "recipients": counts.Recipients}
	if n.ImageError != "" {
		out["imageError"] = n.ImageError // stored and delivered without the image
	}
	c.JSON(http.StatusCreated, out)
}

func (h *Handler) listNotifications(c *gin.Context) {
	var problems []string
	cursor, limit := pageQuery(c, &problems)
	if len(problems) > 0 {
		h.writeError(c, pushgate.Invalid("the query is invalid", problems...))
		return
	}
	list, counts, next, err := h.opts.Inbox.List(c.Request.Context(), currentApp(c).ID, cursor, limit)
	if err != nil {
		h.writeError(c, err)
		return
	}
	out := make([]notificationJSON, len(list))
	for i, n := range list {
		var ct inbox.Counts
		if i < len(counts) {
			ct = counts[i]
		}
		out[i] = toNotificationJSON(n, ct)
	}
	c.JSON(http.StatusOK, gin.H{"notifications": out, "cursor": next})
}

func (h *Handler) getNotification(c *gin.Context) {
	id, err := pathID(c, "notificationId", "notification")
	if err != nil {
		h.writeError(c, err)
		return
	}
	n, counts, err := h.opts.Inbox.Get(c.Request.Context(), currentApp(c).ID, id)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, toNotificationJSON(n, counts))
}

func (h *Handler) deleteNotification(c *gin.Context) {
	id, err := pathID(c, "notificationId", "notification")
	if err == nil {
		err = h.opts.Inbox.Delete(c.Request.Context(), currentApp(c).ID, id)
	}
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
