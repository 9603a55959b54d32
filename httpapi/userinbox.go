package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/inbox"
)

// The inbox routes act for the request's client token: its app and its
// user, never another's, whatever the path names.

func (h *Handler) listInbox(c *gin.Context) {
	t := currentToken(c)
	q := inbox.Query{AppID: t.AppID, UserID: t.UserID, Filter: inbox.FilterAll}
	var problems []string
	switch f := inbox.Filter(c.Query("status")); f {
	case "":
	case inbox.FilterUnseen, inbox.FilterSeen, inbox.FilterAll:
		q.Filter = f
	default:
		problems = append(problems, "status: must be unseen, seen or all")
	}
	q.Since = sinceQuery(c, &problems)
	q.Cursor, q.Limit = pageQuery(c, &problems)
	if len(problems) > 0 {
		h.writeError(c, pushgate.Invalid("the query is invalid", problems...))
		return
	}
	items, next, err := h.opts.Inbox.Inbox(c.Request.Context(), q)
	if err != nil {
		h.writeError(c, err)
		return
	}
	if items == nil {
		items = []*inbox.Item{}
	}
	c.JSON(http.StatusOK, gin.H{"items": items, "cursor": next})
}

func (h *Handler) getInboxItem(c *gin.Context) {
	id, err := pathID(c, "notificationId", "notification")
	if err != nil {
		h.writeError(c, err)
		return
	}
	t := currentToken(c)
	item, err := h.opts.Inbox.Item(c.Request.Context(), t.AppID, t.UserID, id)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, item)
}

// markInboxItem moves the user's state of a notification forward to
// status (never back: a read one stays read when acknowledged) and
// answers the item as it is now.
func (h *Handler) markInboxItem(status inbox.Status) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := pathID(c, "notificationId", "notification")
		if err != nil {
			h.writeError(c, err)
			return
		}
		t := currentToken(c)
		ctx := c.Request.Context()
		if _, err := h.opts.Inbox.Mark(ctx, t.AppID, t.UserID, []string{id}, status); err != nil {
			h.writeError(c, err)
			return
		}
		item, err := h.opts.Inbox.Item(ctx, t.AppID, t.UserID, id)
		if err != nil {
			h.writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, item)
	}
}

// deleteInboxItem takes a notification out of the user's inbox; one that
// is not in it (never was, already deleted, expired) is not found.
func (h *Handler) deleteInboxItem(c *gin.Context) {
	id, err := pathID(c, "notificationId", "notification")
	if err != nil {
		h.writeError(c, err)
		return
	}
	t := currentToken(c)
	changed, err := h.opts.Inbox.Mark(c.Request.Context(), t.AppID, t.UserID, []string{id}, inbox.StatusDeleted)
	if err != nil {
		h.writeError(c, err)
		return
	}
	if len(changed) == 0 {
		h.writeError(c, pushgate.NotFound("notification"))
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *Handler) readAll(c *gin.Context) {
	t := currentToken(c)
	n, err := h.opts.Inbox.ReadAll(c.Request.Context(), t.AppID, t.UserID)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"read": n})
}

func (h *Handler) unseenCount(c *gin.Context) {
	t := currentToken(c)
	n, err := h.opts.Inbox.Unseen(c.Request.Context(), t.AppID, t.UserID)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"count": n})
}
