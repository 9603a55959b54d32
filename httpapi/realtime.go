package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/inbox"
)

// RealtimeService runs the long-lived connections of authenticated client
// tokens (the pushgate.v1 protocol's handler).
type RealtimeService interface {
	// ServeWS upgrades r and starts its session, which may go on after
	// ServeWS returns (in a goroutine of its own, until the connection
	// ends): the handler must not touch the connection afterwards.
	ServeWS(w http.ResponseWriter, r *http.Request, t *inbox.Token)
	// ServeSSE streams r's session as Server-Sent Events until it ends.
	// It returns an error, having written nothing, when it cannot start
	// (a Last-Event-ID it did not send, the inbox unreadable); nil once
	// the stream began.
	ServeSSE(w http.ResponseWriter, r *http.Request, t *inbox.Token) error
}

// wsProtocolToken is how a browser, which cannot set headers on a
// WebSocket, offers its client token: "Sec-WebSocket-Protocol:
// pushgate.v1, token.<TOKEN>".
const wsProtocolToken = "token."

// routeRealtime adds /v1/ws and /v1/sse on the streams group: the client
// token is checked before the upgrade or the stream, so a bad or revoked
// one gets a 401 in the one error shape and no session.
func (h *Handler) routeRealtime(streams *gin.RouterGroup) {
	limit := h.connectLimit()
	streams.GET("/v1/ws", limit, h.serveWS)
	streams.GET("/v1/sse", limit, h.serveSSE)
}

// connectLimit bounds the realtime connections one client address opens
// a second (Options.ConnectRatePerIP, 10 by default in the server).
func (h *Handler) connectLimit() gin.HandlerFunc {
	perSecond := h.opts.ConnectRatePerIP
	if perSecond <= 0 {
		return func(c *gin.Context) { c.Next() }
	}
	return h.limitBy(newIPLimiter(perSecond, int(max(1, perSecond))), (*gin.Context).ClientIP,
		fmt.Sprintf("too many connections from this address; at most %s a second", strconv.FormatFloat(perSecond, 'f', -1, 64)))
}

// serveSSE takes the client token where the REST routes do (Authorization
// bearer, ?token= for EventSource, which cannot set headers), or asks the
// app named by ?app= (connectAuthUrl). Any origin may read a stream opened
// with a token: the token, not a cookie, is the credential; one opened
// with the app's cookies only its allowed origins.
func (h *Handler) serveSSE(c *gin.Context) {
	c.Header("Access-Control-Allow-Origin", "*")
	t, err := h.identify(c, false)
	if err == nil {
		err = h.opts.Realtime.ServeSSE(c.Writer, c.Request, t)
	}
	if err != nil {
		h.writeError(c, err)
		return
	}
	c.Abort()
}

func (h *Handler) serveWS(c *gin.Context) {
	t, err := h.identify(c, true)
	if err != nil {
		h.writeError(c, err)
		return
	}
	h.opts.Realtime.ServeWS(c.Writer, c.Request, t)
	c.Abort()
}

// identify is who makes a client request or opens a stream (ws: a
// WebSocket, whose handshake it checks too): a client token's user, or the
// user the app's connectAuthUrl admits. The handshake is checked before
// the app is asked, so that what is no WebSocket never costs it a call.
func (h *Handler) identify(c *gin.Context, ws bool) (*inbox.Token, error) {
	r := c.Request
	if !h.delegating(r, ws) {
		if !ws {
			return h.clientToken(r)
		}
		t, err := h.wsToken(r)
		if err == nil {
			err = checkUpgrade(r)
		}
		return t, err
	}
	if ws {
		if err := checkUpgrade(r); err != nil {
			return nil, err
		}
	}
	t, app, err := h.delegated(r)
	if err != nil {
		return nil, err
	}
	allowCredentials(c, app)
	return t, nil
}

// wsToken is the client token of a WebSocket request: where the REST
// routes look (Authorization bearer, ?token=), else in the subprotocols
// offered.
func (h *Handler) wsToken(r *http.Request) (*inbox.Token, error) {
	if r.Header.Get("Authorization") == "" && r.URL.Query().Get("token") == "" {
		if v := wsProtocolTokenOf(r); v != "" {
			return h.authenticateToken(r.Context(), v)
		}
	}
	return h.clientToken(r)
}

// wsProtocolTokenOf is the token a browser offers as a subprotocol, or "".
func wsProtocolTokenOf(r *http.Request) string {
	for _, p := range strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ",") {
		if p = strings.TrimSpace(p); strings.HasPrefix(p, wsProtocolToken) {
			return p[len(wsProtocolToken):]
		}
	}
	return ""
}

// checkUpgrade refuses, in the one error shape, a request that is no
// WebSocket handshake (RFC 6455, section 4.2.1), before the upgrader would
// answer it in plain text.
func checkUpgrade(r *http.Request) error {
	switch {
	case !headerHas(r.Header, "Connection", "upgrade") || !headerHas(r.Header, "Upgrade", "websocket"):
		return pushgate.Invalid("this route takes a WebSocket handshake (Connection: Upgrade, Upgrade: websocket)")
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return pushgate.Invalid("Sec-WebSocket-Version: must be 13")
	case len(r.Header.Get("Sec-WebSocket-Key")) != 24:
		return pushgate.Invalid("Sec-WebSocket-Key: must be 16 bytes in base64")
	}
	return nil
}

// headerHas reports whether a comma-separated header lists token (any case).
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
