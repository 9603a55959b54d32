package socketio_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/redisconn"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/realtime"
	"github.com/pushgate/pushgate/realtime/socketio"
)

// newConnections opens the test Redis (a real one when
// PUSHGATE_TEST_REDIS_URL is set) and a store on a clock the test moves.
func newConnections(t *testing.T, ttl time.Duration) (*socketio.Connections, *time.Time) {
	t.Helper()
	opt, err := redisconn.Options(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redisconn.Client(opt)
	t.Cleanup(func() { rdb.Close() })
	now := time.Now()
	return socketio.NewConnections(rdb, testenv.Namespace(t), ttl, func() time.Time { return now }), &now
}

func TestConnectionsBelongToOneUserAndExpire(t *testing.T) {
	ctx := context.Background()
	c, now := newConnections(t, time.Hour)
	if err := c.Register(ctx, "app", "alice", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Register(ctx, "app", "bob", "c1"); pushgate.ErrorCode(err) != pushgate.ECONFLICT {
		t.Fatalf("another user's connectionId: %v", err)
	}
	claims := []struct{ app, user, conn, want string }{
		{"app", "alice", "c1", ""},
		{"app", "bob", "c1", socketio.ReasonOtherUser},
		{"app", "alice", "c2", socketio.ReasonUnknown},
		{"other-app", "alice", "c1", socketio.ReasonUnknown},
	}
	for _, tc := range claims {
		if got, err := c.Claim(ctx, tc.app, tc.user, tc.conn); err != nil || got != tc.want {
			t.Errorf("claim %v: %q, %v", tc, got, err)
		}
	}
	// A claim renews: 50 minutes after it, it is still good.
	*now = now.Add(50 * time.Minute)
	if got, _ := c.Claim(ctx, "app", "alice", "c1"); got != "" {
		t.Fatalf("renewed connectionId: %q", got)
	}
	// Unused for longer than the TTL: expired, and another user may take it.
	*now = now.Add(61 * time.Minute)
	if got, _ := c.Claim(ctx, "app", "alice", "c1"); got != socketio.ReasonExpired {
		t.Fatalf("after the TTL: %q", got)
	}
	if err := c.Register(ctx, "app", "bob", "c1"); err != nil {
		t.Fatalf("an expired connectionId for another user: %v", err)
	}
	if got, _ := c.Claim(ctx, "app", "bob", "c1"); got != "" {
		t.Fatalf("bob's connectionId: %q", got)
	}
}

// A frame is the notification's id (empty for a push), a newline and what
// the tab emits.
func TestProtocolRendersPushesAndNotifications(t *testing.T) {
	m, err := socketio.PushMessage(json.RawMessage(`{"title":"t","n":[1,2]}`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		m    realtime.Message
		want string
	}{
		{m, "\n" + `2["message",{"title":"t","n":[1,2]}]`},
		{realtime.Message{Type: "notification", Payload: json.RawMessage(`{"id":"n1","title":"x"}`)}, "n1\n" + `2["message",{"id":"n1","title":"x"}]`},
		{realtime.Message{Type: "notification", Payload: json.RawMessage(`{"id":"n2","title":"notification-server push","extras":{"compatMessage":[1,"a"]}}`)},
			"n2\n" + `2["message",[1,"a"]]`},
		{realtime.Message{Type: "unseen", Payload: json.RawMessage(`{"count":3}`)}, ``},
		{realtime.Message{Type: "retracted", Payload: json.RawMessage(`{"id":"n1"}`)}, ``},
	}
	for _, tc := range cases {
		got, err := socketio.Protocol.Render(tc.m)
		if err != nil || string(got) != tc.want {
			t.Errorf("render %s: %q, %v; want %q", tc.m.Type, got, err, tc.want)
		}
	}
	if _, err := socketio.Protocol.Render(realtime.Message{Type: socketio.TypePush, Payload: json.RawMessage(`{}`)}); err == nil {
		t.Error("a push without a message renders")
	}
}
