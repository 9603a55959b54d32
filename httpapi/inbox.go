package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/inbox"
)

// InboxService is what the API needs of the inbox (inbox.Service): client
// tokens, notifications and one user's inbox.
type InboxService interface {
	CreateToken(ctx context.Context, appID, userID, name string) (*inbox.Token, string, error)
	// Authenticate returns the token for value, or EUNAUTHORIZED.
	Authenticate(ctx context.Context, value string) (*inbox.Token, error)
	ListTokens(ctx context.Context, appID, userID, cursor string, limit int) ([]*inbox.Token, string, error)
	DeleteToken(ctx context.Context, appID, id string) error

	Send(ctx context.Context, appID string, n inbox.NewNotification) (*inbox.Notification, inbox.Counts, error)
	Get(ctx context.Context, appID, id string) (*inbox.Notification, inbox.Counts, error)
	List(ctx context.Context, appID, cursor string, limit int) ([]*inbox.Notification, []inbox.Counts, string, error)
	Delete(ctx context.Context, appID, id string) error

	Inbox(ctx context.Context, q inbox.Query) ([]*inbox.Item, string, error)
	Item(ctx context.Context, appID, userID, id string) (*inbox.Item, error)
	Mark(ctx context.Context, appID, userID string, ids []string, status inbox.Status) ([]*inbox.Item, error)
	ReadAll(ctx context.Context, appID, userID string) (int, error)
	Unseen(ctx context.Context, appID, userID string) (int, error)
}

// routeInbox adds the client token and notification routes (API key, on
// core) and one user's inbox (client token, on client). POST
// /v1/notifications takes either credential, so it is on client with a
// check of its own.
func (h *Handler) routeInbox(core, client *gin.RouterGroup) {
	limit := h.appLimit()
	tokens := core.Group("/tokens", limit)
	tokens.POST("", h.createToken)
	tokens.GET("", h.listTokens)
	tokens.DELETE("/:tokenId", h.deleteToken)
	client.POST("/notifications", h.authenticateEither, limit, h.sendNotification)
	notes := core.Group("/notifications", limit)
	notes.GET("", h.listNotifications)
	notes.GET("/:notificationId", h.getNotification)
	notes.DELETE("/:notificationId", h.deleteNotification)

	for _, p := range []string{"/notifications", "/inbox", "/inbox/unseen-count", "/inbox/read-all",
		"/inbox/:notificationId", "/inbox/:notificationId/delivered", "/inbox/:notificationId/read"} {
		client.OPTIONS(p, clientPreflight)
	}
	in := client.Group("/inbox", h.requireClientToken, limit)
	in.GET("", h.listInbox)
	in.GET("/unseen-count", h.unseenCount)
	in.POST("/read-all", h.readAll)
	in.GET("/:notificationId", h.getInboxItem)
	in.DELETE("/:notificationId", h.deleteInboxItem)
	in.POST("/:notificationId/delivered", h.markInboxItem(inbox.StatusDelivered))
	in.POST("/:notificationId/read", h.markInboxItem(inbox.StatusRead))
}

// clientPreflight answers a browser's CORS preflight of the client-token
// routes: any origin, with a client token in Authorization (or the app in
// X-Pushgate-App) and a JSON body.
//
// A preflight carries no credentials and no header values, so it cannot
// tell whether the request will use the app's cookies: it lets any origin
// send one (Access-Control-Allow-Credentials), and the request itself is
// refused (403) unless its Origin is one of the app's allowedOrigins.
func clientPreflight(c *gin.Context) {
	if origin := c.GetHeader("Origin"); origin != "" {
		c.Header("Access-Control-Allow-Origin", origin)
		c.Header("Access-Control-Allow-Credentials", "true")
	}
	c.Header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	c.Header("Access-Control-Allow-Headers", "Authorization, Content-Type, "+appHeader)
	c.Header("Access-Control-Max-Age", "86400")
	c.AbortWithStatus(http.StatusNoContent)
}

// clientTokenPrefix starts every client token (inbox tokens are "pgt_"
// and 43 base64url characters), as apps.APIKeyPrefix starts every API
// key: the two credentials are told apart by it.
const clientTokenPrefix = "pgt_"

// maxCredential bounds a credential worth looking up.
const maxCredential = 100

const ctxClientToken = "pushgate.client_token"

// currentToken is the client token the request came with, or nil when it
// came with an API key.
func currentToken(c *gin.Context) *inbox.Token {
	t, _ := c.Get(ctxClientToken)
	tok, _ := t.(*inbox.Token)
	return tok
}

var (
	errNoClientToken = &pushgate.Error{Code: pushgate.EUNAUTHORIZED,
		Message: "missing client token: send it as \"Authorization: Bearer <token>\" or ?token=<token>"}
	errBadClientToken = &pushgate.Error{Code: pushgate.EUNAUTHORIZED, Message: "invalid or revoked client token"}
	errAPIKeyNotToken = &pushgate.Error{Code: pushgate.EUNAUTHORIZED,
		Message: "this route takes a client token, not an API key: create one with POST /v1/tokens"}
)

// clientTokenOf finds a client token: "Authorization: Bearer <token>",
// else the token query parameter (for clients that cannot set headers).
// An Authorization header of another scheme is no token, never none.
func clientTokenOf(r *http.Request) (string, error) {
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	switch {
	case len(auth) > 7 && strings.EqualFold(auth[:7], "bearer "):
		return strings.TrimSpace(auth[7:]), nil
	case auth != "":
		return "", errBadClientToken
	}
	return r.URL.Query().Get("token"), nil
}

// authenticateToken returns the client token value opens.
func (h *Handler) authenticateToken(ctx context.Context, value string) (*inbox.Token, error) {
	switch {
	case value == "":
		return nil, errNoClientToken
	case strings.HasPrefix(value, apps.APIKeyPrefix):
		return nil, errAPIKeyNotToken
	case !strings.HasPrefix(value, clientTokenPrefix) || len(value) > maxCredential:
		return nil, errBadClientToken
	}
	t, err := h.opts.Inbox.Authenticate(ctx, value)
	switch pushgate.ErrorCode(err) {
	case "":
		return t, nil
	case pushgate.ENOTFOUND, pushgate.EINVALID, pushgate.EUNAUTHORIZED:
		return nil, errBadClientToken
	default:
		return nil, err
	}
}

// requireClientToken lets through requests with a valid client token.
// A request that names its app and has no client token is authenticated
// by the app's connectAuthUrl instead (SSE clients act over these routes).
func (h *Handler) requireClientToken(c *gin.Context) {
	t, err := h.identify(c, false)
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Set(ctxClientToken, t)
	c.Next()
}

// clientToken is the client token r came with. An API key in any of its
// places is refused as such, even beside a client token.
func (h *Handler) clientToken(r *http.Request) (*inbox.Token, error) {
	if strings.HasPrefix(apiKeyOf(r), apps.APIKeyPrefix) {
		return nil, errAPIKeyNotToken
	}
	v, err := clientTokenOf(r)
	if err != nil {
		return nil, err
	}
	return h.authenticateToken(r.Context(), v)
}

// authenticateEither takes a client token (one starting with "pgt_", in
// any place an API key or a client token may be) or else an API key.
func (h *Handler) authenticateEither(c *gin.Context) {
	v := apiKeyOf(c.Request)
	if v == "" && c.Request.Header.Get("Authorization") == "" {
		v = c.Query("token")
	}
	if strings.HasPrefix(v, clientTokenPrefix) {
		t, err := h.authenticateToken(c.Request.Context(), v)
		if err != nil {
			h.writeError(c, err)
			return
		}
		c.Set(ctxClientToken, t)
		c.Next()
		return
	}
	h.authenticate(c)
}

// defaultPageSize is a page's length when the query names none.
const defaultPageSize = 20

// maxCursor bounds a cursor worth passing on: the service's are far
// shorter.
const maxCursor = 512

// pageQuery reads cursor and limit, adding what is wrong to problems.
func pageQuery(c *gin.Context, problems *[]string) (cursor string, limit int) {
	cursor, limit = c.Query("cursor"), defaultPageSize
	if len(cursor) > maxCursor {
		*problems = append(*problems, "cursor: is not a cursor of this list")
	}
	if v, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > inbox.MaxPageSize {
			*problems = append(*problems, "limit: must be a whole number from 1 to "+strconv.Itoa(inbox.MaxPageSize))
		}
		limit = n
	}
	return cursor, limit
}

// pathID is the id in the path parameter name, or a not-found error
// naming what: ids are pushgate ids, and anything else names nothing.
func pathID(c *gin.Context, name, what string) (string, error) {
	id := c.Param(name)
	if !pushgate.ValidID(id) {
		return "", pushgate.NotFound(what)
	}
	return id, nil
}

// sinceQuery reads the inbox's since parameter (RFC 3339).
func sinceQuery(c *gin.Context, problems *[]string) time.Time {
	v := c.Query("since")
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		*problems = append(*problems, "since: must be an RFC 3339 time, such as 2026-01-02T15:04:05Z")
	}
	return t
}

// appLimit bounds the requests one app makes to the notification, token
// and inbox routes (Options.AppRatePerMinute, Datonow's 600 a minute by
// default), whether with an API key or its users' client tokens. It runs
// after authentication, which names the app.
func (h *Handler) appLimit() gin.HandlerFunc {
	perMinute := h.opts.AppRatePerMinute
	if perMinute <= 0 {
		return func(c *gin.Context) { c.Next() }
	}
	l := newIPLimiter(perMinute/60, int(max(1, perMinute)))
	return h.limitBy(l, requestApp, fmt.Sprintf("too many requests for this app; at most %s a minute", strconv.FormatFloat(perMinute, 'f', -1, 64)))
}

// requestApp is the id of the app the request authenticated as.
func requestApp(c *gin.Context) string {
	if t := currentToken(c); t != nil {
		return t.AppID
	}
	return currentApp(c).ID
}
