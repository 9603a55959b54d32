package realtime_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/pushgate/pushgate/internal/redisconn"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/realtime"
)

// nodes returns two hubs that stand for two nodes, on each broker: one
// MemoryBroker shared in-process, and Redis (PUSHGATE_TEST_REDIS_URL or a
// miniredis) with a client per node and a namespace of the test's own.
func forEachBroker(t *testing.T, fn func(t *testing.T, a, b *realtime.Hub)) {
	t.Run("memory", func(t *testing.T) {
		br := realtime.NewMemoryBroker()
		fn(t, startHub(t, realtime.Options{Broker: br}), startHub(t, realtime.Options{Broker: br}))
	})
	t.Run("redis", func(t *testing.T) {
		url, ns := testenv.RedisURL(t), testenv.Namespace(t)
		fn(t, redisHub(t, url, ns), redisHub(t, url, ns))
	})
}

func redisClient(t testing.TB, url string) redis.UniversalClient {
	t.Helper()
	opt, err := redisconn.Options(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redisconn.Client(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func redisHub(t testing.TB, url, namespace string) *realtime.Hub {
	t.Helper()
	br := realtime.NewRedisBroker(redisClient(t, url), realtime.RedisOptions{Namespace: namespace})
	h := realtime.New(realtime.Options{Broker: br})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	return h
}

func TestTwoNodesDeliverAcrossExactlyOnce(t *testing.T) {
	forEachBroker(t, func(t *testing.T, a, b *realtime.Hub) {
		ctx := t.Context()
		p := &proto{name: "ws"}
		onA, onB, bobOnB := newSession(p, 16), newSession(p, 16), newSession(p, 16)
		a.Register("app1", "ann", "tok1", onA)
		b.Register("app1", "ann", "tok2", onB)
		b.Register("app1", "bob", "tok3", bobOnB)

		if err := a.ToUsers(ctx, "app1", []string{"ann"}, msg("n", "from a")); err != nil {
			t.Fatal(err)
		}
		if err := b.ToUsers(ctx, "app1", []string{"ann"}, msg("n", "from b")); err != nil {
			t.Fatal(err)
		}
		if err := b.ToApp(ctx, "app1", msg("b", "all")); err != nil {
			t.Fatal(err)
		}
		// One publisher's events arrive in order, so once the last one is
		// in, a repeat of an earlier one would be too.
		want := []string{`ws|n|"from a"`, `ws|n|"from b"`, `ws|b|"all"`}
		for _, s := range []*session{onA, onB} {
			got := collect(t, s, len(want))
			slices.Sort(got)
			w := slices.Sorted(slices.Values(want))
			if !slices.Equal(got, w) {
				t.Errorf("got %q, want %q", got, w)
			}
		}
		if got := collect(t, bobOnB, 1); got[0] != `ws|b|"all"` {
			t.Errorf("bob got %q", got)
		}
		settle(t, a, b)
		for _, s := range []*session{onA, onB, bobOnB} {
			if extra := s.drained(); len(extra) != 0 {
				t.Errorf("frames delivered twice: %q", extra)
			}
		}
	})
}

// collect waits for n frames.
func collect(t *testing.T, s *session, n int) []string {
	t.Helper()
	var out []string
	for range n {
		out = append(out, s.next(t))
	}
	return out
}

// settle publishes a marker from each hub to a session of its own on the
// other and waits for both: whatever either published before has arrived.
func settle(t *testing.T, hubs ...*realtime.Hub) {
	t.Helper()
	p := &proto{name: "marker"}
	var marks []*session
	for i, h := range hubs {
		s := newSession(p, 4)
		defer h.Register("settle", "u"+string(rune('a'+i)), "", s)()
		marks = append(marks, s)
	}
	for i, h := range hubs {
		other := "u" + string(rune('a'+(i+1)%len(hubs)))
		if err := h.ToUsers(t.Context(), "settle", []string{other}, msg("mark", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range marks {
		s.next(t)
	}
}

func TestRevokingATokenClosesItsSessionsOnEveryNode(t *testing.T) {
	forEachBroker(t, func(t *testing.T, a, b *realtime.Hub) {
		p := &proto{name: "ws"}
		onA, onB, keep := newSession(p, 4), newSession(p, 4), newSession(p, 4)
		a.Register("app1", "ann", "tok1", onA)
		b.Register("app1", "ann", "tok1", onB)
		b.Register("app1", "ann", "tok2", keep)
		if err := a.CloseToken(t.Context(), "app1", "tok1", realtime.CloseRevoked, "token revoked"); err != nil {
			t.Fatal(err)
		}
		for _, s := range []*session{onA, onB} {
			if code, why := s.waitClosed(t); code != realtime.CloseRevoked || why != "token revoked" {
				t.Errorf("closed with %d %q", code, why)
			}
		}
		settle(t, a, b)
		if code, _ := keep.closed(); code != 0 {
			t.Errorf("a session of another token was closed with %d", code)
		}
		if n := b.Sessions("app1", "ann"); n != 1 {
			t.Errorf("node b has %d sessions of ann, want the other token's 1", n)
		}
	})
}

func TestInstallationsSharingARedisStayApart(t *testing.T) {
	url := testenv.RedisURL(t)
	ns := testenv.Namespace(t)
	a, b := redisHub(t, url, ns+"_one"), redisHub(t, url, ns+"_two")
	p := &proto{name: "ws"}
	other := newSession(p, 4)
	b.Register("app1", "ann", "", other)
	mine := newSession(p, 4)
	a2 := redisHub(t, url, ns+"_one")
	a2.Register("app1", "ann", "", mine)
	if err := a.ToUsers(t.Context(), "app1", []string{"ann"}, msg("n", 1)); err != nil {
		t.Fatal(err)
	}
	mine.next(t) // the same installation's node has it...
	settle(t, b, redisHub(t, url, ns+"_two"))
	if got := other.drained(); len(got) != 0 { // ...and the other installation not
		t.Errorf("another namespace got %q", got)
	}
}

// logs collects log records' messages.
type logs struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	return nil
}
func (l *logs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logs) WithGroup(string) slog.Handler      { return l }
func (l *logs) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.msgs, "\n")
}

func TestTheRedisSubscriptionComesBackAfterARestart(t *testing.T) {
	mr := miniredis.RunT(t)
	url := "redis://" + mr.Addr()
	var lg logs
	sub := realtime.New(realtime.Options{Logger: slog.New(&lg), Broker: realtime.NewRedisBroker(redisClient(t, url),
		realtime.RedisOptions{Namespace: "restart", Logger: slog.New(&lg)})})
	if err := sub.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer sub.Shutdown(context.Background())
	pub := redisHub(t, url, "restart")
	s := newSession(&proto{name: "ws"}, 64)
	sub.Register("app1", "ann", "", s)

	mr.Close()
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	// Pub/sub keeps nothing for a node that is away: publish until the
	// subscription is back and one arrives.
	deadline := time.Now().Add(10 * time.Second)
	for len(s.q) == 0 && time.Now().Before(deadline) {
		_ = pub.ToUsers(t.Context(), "app1", []string{"ann"}, msg("n", "after restart"))
		time.Sleep(20 * time.Millisecond)
	}
	if got := s.next(t); got != `ws|n|"after restart"` {
		t.Errorf("got %q", got)
	}
	if text := lg.text(); !strings.Contains(text, "subscription lost") || !strings.Contains(text, "subscription back") {
		t.Errorf("the loss and the recovery were not logged: %q", text)
	}
}

func TestAQuietRedisSubscriptionIsPingedNotDropped(t *testing.T) {
	url := testenv.RedisURL(t)
	ns := testenv.Namespace(t)
	var lg logs
	br := realtime.NewRedisBroker(redisClient(t, url), realtime.RedisOptions{Namespace: ns, Logger: slog.New(&lg), HealthInterval: 100 * time.Millisecond})
	sub := realtime.New(realtime.Options{Broker: br})
	if err := sub.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer sub.Shutdown(context.Background())
	s := newSession(&proto{name: "ws"}, 4)
	sub.Register("app1", "ann", "", s)
	time.Sleep(time.Second) // quiet for many health intervals
	if err := redisHub(t, url, ns).ToUsers(t.Context(), "app1", []string{"ann"}, msg("n", 1)); err != nil {
		t.Fatal(err)
	}
	s.next(t)
	if text := lg.text(); strings.Contains(text, "lost") {
		t.Errorf("a quiet subscription was dropped: %q", text)
	}
}
