package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/inbox"
)

// ConnectAuthenticator asks an app who a connection without a client token
// is (inbox.ConnectAuth): it calls authURL with the request's Cookie and
// Authorization values and returns the user the app admits, EUNAUTHORIZED
// when it admits none, or EUNAVAILABLE (with a RetryAfter) when authURL
// cannot be reached.
type ConnectAuthenticator interface {
	Authenticate(ctx context.Context, appID, authURL, cookie, authorization string) (string, error)
}

// appHeader names the app of a request authenticated by the app's
// connectAuthUrl, where the app query parameter cannot go.
const appHeader = "X-Pushgate-App"

// maxAppRef bounds an app reference worth looking up: public keys are 20
// characters, app ids 36.
const maxAppRef = 64

var (
	errUnknownApp = &pushgate.Error{Code: pushgate.EUNAUTHORIZED,
		Message: "no app has this key: app must be the key of GET /v1/app (or the app's id)"}
	errNoConnectAuth = &pushgate.Error{Code: pushgate.EUNAUTHORIZED,
		Message: "missing client token: this app has no connectAuthUrl, so its connections need a client token"}
	errOriginRefused = &pushgate.Error{Code: pushgate.EFORBIDDEN,
		Message: "this Origin is not one of the app's allowedOrigins; connections authenticated by the app's cookies are accepted only from them"}
)

// appRefOf is the app a request names for delegated authentication: the
// app query parameter, else the X-Pushgate-App header.
func appRefOf(r *http.Request) string {
	if v := r.URL.Query().Get("app"); v != "" {
		return v
	}
	return r.Header.Get(appHeader)
}

// delegating reports whether r is to be authenticated by its app's
// connectAuthUrl: it names an app and carries no client token (a bearer
// "pgt_" token, ?token=, or on a WebSocket a token. subprotocol). An
// Authorization header of any other kind is the app's, forwarded to it.
func (h *Handler) delegating(r *http.Request, ws bool) bool {
	if h.opts.ConnectAuth == nil || appRefOf(r) == "" || r.URL.Query().Get("token") != "" {
		return false
	}
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") && strings.HasPrefix(strings.TrimSpace(auth[7:]), clientTokenPrefix) {
		return false
	}
	if ws && wsProtocolTokenOf(r) != "" {
		return false
	}
	return true
}

// delegated authenticates r through its app's connectAuthUrl and returns
// a token without id (the user has no client token) naming the app and
// the user, and the app. An API key is refused as on the token routes; a
// request whose Origin the app does not allow is 403 before the app is
// asked, since the browser sends the app's cookies from any page.
func (h *Handler) delegated(r *http.Request) (*inbox.Token, *apps.App, error) {
	if strings.HasPrefix(apiKeyOf(r), apps.APIKeyPrefix) {
		return nil, nil, errAPIKeyNotToken
	}
	app, err := h.appByRef(r.Context(), appRefOf(r))
	if err != nil {
		return nil, nil, err
	}
	if app.ConnectAuthURL == "" {
		return nil, nil, errNoConnectAuth
	}
	if origin := r.Header.Get("Origin"); origin != "" && !app.OriginAllowed(origin) {
		return nil, nil, errOriginRefused
	}
	cookie := strings.Join(r.Header.Values("Cookie"), "; ")
	userID, err := h.opts.ConnectAuth.Authenticate(r.Context(), app.ID, app.ConnectAuthURL, cookie, r.Header.Get("Authorization"))
	if err != nil {
		return nil, nil, err
	}
	return &inbox.Token{AppID: app.ID, UserID: userID}, app, nil
}

// appByRef finds the app by its public key, or by its id.
func (h *Handler) appByRef(ctx context.Context, ref string) (*apps.App, error) {
	if ref == "" || len(ref) > maxAppRef {
		return nil, errUnknownApp
	}
	var app *apps.App
	var err error
	if pushgate.ValidID(ref) {
		app, err = h.opts.Apps.Get(ctx, ref)
	} else {
		app, err = h.opts.Apps.GetByKey(ctx, ref)
	}
	if pushgate.ErrorCode(err) == pushgate.ENOTFOUND {
		return nil, errUnknownApp
	}
	return app, err
}

// allowCredentials lets the page of an allowed origin read the answer to
// a request that carried its cookies (CORS with credentials wants the
// origin itself, never "*").
func allowCredentials(c *gin.Context, app *apps.App) {
	if origin := c.GetHeader("Origin"); origin != "" && app.OriginAllowed(origin) {
		c.Header("Access-Control-Allow-Origin", origin)
		c.Header("Access-Control-Allow-Credentials", "true")
		c.Header("Vary", "Origin")
	}
}
