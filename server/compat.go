package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/realtime/socketio"
)

// validateCompat checks the notification-server settings.
func (c *Config) validateCompat() []error {
	var errs []error
	if c.CompatConnectionTTL < time.Second || c.CompatConnectionTTL > 365*24*time.Hour {
		errs = append(errs, errors.New("compat_connection_ttl: must be between 1s and 8760h"))
	}
	if c.CompatAuthToken != "" && len(c.CompatAuthToken) < 16 {
		errs = append(errs, errors.New("compat_auth_token: must be at least 16 characters (or empty: API keys only)"))
	}
	return errs
}

// buildCompat builds notification-server's side: the connectionIds in
// Redis, the push service on the hub and the Socket.IO handler. It runs
// after buildRealtime (the hub) and before buildHTTP, which routes it.
func (s *Server) buildCompat() {
	cfg := s.cfg
	app := &compatApp{apps: s.Apps, name: cfg.CompatApp}
	conns := socketio.NewConnections(s.redis, cfg.QueueNamespace, cfg.CompatConnectionTTL, s.now)
	keep := func(ctx context.Context, appID string) (bool, error) {
		a, err := s.Apps.Get(ctx, appID)
		if err != nil {
			return false, err
		}
		return a.CompatKeepOffline, nil
	}
	s.compat = socketio.NewCompat(conns, s.hub, app.id, s.Inbox, keep)
	s.socketIO = socketio.NewHandler(socketio.Options{
		Hub: s.hub, Connections: conns, App: app.id, Track: s.trackAs(protoSocketIO), Inbox: s.Inbox, KeepOffline: keep,
		PingInterval: cfg.WSHeartbeat, MaxBufferSize: cfg.WSMaxFrameBytes, Logger: s.log,
	})
}

// compatOptions are the routes' options, for buildHTTP.
func (s *Server) compatOptions() httpapi.CompatOptions {
	return httpapi.CompatOptions{Service: s.compat, Token: s.cfg.CompatAuthToken, SocketIO: s.socketIO}
}

// compatApp finds the compat app: by id or name when compat_app is set,
// else the first app created. Every request and register asks, so the
// answer is kept for compatAppCache.
type compatApp struct {
	apps *apps.Service
	name string

	mu      sync.Mutex
	cached  string
	expires time.Time
}

const compatAppCache = 30 * time.Second

func (a *compatApp) id(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if a.cached != "" && now.Before(a.expires) {
		return a.cached, nil
	}
	id, err := a.find(ctx)
	if err != nil {
		return "", err
	}
	a.cached, a.expires = id, now.Add(compatAppCache)
	return id, nil
}

func (a *compatApp) find(ctx context.Context) (string, error) {
	if a.name != "" {
		if app, err := a.apps.Get(ctx, a.name); err == nil {
			return app.ID, nil
		} else if pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			return "", err
		}
	}
	list, err := a.apps.List(ctx)
	if err != nil {
		return "", err
	}
	for _, app := range list {
		if a.name == "" || app.Name == a.name {
			return app.ID, nil
		}
	}
	return "", &pushgate.Error{Code: pushgate.EUNAVAILABLE, Message: "compat_app names no app: notification-server's API is not available"}
}
