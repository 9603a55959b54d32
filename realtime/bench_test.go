package realtime_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/realtime"
)

// counter is a session that counts what it is sent: the hub's share of a
// delivery, without a connection's.
type counter struct {
	p *proto
	n atomic.Int64
}

func (c *counter) Protocol() realtime.Protocol { return c.p }
func (c *counter) Send([]byte) bool            { c.n.Add(1); return true }
func (c *counter) Close(int, string)           {}

// signal is a session that hands each frame to a waiting benchmark.
type signal struct {
	p  *proto
	ch chan []byte
}

func (s *signal) Protocol() realtime.Protocol { return s.p }
func (s *signal) Send(f []byte) bool          { s.ch <- f; return true }
func (s *signal) Close(int, string)           {}

// populate registers n counting sessions of n users in app1.
func populate(h *realtime.Hub, p *proto, n int) []*counter {
	out := make([]*counter, n)
	for i := range out {
		out[i] = &counter{p: p}
		h.Register("app1", fmt.Sprint("user", i), fmt.Sprint("tok", i), out[i])
	}
	return out
}

var payload = msg("notification", map[string]any{"id": "0193a5b2-0000-7000-8000-000000000000", "title": "Hello",
	"message": "A notification of a realistic size for the benchmark", "priority": 5})

// BenchmarkFanOut10k sends one message to every session of an app with
// 10,000 sessions on this node.
func BenchmarkFanOut10k(b *testing.B) {
	h := realtime.New(realtime.Options{})
	if err := h.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer h.Shutdown(context.Background())
	sessions := populate(h, &proto{name: "ws"}, 10_000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := h.ToApp(ctx, "app1", payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(sessions)), "ns/delivery")
	if sessions[0].n.Load() != int64(b.N) {
		b.Fatalf("a session got %d of %d", sessions[0].n.Load(), b.N)
	}
}

// BenchmarkOneUser sends to one user (two sessions) among 10,000.
func BenchmarkOneUser(b *testing.B) {
	h := realtime.New(realtime.Options{})
	if err := h.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer h.Shutdown(context.Background())
	p := &proto{name: "ws"}
	populate(h, p, 10_000)
	h.Register("app1", "user42", "other", &counter{p: p})
	ctx, users := context.Background(), []string{"user42"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := h.ToUsers(ctx, "app1", users, payload); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRegister registers and unregisters a session among 10,000.
func BenchmarkRegister(b *testing.B) {
	h := realtime.New(realtime.Options{})
	p := &proto{name: "ws"}
	populate(h, p, 10_000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		s := &counter{p: p}
		for pb.Next() {
			h.Register("app1", "user7", "tok", s)()
		}
	})
}

// BenchmarkRedisRoundTrip measures one message from a hub to a session on
// another hub through Redis: publish, Redis, decode, deliver.
func BenchmarkRedisRoundTrip(b *testing.B) {
	url, ns := testenv.RedisURL(b), testenv.Namespace(b)
	a, other := redisHub(b, url, ns), redisHub(b, url, ns)
	s := &signal{p: &proto{name: "ws"}, ch: make(chan []byte, 1)}
	other.Register("app1", "ann", "", s)
	ctx, users := context.Background(), []string{"ann"}
	b.ReportAllocs()
	for b.Loop() {
		if err := a.ToUsers(ctx, "app1", users, payload); err != nil {
			b.Fatal(err)
		}
		select {
		case <-s.ch:
		case <-time.After(10 * time.Second):
			b.Fatal("the message did not cross")
		}
	}
}

// queued is a session as a protocol builds it: a bounded queue drained by
// the connection's own writer goroutine, here one that counts.
type queued struct {
	p *proto
	q chan []byte
}

func (s *queued) Protocol() realtime.Protocol { return s.p }
func (s *queued) Close(int, string)           {}
func (s *queued) Send(f []byte) bool {
	select {
	case s.q <- f:
		return true
	default:
		return false
	}
}

// BenchmarkFanOut10kQueued sends one message to 10,000 queued sessions and
// waits until every writer goroutine has taken it: the hub's fan-out plus
// the hand-over to 10,000 goroutines, without sockets.
func BenchmarkFanOut10kQueued(b *testing.B) {
	h := realtime.New(realtime.Options{})
	defer h.Shutdown(context.Background())
	const n = 10_000
	var got atomic.Int64
	done := make(chan struct{}, 1)
	p := &proto{name: "ws"}
	stop := make(chan struct{})
	defer close(stop)
	for i := range n {
		s := &queued{p: p, q: make(chan []byte, 16)}
		h.Register("app1", fmt.Sprint("user", i), "", s)
		go func() {
			for {
				select {
				case <-s.q:
					if got.Add(1)%n == 0 {
						done <- struct{}{}
					}
				case <-stop:
					return
				}
			}
		}()
	}
	ctx := context.Background()
	for b.Loop() {
		if err := h.ToApp(ctx, "app1", payload); err != nil {
			b.Fatal(err)
		}
		<-done
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
}

// BenchmarkChannel10k sends one message to a channel with 10,000
// subscribers on this node (Pusher's fan-out): rendered once, and the
// hub allocates a constant amount whatever the number of subscribers.
func BenchmarkChannel10k(b *testing.B) {
	h := realtime.New(realtime.Options{})
	if err := h.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer h.Shutdown(context.Background())
	p := &proto{name: "pusher"}
	sessions := make([]*counter, 10_000)
	for i := range sessions {
		sessions[i] = &counter{p: p}
		h.Register("app1", "", "", sessions[i])
		h.Subscribe("app1", "news", sessions[i])
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := h.ToChannel(ctx, "app1", "news", "", payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(sessions)), "ns/delivery")
	if sessions[0].n.Load() != int64(b.N) {
		b.Fatalf("a session got %d of %d", sessions[0].n.Load(), b.N)
	}
}
