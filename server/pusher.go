package server

import (
	"net/http"

	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/realtime/pusherproto"
	"github.com/pushgate/pushgate/realtime/wsconn"
)

// buildPusher builds the Pusher protocol on the hub buildRealtime made:
// its own WebSocket upgrader (no subprotocol; a silent connection closes
// with Pusher's 4201; a burst of frames as large as the most channels a
// connection may have, since pusher-js subscribes to all of them again at
// once when it reconnects), the channels' shared state in the node's Redis
// (the embedded one on one node), and the handler of /app/{key} and the
// Pusher HTTP API.
func (s *Server) buildPusher() {
	cfg := s.cfg
	s.pusherUpgrader = wsconn.NewUpgrader(wsconn.Options{
		MaxFrameBytes: cfg.WSMaxFrameBytes, Heartbeat: cfg.WSHeartbeat, Logger: s.log,
		SilentCloseCode: pusherproto.ClosePongNotReceived, Burst: pusherproto.MaxChannels,
	})
	s.pusher = pusherproto.NewHandler(pusherproto.Options{
		Hub: s.hub, State: pusherproto.NewRedisState(s.redis, cfg.QueueNamespace, s.hub.Node()), Upgrader: s.pusherUpgrader,
		MemberLimit: cfg.PusherMemberLimit, ClientEventRate: cfg.PusherClientEventRate,
		MaxEventBytes: cfg.PusherMaxEventBytes, Tracker: s.trackerAs(protoPusher), Logger: s.log,
		Webhooks: channelWebhooks{s.channelRecorder},
	})
	s.log.Info("realtime: fan-out writes", "through", wsconn.BatchWrites())
}

// pusherSessions is the Pusher handler as httpapi calls it: an app is
// handed over as its Pusher key, secret and settings.
type pusherSessions struct{ *pusherproto.Handler }

func (p pusherSessions) ServeWS(w http.ResponseWriter, r *http.Request, app *apps.App) {
	if app == nil {
		p.Handler.ServeWS(w, r, nil)
		return
	}
	p.Handler.ServeWS(w, r, &pusherproto.App{ID: app.ID, Key: app.Key, Secret: app.Secret, ClientEvents: app.ClientEvents,
		Webhooks: app.ChannelWebhookURL != "", SubscriptionCount: app.SubscriptionCount})
}
