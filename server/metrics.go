package server

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/imagejobs"
	"github.com/pushgate/pushgate/internal/conns"
	"github.com/pushgate/pushgate/internal/sampled"
	"github.com/pushgate/pushgate/realtime/pusherproto"
	"github.com/pushgate/pushgate/webhooks"
)

// nodeMetrics are the metrics the parts of a node count with, all in
// Server.Registry (served at /metrics).
type nodeMetrics struct {
	delivery *delivery.Metrics
	webhooks *webhooks.Metrics
	images   *imagejobs.Metrics
	// sessions counts open realtime connections by protocol.
	sessions *prometheus.GaugeVec
}

// Realtime protocols, the closed set of pushgate_realtime_sessions'
// protocol label.
const (
	protoWebSocket = "websocket" // /v1/ws, pushgate's JSON protocol
	protoSSE       = "sse"       // /v1/sse
	protoPusher    = "pusher"    // /app/{key}
	protoSocketIO  = "socketio"  // /socket.io/
)

// buildMetrics makes the registry and every metric of the node. The
// backlog gauges (queue, outbox, webhook batches) cost Redis and database
// queries: they are read when /metrics is scraped, at most once per 10 s
// whatever the number of scrapers, so an idle node queries nothing and a
// busy one a bounded amount (see internal/sampled).
func (s *Server) buildMetrics() {
	reg := prometheus.NewRegistry()
	s.Registry = reg
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sessions := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pushgate_realtime_sessions",
		Help: "Open realtime connections on this node, by protocol.",
	}, []string{"protocol"})
	for _, p := range []string{protoWebSocket, protoSSE, protoPusher, protoSocketIO} {
		sessions.WithLabelValues(p)
	}
	reg.MustRegister(sessions)
	s.metrics = nodeMetrics{
		delivery: delivery.NewMetrics(reg),
		webhooks: webhooks.NewMetrics(reg),
		images:   imagejobs.NewMetrics(reg),
		sessions: sessions,
	}
	sample := sampled.Options{Logger: s.log, Now: s.now}
	reg.MustRegister(
		delivery.NewBacklogCollector(s.Queue, s.DB.Messages(), sample),
		webhooks.NewBacklogCollector(s.DB.Webhooks(), sample),
	)
}

// trackerAs is the connection registry for sessions that track
// themselves (pusherproto's), counted in pushgate_realtime_sessions as
// protocol: no closure and no sync.Once per connection, unlike trackAs.
func (s *Server) trackerAs(protocol string) sessionTracker {
	return sessionTracker{reg: &s.conns, g: s.metrics.sessions.WithLabelValues(protocol)}
}

var _ pusherproto.Tracker = sessionTracker{}

// sessionTracker is a conns.Registry that counts what it tracks.
type sessionTracker struct {
	reg *conns.Registry
	g   prometheus.Gauge
}

// Add counts and tracks c.
func (t sessionTracker) Add(c pusherproto.Closer) {
	t.g.Inc()
	t.reg.Add(c)
}

// Done takes c out, counting it out only the first time.
func (t sessionTracker) Done(c pusherproto.Closer) {
	if t.reg.Done(c) {
		t.g.Dec()
	}
}

// trackAs returns the connection registry's Track that also counts the
// connections of protocol in pushgate_realtime_sessions.
func (s *Server) trackAs(protocol string) func(close func(context.Context)) (done func()) {
	g := s.metrics.sessions.WithLabelValues(protocol)
	return func(close func(context.Context)) func() {
		g.Inc()
		done := s.conns.Track(close)
		var once sync.Once
		return func() {
			once.Do(func() {
				g.Dec()
				done()
			})
		}
	}
}
