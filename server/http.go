package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/httpapi"
)

// buildHTTP builds the API's handler and the HTTP
// server that Start runs it in.
func (s *Server) buildHTTP() {
	cfg := s.cfg
	s.handler = httpapi.New(httpapi.Options{
		Logger:       s.log,
		Registry:     s.Registry,
		Apps:         s.Apps,
		MaxBodyBytes: cfg.MaxBodyBytes,
		BodyTimeout:  cfg.HTTPBodyTimeout,
		AccessLog:    cfg.AccessLog,
		API:          cfg.Has(RoleAPI),
		Core: httpapi.CoreOptions{
			Buckets:          s.Buckets,
			Contexts:         s.DB.Buckets(),
			Checker:          s.Providers,
			Sender:           s.Sender,
			Messages:         s.DB.Messages(),
			Webhooks:         s.dispatcher,
			Images:           s.images,
			Parse:            contexts.Options{Guard: s.guard},
			BucketCreateRate: cfg.BucketCreateRate,
		},
		Inbox:            s.Inbox,
		AppRatePerMinute: cfg.AppRatePerMinute,
		ConnectRatePerIP: cfg.WSConnectRate,
		Realtime:         tokenSessions{s.inboxWS},
		Pusher:           pusherSessions{s.pusher},
		ChannelWebhooks:  s.channelDispatcher,
		ConnectAuth:      s.connectAuth,
		Compat:           s.compatOptions(),
		Events:           httpapi.EventOptions{Recorder: s.recorder, RatePerIP: cfg.EventsRatePerIP, Burst: cfg.EventsBurst},
		TrustedProxies:   cfg.TrustedProxies,
		Tracing:          s.tracing,
		Ready:            s.readyChecks(),
	})
	s.http = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout or WriteTimeout: they would cut streams and
		// WebSockets. The body is bounded per request (http_body_timeout).
		IdleTimeout:    cfg.HTTPIdleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// readyChecks are what /readyz asks: the database, its migrations and Redis.
func (s *Server) readyChecks() []httpapi.Check {
	return []httpapi.Check{
		{Name: "database", Func: func(ctx context.Context) error { return s.DB.PingContext(ctx) }},
		{Name: "migrations", Func: func(ctx context.Context) error {
			pending, err := s.DB.Pending(ctx)
			if err == nil && pending {
				err = errors.New("migrations are pending; run `pushgate migrate up`")
			}
			return err
		}},
		{Name: "redis", Func: func(ctx context.Context) error { return s.redis.Ping(ctx).Err() }},
	}
}
