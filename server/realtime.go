package server

import (
	"context"
	"crypto/tls"
	"net/http"

	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/realtime"
	"github.com/pushgate/pushgate/realtime/inboxproto"
	"github.com/pushgate/pushgate/realtime/wsconn"
)

// buildRealtime builds the inbox service, the hub with its broker between
// nodes (Redis pub/sub, or in memory on the embedded Redis, which no other
// node shares), the Notifier that tells the hub what the inbox changed,
// the /v1/ws protocol handler, and the authentication of connections
// through apps' connectAuthUrl. It runs after buildImages, whose jobs
// put notifications' images on the CDN, and before buildProviders, which
// hands the inbox to providers/websocket; buildWebhooks adds the listener
// of CORE notifications' client events (listenCoreEvents).
func (s *Server) buildRealtime() {
	cfg := s.cfg
	s.Inbox = inbox.NewService(s.DB.Inbox(), inbox.Options{
		Now: s.now, MaxAge: cfg.InboxMaxAge, Retention: cfg.InboxRetention, Logger: s.log,
		Guard: s.guard, Images: s.images, ImageWait: cfg.NotificationImageWait,
	})
	var broker realtime.Broker
	if s.embedded == nil {
		broker = realtime.NewRedisBroker(s.redis, realtime.RedisOptions{Namespace: cfg.QueueNamespace, Logger: s.log})
	}
	s.hub = realtime.New(realtime.Options{Broker: broker, Logger: s.log})
	s.notifier = inboxproto.NewNotifier(s.hub, s.Inbox, s.log)
	s.Inbox.SetListener(s.notifier)
	s.wsUpgrader = wsconn.NewUpgrader(wsconn.Options{
		Subprotocol: "pushgate.v1", MaxFrameBytes: cfg.WSMaxFrameBytes, Heartbeat: cfg.WSHeartbeat, Logger: s.log,
	})
	s.inboxWS = inboxproto.NewHandler(inboxproto.Options{
		Inbox: s.Inbox, Hub: s.hub, Heartbeat: cfg.WSHeartbeat, Logger: s.log,
		Track: s.trackAs(protoWebSocket), TrackSSE: s.trackAs(protoSSE), Upgrader: s.wsUpgrader,
	})
	s.connectAuth = inbox.NewConnectAuth(s.Inbox, inbox.ConnectAuthOptions{
		Client: inbox.NewConnectAuthClient(s.connectAuthTransport()), CacheTTL: cfg.ConnectAuthCache, Now: s.now, Logger: s.log,
	})
}

// connectAuthTransport is the SSRF guard's transport for calls to apps'
// connectAuthUrl, trusting ConnectAuthRootCAs when set.
func (s *Server) connectAuthTransport() *http.Transport {
	t := s.guard.Transport()
	if s.cfg.ConnectAuthRootCAs != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: s.cfg.ConnectAuthRootCAs, MinVersion: tls.VersionTLS12}
	}
	return t
}

// listenCoreEvents makes the inbox tell both the Notifier and coreEvents,
// which records the client events of CORE notifications through the
// webhooks recorder (built after the inbox).
func (s *Server) listenCoreEvents() {
	s.Inbox.SetListener(listeners{s.notifier, coreEvents{rec: s.recorder, log: s.log}})
}

// inboxPurge is the maintenance job that applies inbox_retention and
// inbox_max_age.
func (s *Server) inboxPurge() delivery.Job {
	return delivery.Job{Name: "inbox purge", Run: func(ctx context.Context) error {
		n, err := s.Inbox.Purge(ctx)
		if n > 0 {
			s.log.Info("inbox purge removed notifications", "count", n)
		}
		return err
	}}
}

// tokenSessions runs /v1/ws and /v1/sse sessions opened with a client
// token.
type tokenSessions struct{ h *inboxproto.Handler }

func (ts tokenSessions) ServeWS(w http.ResponseWriter, r *http.Request, t *inbox.Token) {
	ts.h.ServeWS(w, r, inboxproto.Identity{AppID: t.AppID, UserID: t.UserID, TokenID: t.ID})
}

func (ts tokenSessions) ServeSSE(w http.ResponseWriter, r *http.Request, t *inbox.Token) error {
	return ts.h.ServeSSE(w, r, inboxproto.Identity{AppID: t.AppID, UserID: t.UserID, TokenID: t.ID})
}
