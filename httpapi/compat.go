package httpapi

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
)

// CompatService is notification-server's REST API behind its routes
// (socketio.Compat): connectionIds registered for users, pushes to them.
type CompatService interface {
	// App is the id of the app whose users notification-server's routes
	// and sockets serve (compat_app; the first app by default).
	App(ctx context.Context) (string, error)
	Register(ctx context.Context, appID, userID, connID string) error
	Push(ctx context.Context, appID, userID string, message json.RawMessage) error
}

// CompatOptions serve notification-server's API: PUT
// /api/{userId}/register, POST /api/{userId}/push (X-AUTH-TOKEN) and the
// Socket.IO endpoint at /socket.io/.
type CompatOptions struct {
	Service CompatService
	// Token, when set, is accepted as X-AUTH-TOKEN beside the app's API
	// keys (compat_auth_token: notification-server's AUTH_TOKEN).
	Token string
	// SocketIO serves /socket.io/ (socketio.Handler); nil serves none.
	SocketIO http.Handler
}

const ctxCompatApp = "pushgate.compat_app"

// maxCompatID bounds a userId or connectionId (socketio.MaxIDLength).
const maxCompatID = 256

var (
	errCompatToken = &pushgate.Error{Code: pushgate.EUNAUTHORIZED, Message: "missing or invalid X-AUTH-TOKEN"}
	errNoMessage   = pushgate.Invalid("the push has no message", `message: is required (the body is {"message": <any JSON>})`)
)

// routeCompat adds notification-server's routes: its REST API on a group
// of public behind the X-AUTH-TOKEN check, and /socket.io/ on streams
// (the connectionId, checked on register, is what admits a socket).
func (h *Handler) routeCompat(public, streams *gin.RouterGroup) {
	api := public.Group("/api", h.compatAuth)
	api.PUT("/:userId/register", h.compatRegister)
	api.POST("/:userId/push", h.compatPush)
	if sio := h.opts.Compat.SocketIO; sio != nil {
		limit := h.connectLimit()
		serve := func(c *gin.Context) {
			w := &engineWriter{ResponseWriter: c.Writer}
			sio.ServeHTTP(w, c.Request)
			if w.failed != 0 {
				h.writeError(c, engineError(w.failed, w.body.Bytes()))
			}
			c.Abort()
		}
		open := func(c *gin.Context) {
			if c.Query("sid") == "" { // a new session: bounded per address
				limit(c)
			}
		}
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodOptions} {
			streams.Handle(m, "/socket.io/*path", open, serve)
		}
	}
}

// compatAuth admits X-AUTH-TOKEN: compat_auth_token when set, or an API
// key of the compat app (a key of another app is refused like a wrong
// one). Without X-AUTH-TOKEN, an API key in pushgate's own headers
// (x-token, authorization) is taken too.
func (h *Handler) compatAuth(c *gin.Context) {
	ctx := c.Request.Context()
	appID, err := h.opts.Compat.Service.App(ctx)
	if err != nil {
		h.writeError(c, err)
		return
	}
	token := c.GetHeader("X-AUTH-TOKEN")
	if token == "" {
		token = apiKeyOf(c.Request)
	}
	want := h.opts.Compat.Token
	if want != "" && subtle.ConstantTimeCompare([]byte(token), []byte(want)) == 1 {
		c.Set(ctxCompatApp, appID)
		c.Next()
		return
	}
	if token == "" {
		h.writeError(c, errCompatToken)
		return
	}
	app, _, err := h.opts.Apps.Authenticate(ctx, token)
	switch {
	case pushgate.ErrorCode(err) == pushgate.EUNAUTHORIZED || err == nil && app.ID != appID:
		h.writeError(c, errCompatToken)
	case err != nil:
		h.writeError(c, err)
	default:
		c.Set(ctxCompatApp, appID)
		c.Next()
	}
}

// compatUser is the path's userId, checked.
func compatUser(c *gin.Context) (string, error) {
	u := c.Param("userId")
	if !compatID(u) {
		return "", pushgate.Invalid("invalid userId", "userId: must be 1 to "+strconv.Itoa(maxCompatID)+" printable characters")
	}
	return u, nil
}

func compatID(s string) bool {
	return s != "" && len(s) <= maxCompatID && strconv.Quote(s) == `"`+s+`"`
}

// compatRegister is PUT /api/{userId}/register?connectionId=: 200 with an
// empty body, as notification-server answers; the body is ignored.
func (h *Handler) compatRegister(c *gin.Context) {
	user, err := compatUser(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	conn := c.Query("connectionId")
	if !compatID(conn) {
		h.writeError(c, pushgate.Invalid("invalid connectionId", "connectionId: the query parameter is required, 1 to "+strconv.Itoa(maxCompatID)+" printable characters"))
		return
	}
	if err := h.opts.Compat.Service.Register(c.Request.Context(), c.GetString(ctxCompatApp), user, conn); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusOK)
}

// compatPush is POST /api/{userId}/push with {"message": <any JSON>}: 200
// with an empty body once the push is on its way to the user's sessions.
func (h *Handler) compatPush(c *gin.Context) {
	user, err := compatUser(c)
	if err != nil {
		h.writeError(c, err)
		return
	}
	var body struct {
		Message json.RawMessage `json:"message"`
	}
	if err := decodeJSON(c, &body); err != nil {
		h.writeError(c, err)
		return
	}
	if len(body.Message) == 0 || bytes.Equal(body.Message, []byte("null")) {
		h.writeError(c, errNoMessage)
		return
	}
	if err := h.opts.Compat.Service.Push(c.Request.Context(), c.GetString(ctxCompatApp), user, body.Message); err != nil {
		h.writeError(c, err)
		return
	}
	c.Status(http.StatusOK)
}

// engineWriter passes an Engine.IO answer on, unless it is an error: that
// one is kept, to be answered in the one error shape (Engine.IO clients
// read the status of a failed request, not its body).
type engineWriter struct {
	gin.ResponseWriter
	failed int
	body   bytes.Buffer
}

func (w *engineWriter) WriteHeader(code int) {
	if code >= 400 {
		w.failed = code
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *engineWriter) Write(b []byte) (int, error) {
	if w.failed != 0 {
		if w.body.Len() < 1024 {
			w.body.Write(b)
		}
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// engineError is an Engine.IO error answer ({"code":n,"message":"..."}) as
// a pushgate error of its status.
func engineError(status int, body []byte) error {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		e.Message = http.StatusText(status)
	}
	code := pushgate.EINVALID
	switch status {
	case http.StatusForbidden:
		code = pushgate.EFORBIDDEN
	case http.StatusRequestEntityTooLarge:
		code = pushgate.ETOOLARGE
	case http.StatusNotFound:
		code = pushgate.ENOTFOUND
	}
	return &pushgate.Error{Code: code, Message: "socket.io: " + e.Message, Fields: []string{"socket.io: " + e.Message}}
}
