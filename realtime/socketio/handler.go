package socketio

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"

	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/realtime"
)

// Hub is where registered sockets become sessions (realtime.Hub).
type Hub interface {
	Register(appID, userID, tokenID string, s realtime.Session) (unregister func())
}

// Claimer checks a register's connectionId (Connections).
type Claimer interface {
	Claim(ctx context.Context, appID, userID, connID string) (string, error)
}

// Options configure a Handler.
type Options struct {
	Hub         Hub
	Connections Claimer
	// App names the app whose users the sockets are (compat_app).
	App func(ctx context.Context) (string, error)
	// Inbox and KeepOffline replay kept pushes on register and mark what
	// a tab emitted delivered; nil Inbox keeps nothing.
	Inbox       Inbox
	KeepOffline KeepOffline
	// Track registers a live socket with the server's registry, which
	// closes it on shutdown; nil tracks nothing.
	Track func(close func(context.Context)) (done func())
	// PingInterval and PingTimeout are Engine.IO's heartbeat (25 s, 20 s).
	PingInterval, PingTimeout time.Duration
	// MaxBufferSize bounds what a client sends in one message (16 KiB).
	MaxBufferSize int64
	Logger        *slog.Logger
}

// Handler serves Socket.IO v4 (Engine.IO 4: WebSocket, long-polling and
// the upgrade from one to the other) at /socket.io/.
type Handler struct {
	opts   Options
	server *socket.Server
	engine http.Handler
	// marks bounds the deliveries marked at once.
	marks chan struct{}
}

// NewHandler makes a Handler; it starts no goroutine until a client comes.
func NewHandler(opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 25 * time.Second
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = 20 * time.Second
	}
	if opts.MaxBufferSize <= 0 {
		opts.MaxBufferSize = 16 << 10
	}
	so := socket.DefaultServerOptions()
	so.SetServeClient(false)
	so.SetPingInterval(opts.PingInterval)
	so.SetPingTimeout(opts.PingTimeout)
	so.SetMaxHttpBufferSize(opts.MaxBufferSize)
	// The connectionId, not a cookie, is what admits a socket: any page
	// may open one, as with notification-server.
	so.SetCors(&types.Cors{Origin: "*"})
	h := &Handler{opts: opts, server: socket.NewServer(nil, nil), marks: make(chan struct{}, 8)}
	h.engine = h.server.ServeHandler(so)
	_ = h.server.On("connection", func(args ...any) {
		if s, ok := args[0].(*socket.Socket); ok {
			h.connected(s)
		}
	})
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.engine.ServeHTTP(w, r) }

// connected wires one socket: register makes it a session of the user,
// disconnect ends it.
func (h *Handler) connected(s *socket.Socket) {
	sess := &session{s: s, h: h}
	done := func() {}
	if h.opts.Track != nil {
		done = h.opts.Track(func(context.Context) { s.Disconnect(true) })
	}
	_ = s.On("register", func(args ...any) { h.register(sess, args) })
	_ = s.On("disconnect", func(...any) {
		sess.unregister()
		done()
	})
}

// register checks (userId, connectionId) and makes the socket a session
// of the user; a refused one is told why in an error event and stays
// connected, hearing nothing, so that it may register again.
func (h *Handler) register(sess *session, args []any) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	userID, connID, ok := registerArgs(args)
	if !ok {
		sess.refuse(ReasonInvalid, "register takes a userId and a connectionId, two non-empty strings")
		return
	}
	appID, err := h.opts.App(ctx)
	var reason string
	if err == nil {
		reason, err = h.opts.Connections.Claim(ctx, appID, userID, connID)
	}
	if err != nil {
		h.opts.Logger.Warn("socket.io register", "err", err)
		sess.refuse("unavailable", "the connectionId could not be checked; try again")
		return
	}
	if reason != "" {
		sess.refuse(reason, refusals[reason])
		return
	}
	sess.unregister() // a second register replaces the first
	sess.mu.Lock()
	sess.app, sess.user = appID, userID
	sess.mu.Unlock()
	un := h.opts.Hub.Register(appID, userID, "", sess)
	sess.mu.Lock()
	sess.un = un
	sess.mu.Unlock()
	_ = sess.s.Emit("registered", map[string]string{"userId": userID})
	h.replay(ctx, sess, appID, userID)
}

// replay emits what the app kept for the user while no tab was open.
func (h *Handler) replay(ctx context.Context, sess *session, appID, userID string) {
	if h.opts.Inbox == nil || h.opts.KeepOffline == nil {
		return
	}
	keepIt, err := h.opts.KeepOffline(ctx, appID)
	if err == nil && keepIt {
		err = replay(ctx, h.opts.Inbox, appID, userID, func(m json.RawMessage) { _ = sess.s.Emit("message", m) })
	}
	if err != nil {
		h.opts.Logger.Warn("socket.io register: kept pushes", "app", appID, "err", err)
	}
}

// markDelivered records that a tab had notification id, a few at a time.
func (h *Handler) markDelivered(appID, userID, id string) {
	if h.opts.Inbox == nil {
		return
	}
	go func() {
		h.marks <- struct{}{}
		defer func() { <-h.marks }()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := h.opts.Inbox.Mark(ctx, appID, userID, []string{id}, inbox.StatusDelivered); err != nil {
			h.opts.Logger.Warn("socket.io: mark delivered", "app", appID, "err", err)
		}
	}()
}

var refusals = map[string]string{
	ReasonUnknown:   "the connectionId was not registered for this user",
	ReasonOtherUser: "the connectionId was registered for another user",
	ReasonExpired:   "the connectionId expired; the backend must register a new one",
}

func registerArgs(args []any) (userID, connID string, ok bool) {
	if len(args) < 2 {
		return "", "", false
	}
	userID, ok1 := args[0].(string)
	connID, ok2 := args[1].(string)
	return userID, connID, ok1 && ok2 && validID(userID) && validID(connID)
}

// session is one registered socket.
type session struct {
	s  *socket.Socket
	h  *Handler
	mu sync.Mutex
	un func()
	// app and user are set by register, under mu.
	app, user string
}

func (s *session) Protocol() realtime.Protocol { return Protocol }

// Send writes a rendered message's packet, encoded once by Render for
// every socket (as the library's own broadcasts do); an empty one is a
// message that says nothing to Socket.IO clients. The library queues what
// the transport has not taken yet (a polling client's next request takes
// it); a socket no longer open drops it, as Emit would.
func (s *session) Send(frame []byte) bool {
	if len(frame) == 0 {
		return true
	}
	id, packet := splitFrame(frame)
	client := s.s.Client()
	if client.Conn().ReadyState() != "open" {
		return true
	}
	client.WriteToEngine([]types.BufferInterface{types.NewStringBuffer(packet)}, &socket.WriteOptions{})
	if id != "" {
		s.mu.Lock()
		app, user := s.app, s.user
		s.mu.Unlock()
		s.h.markDelivered(app, user, id)
	}
	return true
}

func (s *session) Close(int, string) { s.s.Disconnect(true) }

func (s *session) unregister() {
	s.mu.Lock()
	un := s.un
	s.un = nil
	s.mu.Unlock()
	if un != nil {
		un()
	}
}

func (s *session) refuse(reason, message string) {
	_ = s.s.Emit("error", map[string]string{"reason": reason, "message": message})
}
