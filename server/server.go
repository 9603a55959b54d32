package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/imagejobs"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/internal/conns"
	"github.com/pushgate/pushgate/internal/tracing"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/realtime"
	"github.com/pushgate/pushgate/realtime/inboxproto"
	"github.com/pushgate/pushgate/realtime/pusherproto"
	"github.com/pushgate/pushgate/realtime/socketio"
	"github.com/pushgate/pushgate/realtime/wsconn"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

// Server is one pushgate node.
type Server struct {
	cfg Config
	log *slog.Logger
	// now is the clock every part that reads time is given.
	now func() time.Time
	// guard is the one guard of every connection a tenant can steer.
	guard *pushgate.SSRFGuard
	// keyring seals secrets at rest (apps and bucket credentials).
	keyring *pushgate.Keyring

	DB       *sqlstore.DB
	Apps     *apps.Service
	Buckets  *buckets.Service
	Sender   *delivery.Sender
	Queue    *delivery.Queue
	Registry *prometheus.Registry
	// Providers builds provider clients per credential type.
	Providers *providers.Registry
	// Inbox holds client tokens, notifications and users' inboxes.
	Inbox *inbox.Service

	embedded   *embeddedRedis
	redis      redis.UniversalClient
	redisOpt   asynq.RedisConnOpt
	recorder   *webhooks.Recorder
	flusher    *webhooks.Flusher
	dispatcher *webhooks.Dispatcher
	// The apps' Pusher channel webhooks: the same package, another store.
	channelRecorder   *webhooks.ChannelRecorder
	channelFlusher    *webhooks.Flusher
	channelDispatcher *webhooks.Dispatcher
	images            *imagejobs.Service
	hub               *realtime.Hub
	inboxWS           *inboxproto.Handler
	wsUpgrader        *wsconn.Upgrader
	notifier          *inboxproto.Notifier
	// pusher serves /app/{key} and the Pusher HTTP API, on its own upgrader.
	pusher         *pusherproto.Handler
	pusherUpgrader *wsconn.Upgrader
	// compat and socketIO are notification-server's API and Socket.IO
	// endpoint (buildCompat).
	compat   *socketio.Compat
	socketIO *socketio.Handler
	// connectAuth asks apps' connectAuthUrl who a connection without a
	// client token is.
	connectAuth *inbox.ConnectAuth
	worker      *delivery.Worker
	deliverer   *delivery.Deliverer
	maintenance *delivery.Maintenance
	handler     *httpapi.Handler
	metrics     nodeMetrics
	http        *http.Server
	ln          net.Listener

	// conns are the long-lived connections (WebSocket, SSE) that
	// http.Server.Shutdown does not end; the realtime routes track theirs.
	conns conns.Registry

	firstApp    apps.Credentials
	firstAppNew bool

	// tracing is nil unless otel_endpoint is set (tracing.go).
	tracing        *tracing.Tracing
	tracerProvider *sdktrace.TracerProvider
}

// New opens storage and the queue, applies migrations and creates the
// first app if this is a new installation. It starts nothing; call Start.
//
// Each subsystem has its own builder, called in order: one may use what
// the ones before it built. A builder that opens a connection keeps it on
// s at once, so that close releases it if a later builder fails.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := newServer(cfg)
	defer func() {
		if err != nil {
			s.close()
			_ = s.shutdownTracing(ctx) // nothing was traced yet
		}
	}()
	if err := s.buildTracing(ctx); err != nil {
		return nil, err
	}
	if err := s.openStorage(ctx); err != nil {
		return nil, err
	}
	if err := s.openQueue(ctx); err != nil {
		return nil, err
	}
	s.buildMetrics()
	if err := s.buildImages(); err != nil {
		return nil, err
	}
	s.buildRealtime()
	s.buildChannelRecorder()
	s.buildPusher()
	s.buildCompat()
	s.buildProviders()
	s.buildDelivery()
	if err := s.buildWebhooks(); err != nil {
		return nil, err
	}
	if err := s.buildChannelDelivery(); err != nil {
		return nil, err
	}
	s.buildHTTP()
	return s, nil
}

// newServer holds what every builder shares: the configuration, the
// logger, the clock and the SSRF guard.
func newServer(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// APNS connections go only to apns_host or Apple, unguarded. The FCM
	// endpoint the operator configured is not tenant input, and a service
	// account may name it as its token_uri (a fake, a proxy): only the FCM
	// provider and the token_uri check trust it, never images, callbacks
	// or push endpoints.
	guard, _ := pushgate.NewSSRFGuard(cfg.SSRFAllow) // checked by Validate
	return &Server{cfg: cfg, log: log, now: time.Now, guard: guard}
}

// maxHeaderBytes bounds a request's line and headers (net/http's default
// is 1 MiB). pushgate's clients send an API key and a few standard
// headers; 64 KiB leaves room for cookies and tracing headers that
// proxies add. A request over it is answered 431 by net/http, in plain
// text: it is refused before any handler runs.
const maxHeaderBytes = 64 << 10

// FirstApp returns the credentials of the app this start created, if it
// created the installation's first app.
func (s *Server) FirstApp() (apps.Credentials, bool) { return s.firstApp, s.firstAppNew }

// Start listens on the configured address and starts the worker. The
// parts it starts run until Shutdown: ctx's values reach them, its end
// does not stop them.
func (s *Server) Start(ctx context.Context) error {
	ln, err := listenConfig().Listen(ctx, "tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http_addr: %w", err)
	}
	s.ln = ln
	// Remembered API keys are used only while this runs: it is what makes
	// a revocation anywhere reach this node within a second.
	s.Apps.Start(ctx)
	s.recorder.Start(ctx)
	s.channelRecorder.Start(ctx)
	if err := s.hub.Start(ctx); err != nil {
		ln.Close()
		return fmt.Errorf("start realtime hub: %w", err)
	}
	if err := s.pusher.Start(ctx); err != nil {
		ln.Close()
		return fmt.Errorf("start the Pusher protocol: %w", err)
	}
	if s.worker != nil {
		if err := s.worker.Start(ctx); err != nil {
			ln.Close()
			return fmt.Errorf("start worker: %w", err)
		}
		s.maintenance.Start(ctx)
		s.flusher.Start(ctx)
		s.dispatcher.Start(ctx)
		s.channelFlusher.Start(ctx)
		s.channelDispatcher.Start(ctx)
	}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	s.logStart()
	return nil
}

// logStart says where the node listens and what it runs on.
func (s *Server) logStart() {
	queue := "redis " + redactRedis(s.cfg.RedisURL)
	if s.embedded != nil {
		queue = "embedded redis (in process)"
	}
	s.log.Info("pushgate listening",
		"addr", s.ln.Addr().String(),
		"url", s.URL(),
		"database", string(s.DB.Dialect)+" "+s.DB.Where,
		"queue", queue,
		"roles", strings.Join(s.cfg.Roles, ","),
		"version", pushgate.Version)
	s.logVAPIDSubject()
}

// Addr is the address the node listens on (after Start).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is how clients reach the node: PublicURL, or one derived from the
// listening address.
func (s *Server) URL() string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	host, port, _ := net.SplitHostPort(s.cfg.HTTPAddr)
	if s.ln != nil {
		_, port, _ = net.SplitHostPort(s.ln.Addr().String())
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Handler is the node's HTTP handler, for embedding in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Shutdown stops the node in order: readiness fails at once, the listener
// closes and in-flight requests finish, running tasks finish, then
// connections close. Every step shares one deadline, the grace period or
// ctx's, whichever ends first; a task still running then goes back to the
// queue.
// Long-lived connections (WebSocket, SSE) are ended as soon as the
// listener is closed, and waited for with the in-flight requests.
func (s *Server) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownGrace)
	defer cancel()
	s.handler.SetDraining(true)
	var errs []error
	if s.ln != nil {
		// Long-lived connections are told to end once the listener is
		// closed: http.Server.Shutdown would wait for streams and never
		// sees hijacked connections.
		s.http.RegisterOnShutdown(func() { _ = s.conns.Shutdown(ctx) })
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	errs = append(errs, s.hub.Shutdown(ctx), s.conns.Shutdown(ctx))
	if s.ln != nil {
		// Its connections have ended: whatever they counted is out.
		errs = append(errs, s.pusher.Shutdown(ctx))
	}
	if s.worker != nil && s.ln != nil {
		// Tasks still running at the deadline go back to the queue (asynq
		// hands them back, or their lease and the sweep do): that is how a
		// stop is meant to end, so it is logged, not an error.
		if err := errors.Join(s.maintenance.Shutdown(ctx), s.worker.Shutdown(ctx)); err != nil {
			s.log.Warn("tasks still running at the shutdown deadline go back to the queue", "err", err)
		}
		s.deliverer.Close()
	}
	// Events recorded by the last tasks are stored before the flusher and
	// dispatcher stop; whatever they leave is in the database for later.
	if s.ln != nil {
		if err := s.recorder.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, s.channelRecorder.Shutdown(ctx), s.Apps.Shutdown(ctx))
		if s.flusher != nil {
			errs = append(errs, s.flusher.Shutdown(ctx), s.dispatcher.Shutdown(ctx))
			errs = append(errs, s.channelFlusher.Shutdown(ctx), s.channelDispatcher.Shutdown(ctx))
		}
	}
	s.close()
	errs = append(errs, s.shutdownTracing(ctx))
	return errors.Join(errs...)
}

// close releases connections in reverse order of opening.
func (s *Server) close() {
	if s.wsUpgrader != nil {
		s.wsUpgrader.Close() // after the connections it watched closed
	}
	if s.pusherUpgrader != nil {
		s.pusherUpgrader.Close()
	}
	if s.Queue != nil {
		s.Queue.Close()
	}
	if s.redis != nil {
		s.redis.Close()
	}
	if s.embedded != nil {
		s.embedded.Close()
	}
	if s.DB != nil {
		s.DB.Close()
	}
}

func redactRedis(raw string) string {
	if raw == "" {
		return "(embedded)"
	}
	return pushgate.RedactURL(raw)
}
