package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/internal/tracing"
)

// AppService is what the API needs of apps.
type AppService interface {
	Authenticate(ctx context.Context, apiKey string) (*apps.App, *apps.APIKey, error)
	CreateKey(ctx context.Context, appID, name string, role apps.Role) (*apps.APIKey, string, error)
	ListKeys(ctx context.Context, appID string) ([]*apps.APIKey, error)
	RevokeKey(ctx context.Context, appID, keyID string) error
	// Get and GetByKey read an app with its settings (by id, by public
	// key); GetByKey and Lookup (by id, for the Pusher HTTP API's calls)
	// may answer one remembered for up to a second.
	Get(ctx context.Context, id string) (*apps.App, error)
	GetByKey(ctx context.Context, publicKey string) (*apps.App, error)
	Lookup(ctx context.Context, id string) (*apps.App, error)
	UpdateSettings(ctx context.Context, appID string, patch apps.SettingsPatch) (*apps.App, error)
}

// Check is one readiness check: a dependency that must answer.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Options configures the Handler.
type Options struct {
	Logger *slog.Logger
	// Registry receives the HTTP metrics and is served at /metrics.
	Registry *prometheus.Registry
	Apps     AppService
	// Ready lists what /readyz checks.
	Ready []Check
	// MaxBodyBytes bounds every request body (default 1 MiB).
	MaxBodyBytes int64
	// AccessLog logs one line per request (health and metrics at debug).
	AccessLog bool
	// API serves the REST API; without it only the operations routes exist
	// (a worker-only node).
	API bool
	// Core are the services of the CORE API (/v1/bucket...).
	Core CoreOptions
	// Events serves CORE's public client event endpoints when its
	// Recorder is set.
	Events EventOptions
	// Inbox, when set, serves client tokens, notifications and the
	// per-user inbox (/v1/tokens, /v1/notifications, /v1/inbox).
	Inbox InboxService
	// Realtime serves /v1/ws and /v1/sse; it needs Inbox (to check client tokens).
	Realtime RealtimeService
	// Pusher, when set, serves the Pusher protocol (/app/{key}) and the
	// Pusher HTTP API (/apps/{appId}/...).
	Pusher PusherService
	// ChannelWebhooks, when set, lists and redelivers the app's Pusher
	// channel webhook batches (/v1/app/webhooks).
	ChannelWebhooks WebhookBatches
	// ConnectAuth, when set, authenticates the connections and inbox
	// requests that name their app and carry no client token, through the
	// app's connectAuthUrl.
	ConnectAuth ConnectAuthenticator
	// Compat, when its Service is set, serves notification-server's API
	// and Socket.IO clients.
	Compat CompatOptions
	// AppRatePerMinute bounds one app's requests to the notification,
	// token and inbox routes (0: no bound); ConnectRatePerIP bounds the
	// realtime connections one client address opens a second (0: no
	// bound). Both are per node.
	AppRatePerMinute float64
	ConnectRatePerIP float64
	// BodyTimeout bounds the time to receive a request body (default 30 s).
	BodyTimeout time.Duration
	// TrustedProxies are the CIDR prefixes of proxies whose
	// X-Forwarded-For names the client (for per-client rate limits); with
	// none the client is the connection's peer.
	TrustedProxies []string
	// Tracing makes a span of every request but the operations routes and
	// the long-lived connections (nil: tracing is off).
	Tracing *tracing.Tracing
}

// Handler is the http.Handler of the whole HTTP surface.
type Handler struct {
	opts     Options
	log      *slog.Logger
	engine   *gin.Engine
	groups   surfaces
	metrics  *httpMetrics
	draining atomic.Bool
	// bodyLimits are routes (gin paths) whose bodies may exceed MaxBodyBytes.
	bodyLimits map[string]int64
}

// New builds the router.
func New(opts Options) *Handler {
	opts = opts.withDefaults()
	gin.SetMode(gin.ReleaseMode)
	h := &Handler{opts: opts, log: opts.Logger, metrics: newHTTPMetrics(opts.Registry), bodyLimits: map[string]int64{}}
	h.engine = h.newEngine()
	h.groups = h.surfaces(h.engine)
	h.route(h.groups)
	return h
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = 30 * time.Second
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	return o
}

// newEngine makes the gin engine. It has no middleware of its own: each
// surface's group brings its chain (see surfaces), and unknown routes and
// methods get the chain of the timed surfaces.
func (h *Handler) newEngine() *gin.Engine {
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.RemoveExtraSlash = false
	// A path with a stray trailing slash is a 404 in the error shape, not
	// gin's redirect (an HTML 301 or 307): pushgate never hands out such
	// paths, and a redirect hides the client's mistake.
	e.RedirectTrailingSlash = false
	if err := e.SetTrustedProxies(h.opts.TrustedProxies); err != nil {
		// Checked by the configuration; a bad list must not trust everyone.
		_ = e.SetTrustedProxies(nil)
		h.log.Error("trusted proxies ignored", "err", err)
	}
	e.NoRoute(append(h.timedChain(), func(c *gin.Context) { h.writeError(c, errNoRoute) })...)
	e.NoMethod(append(h.timedChain(), func(c *gin.Context) { h.writeError(c, errNoMethod) })...)
	return e
}

// route adds every surface's routes.
func (h *Handler) route(s surfaces) {
	h.routeOps(s.ops)
	if !h.opts.API {
		return
	}
	h.routeStatus(s.public)
	h.routeApp(s.core)
	if h.opts.ChannelWebhooks != nil {
		h.routeChannelBatches(s.core)
	}
	if h.opts.Core.Buckets != nil {
		h.routeCore(s.core)
		if h.opts.Core.Images != nil {
			h.routeImages(s.public, s.core)
		}
	}
	if h.opts.Events.Recorder != nil {
		h.routeEvents(s.public)
	}
	if h.opts.Pusher != nil {
		h.routePusher(s.streams, s.pusher)
	}
	if h.opts.Inbox != nil {
		h.routeInbox(s.core, s.client)
		if h.opts.Realtime != nil {
			h.routeRealtime(s.streams)
		}
	}
	if h.opts.Compat.Service != nil {
		h.routeCompat(s.public, s.streams)
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.engine.ServeHTTP(w, r) }

// SetDraining makes /readyz fail, so load balancers stop sending traffic
// while the node finishes what it has.
func (h *Handler) SetDraining(v bool) { h.draining.Store(v) }

// Routes lists "METHOD /path/{param}" for every route, for the spec test.
func (h *Handler) Routes() []string {
	var out []string
	for _, r := range h.engine.Routes() {
		out = append(out, r.Method+" "+ginPathToOpenAPI(r.Path))
	}
	return out
}

func ginPathToOpenAPI(p string) string {
	b := []byte{}
	for i := 0; i < len(p); i++ {
		if p[i] == ':' || p[i] == '*' {
			j := i + 1
			for j < len(p) && p[j] != '/' {
				j++
			}
			b = append(b, '{')
			b = append(b, p[i+1:j]...)
			b = append(b, '}')
			i = j - 1
			continue
		}
		b = append(b, p[i])
	}
	return string(b)
}
