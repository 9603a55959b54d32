package pusherproto

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushgate/pushgate/realtime"
	"github.com/pushgate/pushgate/realtime/wsconn"
)

// App is what a session needs of its app.
type App struct {
	ID, Key, Secret string
	// ClientEvents lets subscribers of private and presence channels send
	// client-* events to each other.
	ClientEvents bool
	// Webhooks: the app has a channel webhook; sessions report its events.
	Webhooks bool
	// SubscriptionCount: subscribers of public and private channels hear
	// pusher_internal:subscription_count when their channel's count changes.
	SubscriptionCount bool
}

// Hub is the part of realtime.Hub sessions stand on.
type Hub interface {
	Register(appID, userID, tokenID string, s realtime.Session) (unregister func())
	Subscribe(appID, channel string, s realtime.Session) bool
	Unsubscribe(appID, channel string, s realtime.Session) bool
	ToChannel(ctx context.Context, appID, channel, except string, m realtime.Message) error
	CloseUsers(ctx context.Context, appID string, userIDs []string, code int, reason string) error
}

var _ Hub = (*realtime.Hub)(nil)

// Options configure a Handler.
type Options struct {
	Hub      Hub
	State    State
	Upgrader *wsconn.Upgrader
	// ActivityTimeout is what connection_established announces: a client
	// silent that long pings (default 120 s).
	ActivityTimeout time.Duration
	// MemberLimit bounds a presence channel's members (default 100).
	MemberLimit int
	// ClientEventRate bounds the client events one connection sends a
	// second (default 10).
	ClientEventRate float64
	// MaxEventBytes bounds an event's data, from clients and the HTTP API
	// (default 10 KiB).
	MaxEventBytes int
	// Tracker registers live connections with the server's registry,
	// which closes them on shutdown; nil tracks nothing.
	Tracker Tracker
	// Webhooks takes the apps' channel webhook events; nil drops them.
	Webhooks Webhooks
	Logger   *slog.Logger
}

// Tracker is the server's registry of live connections. A session adds
// itself, and is its own Closer, so that an idle connection keeps no
// closure for the registry.
type Tracker interface {
	// Add tracks c until Done; shutdown calls c.CloseConn once.
	Add(c Closer)
	// Done takes c out once its connection has ended (again: nothing).
	Done(c Closer)
}

// Closer is a tracked session: CloseConn closes its connection (with
// Pusher's 4200, "reconnect at once").
type Closer interface {
	CloseConn(ctx context.Context)
}

// Handler serves Pusher connections and the Pusher HTTP API's calls.
type Handler struct {
	opts Options
	// apps holds one copy of each App its sessions use (keyed by value,
	// so a rotated secret or a changed setting is a new one): ten thousand
	// sessions of an app need not keep ten thousand copies of its strings.
	apps sync.Map
	reaping
	// counts orders the subscription_count events a node publishes for a
	// channel (one lock per stripe of channels, see publishCount).
	counts [64]sync.Mutex
}

// NewHandler makes a Handler.
func NewHandler(opts Options) *Handler {
	if opts.ActivityTimeout <= 0 {
		opts.ActivityTimeout = 120 * time.Second
	}
	if opts.MemberLimit <= 0 {
		opts.MemberLimit = 100
	}
	if opts.ClientEventRate <= 0 {
		opts.ClientEventRate = 10
	}
	if opts.MaxEventBytes <= 0 {
		opts.MaxEventBytes = 10 << 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{opts: opts}
}

// MaxEventBytes is the bound of an event's data.
func (h *Handler) MaxEventBytes() int { return h.opts.MaxEventBytes }

// ServeWS upgrades r and runs its session. app is nil when the key names
// no app: the connection is then closed with 4001, as Pusher does (a
// client sees close codes only once the WebSocket is open). A protocol
// version other than 7 is closed with 4006, 4007 or 4008.
func (h *Handler) ServeWS(w http.ResponseWriter, r *http.Request, app *App) {
	if code, reason := refusal(r, app); code != 0 {
		c, err := h.opts.Upgrader.Upgrade(w, r)
		if err != nil {
			return // answered by the upgrader
		}
		c.Close(code, reason)
		c.Serve(wsconn.HandlerFuncs{OnFrame: func([]byte, error) {}})
		return
	}
	id := newSocketID()
	// connection_established goes out in the handshake answer's write.
	c, err := h.opts.Upgrader.UpgradeWith(w, r, eventFrame("pusher:connection_established", "",
		establishedData(id, int(h.opts.ActivityTimeout/time.Second)), ""))
	if err != nil {
		return // answered by the upgrader
	}
	shared, _ := h.apps.LoadOrStore(*app, app)
	s := &session{h: h, c: c, app: shared.(*App), id: id}
	s.tokens = h.opts.ClientEventRate
	if h.opts.Tracker != nil {
		h.opts.Tracker.Add(s)
	}
	// Registered with the hub only once signed in (as its user): an
	// anonymous connection hears only its channels, which know it, and
	// the server's registry closes it on shutdown, so an idle one keeps
	// no hub entry.
	c.Serve(s)
}

// refusal is the close code and reason of a connection that cannot have
// a session (0 when it can).
func refusal(r *http.Request, app *App) (int, string) {
	if app == nil {
		return CloseUnknownApp, "App key not found"
	}
	v := queryGet(r.URL.RawQuery, "protocol")
	if v == "" {
		return CloseNoVersion, "No protocol version supplied"
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		return CloseBadVersion, "Invalid version string format"
	case n != 7:
		return CloseUnsupported, "Unsupported protocol version"
	}
	return 0, ""
}

// queryGet is url.ParseQuery(raw).Get(name) without the map: the first
// value of name among the parameters ParseQuery would keep.
func queryGet(raw, name string) string {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil || k != name {
			continue
		}
		if v, err = url.QueryUnescape(v); err == nil {
			return v
		}
	}
	return ""
}

// newSocketID is Pusher's form of socket id: two numbers joined by a dot.
func newSocketID() string {
	var b [8]byte
	socketRand.read(b[:])
	hi := binary.BigEndian.Uint32(b[:4]) % 1000000000
	lo := binary.BigEndian.Uint32(b[4:]) % 1000000000
	return strconv.FormatUint(uint64(hi), 10) + "." + strconv.FormatUint(uint64(lo), 10)
}

// socketRand hands out crypto/rand's bytes read 4 KiB at a time: one
// getrandom call for 512 socket ids, not one for each.
var socketRand randBuffer

type randBuffer struct {
	mu   sync.Mutex
	buf  [4096]byte
	left int // bytes at the end of buf not handed out yet
}

func (r *randBuffer) read(p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.left < len(p) {
		_, _ = rand.Read(r.buf[:]) // never fails (crypto/rand)
		r.left = len(r.buf)
	}
	start := len(r.buf) - r.left
	r.left -= copy(p, r.buf[start:])
}
