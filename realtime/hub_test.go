package realtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushgate/pushgate/realtime"
)

// proto renders a message as "<name>|<type>|<payload>" and counts renders.
type proto struct {
	name    string
	renders atomic.Int64
}

func (p *proto) Render(m realtime.Message) ([]byte, error) {
	p.renders.Add(1)
	if m.Type == "unrenderable" {
		return nil, fmt.Errorf("%s cannot render %q", p.name, m.Type)
	}
	return fmt.Appendf(nil, "%s|%s|%s", p.name, m.Type, m.Payload), nil
}

// session keeps what it receives in a queue of a fixed bound, as a
// protocol's outbound queue would before its writer drains it.
type session struct {
	proto *proto
	q     chan string
	mu    sync.Mutex
	code  int
	why   string
	shut  chan struct{}
	once  sync.Once
}

func newSession(p *proto, bound int) *session {
	return &session{proto: p, q: make(chan string, bound), shut: make(chan struct{})}
}

func (s *session) Protocol() realtime.Protocol { return s.proto }

func (s *session) Send(frame []byte) bool {
	select {
	case <-s.shut:
		return false
	default:
	}
	select {
	case s.q <- string(frame):
		return true
	default:
		return false
	}
}

func (s *session) Close(code int, reason string) {
	s.once.Do(func() {
		s.mu.Lock()
		s.code, s.why = code, reason
		s.mu.Unlock()
		close(s.shut)
	})
}

func (s *session) closed() (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code, s.why
}

// next waits for the next frame; a frame that does not come within ten
// seconds fails the test (a bound on waiting, not a timing assertion).
func (s *session) next(t *testing.T) string {
	t.Helper()
	select {
	case f := <-s.q:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no frame arrived")
		return ""
	}
}

// drained returns the frames queued now.
func (s *session) drained() []string {
	var out []string
	for {
		select {
		case f := <-s.q:
			out = append(out, f)
		default:
			return out
		}
	}
}

func (s *session) waitClosed(t *testing.T) (int, string) {
	t.Helper()
	select {
	case <-s.shut:
		return s.closed()
	case <-time.After(10 * time.Second):
		t.Fatal("the session was not closed")
		return 0, ""
	}
}

func msg(typ string, payload any) realtime.Message {
	b, _ := json.Marshal(payload)
	return realtime.Message{Type: typ, Payload: b}
}

func startHub(t *testing.T, opts realtime.Options) *realtime.Hub {
	t.Helper()
	h := realtime.New(opts)
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Shutdown(context.Background()) })
	return h
}

func TestToUsersReachesEverySessionOfEachUserOnce(t *testing.T) {
	ctx := t.Context()
	h := startHub(t, realtime.Options{})
	ws, sse := &proto{name: "ws"}, &proto{name: "sse"}
	tab1, tab2, phone := newSession(ws, 8), newSession(ws, 8), newSession(sse, 8)
	other, otherApp := newSession(ws, 8), newSession(ws, 8)
	h.Register("app1", "ann", "tok1", tab1)
	h.Register("app1", "ann", "tok1", tab2)
	h.Register("app1", "ann", "tok2", phone)
	h.Register("app1", "bob", "tok3", other)
	h.Register("app2", "ann", "tok4", otherApp)

	if err := h.ToUsers(ctx, "app1", []string{"ann", "ann", "nobody"}, msg("unseen", map[string]int{"count": 3})); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s    *session
		want []string
	}{
		{tab1, []string{`ws|unseen|{"count":3}`}},
		{tab2, []string{`ws|unseen|{"count":3}`}},
		{phone, []string{`sse|unseen|{"count":3}`}},
		{other, nil},
		{otherApp, nil},
	} {
		if got := c.s.drained(); !slices.Equal(got, c.want) {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
	if ws.renders.Load() != 1 || sse.renders.Load() != 1 {
		t.Errorf("renders: ws %d, sse %d; want one per protocol", ws.renders.Load(), sse.renders.Load())
	}
	if n := h.Sessions("app1", "ann"); n != 3 {
		t.Errorf("Sessions = %d, want 3", n)
	}
}

func TestToAppReachesEverySessionOfTheAppOnly(t *testing.T) {
	h := startHub(t, realtime.Options{})
	p := &proto{name: "ws"}
	var mine []*session
	for i := range 5 {
		s := newSession(p, 8)
		h.Register("app1", fmt.Sprint("user", i), "", s)
		mine = append(mine, s)
	}
	theirs := newSession(p, 8)
	h.Register("app2", "user0", "", theirs)
	if err := h.ToApp(t.Context(), "app1", msg("notification", map[string]string{"id": "n1"})); err != nil {
		t.Fatal(err)
	}
	for _, s := range mine {
		if got := s.drained(); len(got) != 1 {
			t.Errorf("a session of the app got %q", got)
		}
	}
	if got := theirs.drained(); len(got) != 0 {
		t.Errorf("a session of another app got %q", got)
	}
}

func TestAMessageThatDoesNotRenderReachesNoOneAndTheHubGoesOn(t *testing.T) {
	h := startHub(t, realtime.Options{})
	s := newSession(&proto{name: "ws"}, 8)
	h.Register("app1", "ann", "", s)
	_ = h.ToUsers(t.Context(), "app1", []string{"ann"}, realtime.Message{Type: "unrenderable"})
	_ = h.ToUsers(t.Context(), "app1", []string{"ann"}, realtime.Message{Type: "pong"})
	if got := s.drained(); !slices.Equal(got, []string{"ws|pong|"}) {
		t.Errorf("got %q", got)
	}
	if code, _ := s.closed(); code != 0 {
		t.Errorf("the session was closed with %d", code)
	}
}

func TestUnregisterRemovesTheSession(t *testing.T) {
	h := startHub(t, realtime.Options{})
	p := &proto{name: "ws"}
	a, b := newSession(p, 8), newSession(p, 8)
	unA := h.Register("app1", "ann", "tok1", a)
	h.Register("app1", "ann", "tok1", b)
	unA()
	unA() // a second call does nothing
	if n := h.Sessions("app1", "ann"); n != 1 {
		t.Fatalf("Sessions = %d after one of two unregistered", n)
	}
	_ = h.ToUsers(t.Context(), "app1", []string{"ann"}, msg("pong", nil))
	_ = h.ToApp(t.Context(), "app1", msg("pong", nil))
	_ = h.CloseToken(t.Context(), "app1", "tok1", realtime.CloseRevoked, "revoked")
	if got := a.drained(); len(got) != 0 {
		t.Errorf("an unregistered session got %q", got)
	}
	if code, _ := a.closed(); code != 0 {
		t.Errorf("an unregistered session was closed with %d", code)
	}
	if got := b.drained(); len(got) != 2 {
		t.Errorf("the registered session got %q", got)
	}
	if n := h.Sessions("app1", "ann"); n != 0 {
		t.Errorf("Sessions = %d after its token was closed", n)
	}
}

func TestASlowSessionIsDroppedWithoutStallingOthers(t *testing.T) {
	h := startHub(t, realtime.Options{})
	p := &proto{name: "ws"}
	slow := newSession(p, 2) // nobody drains it
	h.Register("app1", "slow", "", slow)
	fast := make([]*session, 3)
	for i := range fast {
		fast[i] = newSession(p, 100)
		h.Register("app1", fmt.Sprint("fast", i), "", fast[i])
	}
	for i := range 10 {
		if err := h.ToApp(t.Context(), "app1", msg("n", i)); err != nil {
			t.Fatal(err)
		}
	}
	if code, why := slow.closed(); code != realtime.CloseSlowConsumer || why == "" {
		t.Errorf("the slow session was closed with %d %q", code, why)
	}
	if n := h.Sessions("app1", "slow"); n != 0 {
		t.Errorf("the slow session is still registered (%d)", n)
	}
	for _, s := range fast {
		if got := s.drained(); len(got) != 10 {
			t.Errorf("a fast session got %d of 10 frames", len(got))
		}
	}
}

func TestShutdownClosesEverySessionAndLaterOnes(t *testing.T) {
	h := realtime.New(realtime.Options{})
	if err := h.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := &proto{name: "ws"}
	s := newSession(p, 8)
	h.Register("app1", "ann", "", s)
	if err := h.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code, _ := s.closed(); code != realtime.CloseGoingAway {
		t.Errorf("closed with %d at shutdown", code)
	}
	late := newSession(p, 8)
	h.Register("app1", "ann", "", late)()
	if code, _ := late.closed(); code != realtime.CloseGoingAway {
		t.Errorf("a session registered after shutdown was closed with %d", code)
	}
	if n := h.Sessions("app1", "ann"); n != 0 {
		t.Errorf("Sessions = %d after shutdown", n)
	}
}

func TestConcurrentRegisterPublishAndUnregister(t *testing.T) {
	b := realtime.NewMemoryBroker()
	h1 := startHub(t, realtime.Options{Broker: b})
	h2 := startHub(t, realtime.Options{Broker: b})
	p := &proto{name: "ws"}
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			h := []*realtime.Hub{h1, h2}[w%2]
			for i := range 200 {
				user := fmt.Sprint("user", i%10)
				s := newSession(p, 4)
				un := h.Register("app1", user, fmt.Sprint("tok", i%3), s)
				_ = h.ToUsers(ctx, "app1", []string{user, "user1"}, msg("n", i))
				_ = h.ToApp(ctx, "app1", msg("b", i))
				if i%7 == 0 {
					_ = h.CloseToken(ctx, "app1", fmt.Sprint("tok", i%3), realtime.CloseRevoked, "revoked")
				}
				_ = h.Sessions("app1", user)
				un()
			}
		})
	}
	wg.Wait()
	for i := range 10 {
		if n := h1.Sessions("app1", fmt.Sprint("user", i)) + h2.Sessions("app1", fmt.Sprint("user", i)); n != 0 {
			t.Errorf("user%d has %d sessions left", i, n)
		}
	}
}

func TestAnAnonymousSessionGetsBroadcastsOnly(t *testing.T) {
	h := startHub(t, realtime.Options{})
	s := newSession(&proto{name: "ws"}, 8)
	h.Register("app1", "", "", s)
	_ = h.ToUsers(t.Context(), "app1", []string{""}, msg("to users", nil))
	_ = h.ToApp(t.Context(), "app1", msg("to app", nil))
	if got := s.drained(); !slices.Equal(got, []string{"ws|to app|null"}) {
		t.Errorf("got %q", got)
	}
	if n := h.Sessions("app1", ""); n != 0 {
		t.Errorf("Sessions of no user = %d", n)
	}
}

// TestALargeFanOutReachesEachSessionOnce crosses the size at which the hub
// splits a fan-out among processors: every session still gets the
// message once, a slow one among them is dropped, and the message is
// rendered at most once per part.
func TestALargeFanOutReachesEachSessionOnce(t *testing.T) {
	h := startHub(t, realtime.Options{})
	p := &proto{name: "ws"}
	var all []*session
	for i := range 5000 {
		s := newSession(p, 1)
		h.Register("app1", fmt.Sprint("user", i), "", s)
		all = append(all, s)
	}
	slow := all[2500]
	slow.q <- "full"
	if err := h.ToApp(t.Context(), "app1", msg("notification", map[string]string{"id": "n1"})); err != nil {
		t.Fatal(err)
	}
	for i, s := range all {
		if s == slow {
			continue
		}
		if got := s.drained(); len(got) != 1 {
			t.Fatalf("session %d got %q", i, got)
		}
	}
	if code, _ := slow.waitClosed(t); code != realtime.CloseSlowConsumer {
		t.Errorf("the slow session was closed with %d, want %d", code, realtime.CloseSlowConsumer)
	}
	if n := p.renders.Load(); n > int64(runtime.GOMAXPROCS(0)) {
		t.Errorf("rendered %d times for one message", n)
	}
}

// Revoking a token closes the sessions opened with it and no other: not
// another token's session of the same user, and not the sessions opened
// without a token (delegated authentication), even for an empty token id.
func TestCloseTokenClosesItsSessionsOnly(t *testing.T) {
	h := startHub(t, realtime.Options{})
	p := &proto{name: "ws"}
	one, other, none := newSession(p, 8), newSession(p, 8), newSession(p, 8)
	h.Register("app1", "ann", "tok1", one)
	h.Register("app1", "ann", "tok2", other)
	h.Register("app1", "ann", "", none)
	_ = h.CloseToken(t.Context(), "app1", "", realtime.CloseRevoked, "revoked")
	_ = h.CloseToken(t.Context(), "app1", "tok1", realtime.CloseRevoked, "revoked")
	if code, _ := one.closed(); code != realtime.CloseRevoked {
		t.Errorf("tok1's session: closed with %d, want %d", code, realtime.CloseRevoked)
	}
	for name, s := range map[string]*session{"tok2": other, "no token": none} {
		if code, _ := s.closed(); code != 0 {
			t.Errorf("the %s session was closed with %d", name, code)
		}
	}
	if n := h.Sessions("app1", "ann"); n != 2 {
		t.Errorf("Sessions = %d, want 2 left", n)
	}
}

// Channels: a session subscribes once, a publication skips the excluded
// socket, and an unsubscribed session hears nothing more.
func TestChannelSubscriptions(t *testing.T) {
	h := realtime.New(realtime.Options{})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer h.Shutdown(context.Background())
	p := &proto{name: "ws"}
	a, b := &idSession{newSession(p, 8), "1.1"}, &idSession{newSession(p, 8), "2.2"}
	for _, s := range []realtime.Session{a, b} {
		if !h.Subscribe("app", "news", s) {
			t.Fatal("subscribe refused")
		}
	}
	if h.Subscribe("app", "news", a) || h.Subscribers("app", "news") != 2 {
		t.Fatal("a session subscribed twice")
	}
	h.ToChannel(context.Background(), "app", "news", "1.1", realtime.Message{Type: "x"})
	h.ToChannel(context.Background(), "app", "other", "", realtime.Message{Type: "y"})
	if len(a.q) != 0 || len(b.q) != 1 {
		t.Fatalf("a got %d, b %d frames; want 0 and 1", len(a.q), len(b.q))
	}
	if !h.Unsubscribe("app", "news", b) || h.Unsubscribe("app", "news", b) {
		t.Fatal("unsubscribe")
	}
	h.ToChannel(context.Background(), "app", "news", "", realtime.Message{Type: "z"})
	if len(a.q) != 1 || len(b.q) != 1 || h.Subscribers("app", "news") != 1 {
		t.Fatalf("after unsubscribing: a %d, b %d frames", len(a.q), len(b.q))
	}
}

type idSession struct {
	*session
	id string
}

func (s *idSession) SocketID() string { return s.id }
