package pusherproto_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/redisconn"
	"github.com/pushgate/pushgate/realtime/pusherproto"
)

// hooks records the webhook events of every node of a cluster, as the
// server's store would.
type hooks struct {
	mu     sync.Mutex
	events []string
}

func (h *hooks) Record(appID string, e pusherproto.WebhookEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := appID + " " + e.Name + " " + e.Channel
	if e.UserID != "" {
		s += " user=" + e.UserID
	}
	if e.Event != "" {
		s += fmt.Sprintf(" event=%s data=%s socket=%t", e.Event, e.Data, e.SocketID != "")
	}
	h.events = append(h.events, s)
}

// wait returns the events once there are n of them, failing after 5 s.
func (h *hooks) wait(t *testing.T, n int) []string {
	t.Helper()
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(5 * time.Millisecond) {
		h.mu.Lock()
		got := slices.Clone(h.events)
		h.mu.Unlock()
		if len(got) >= n {
			return got
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t.Fatalf("want %d webhook events, have %q", n, h.events)
	return nil
}

// TestWebhookEventsAcrossNodes: a channel is occupied by its first
// subscriber on any node and vacated by its last; member_added and
// member_removed come once per user however many connections it has, on
// whichever nodes; client events and cache misses are reported with
// Pusher's fields.
func TestWebhookEventsAcrossNodes(t *testing.T) {
	h := &hooks{}
	a := app
	a.Webhooks = true
	nodes := clusterOf(t, 2, pusherproto.Options{Webhooks: h}, a)
	alice, bob := nodes[0].dial(t), nodes[1].dial(t)

	alice.subscribe("private-room", "")
	h.wait(t, 1)
	bob.subscribe("private-room", "")
	alice.send(`{"event":"client-typing","channel":"private-room","data":{"on":true}}`)
	bob.next() // the client event: it was handled
	alice.send(`{"event":"pusher:unsubscribe","data":{"channel":"private-room"}}`)
	bob.send(`{"event":"pusher:unsubscribe","data":{"channel":"private-room"}}`)
	h.wait(t, 3)

	alice2 := nodes[1].dial(t)
	alice.subscribe("presence-x", presenceData("alice"))
	h.wait(t, 5) // occupied, alice added
	alice2.subscribe("presence-x", presenceData("alice"))
	bob.subscribe("presence-x", presenceData("bob"))
	h.wait(t, 6)
	alice.send(`{"event":"pusher:unsubscribe","data":{"channel":"presence-x"}}`)
	alice2.send(`{"event":"pusher:unsubscribe","data":{"channel":"presence-x"}}`)
	h.wait(t, 7)
	bob.send(`{"event":"pusher:unsubscribe","data":{"channel":"presence-x"}}`)
	h.wait(t, 9)
	bob.subscribe("cache-news", "")
	got := h.wait(t, 11)

	want := []string{
		"42 channel_occupied private-room",
		`42 client_event private-room event=client-typing data={"on":true} socket=true`,
		"42 channel_vacated private-room",
		"42 channel_occupied presence-x",
		"42 member_added presence-x user=alice",
		"42 member_added presence-x user=bob",
		"42 member_removed presence-x user=alice",
		"42 member_removed presence-x user=bob",
		"42 channel_vacated presence-x",
		"42 channel_occupied cache-news",
		"42 cache_miss cache-news",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("webhook events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestNoWebhookEventsWithoutAURL: an app without a channel webhook makes
// no events.
func TestNoWebhookEventsWithoutAURL(t *testing.T) {
	h := &hooks{}
	n := cluster(t, 1, pusherproto.Options{Webhooks: h})[0]
	c := n.dial(t)
	c.subscribe("presence-x", presenceData("alice"))
	c.subscribe("cache-x", "")
	c.next() // cache_miss
	c.quiet()
	if len(h.events) != 0 {
		t.Fatalf("events %q", h.events)
	}
}

// TestADeadNodesChannelsAreVacated: the reaper reports the channels whose
// last subscriptions were on a node that died, and its members.
func TestADeadNodesChannelsAreVacated(t *testing.T) {
	h := &hooks{}
	n := cluster(t, 1, pusherproto.Options{Webhooks: h})[0]
	opt, err := redisconn.Options(n.redis)
	if err != nil {
		t.Fatal(err)
	}
	rc := redisconn.Client(opt)
	defer rc.Close()
	ctx := context.Background()
	ghost := pusherproto.NewRedisState(rc, n.ns, "ghost")
	if err := ghost.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	ghost.Subscribed(ctx, app.ID, "lonely")
	ghost.Subscribed(ctx, app.ID, "presence-y")
	ghost.Join(ctx, app.ID, "presence-y", "gus", nil, 100)
	alive := n.dial(t)
	alive.subscribe("shared", "")
	ghost.Subscribed(ctx, app.ID, "shared")
	rc.Del(ctx, n.ns+":pusher:alive:ghost")
	n.h.ReapOnce(ctx)
	got := h.wait(t, 3)
	slices.Sort(got)
	want := []string{"42 channel_vacated lonely", "42 channel_vacated presence-y", "42 member_removed presence-y user=gus"}
	if !slices.Equal(got, want) {
		t.Fatalf("after the reap: %q, want %q", got, want)
	}
}

// TestSubscriptionCount: with the app's setting, the subscribers of a
// channel hear its count, on every node, as it changes.
func TestSubscriptionCount(t *testing.T) {
	a := app
	a.SubscriptionCount = true
	nodes := clusterOf(t, 2, pusherproto.Options{}, a)
	alice, bob := nodes[0].dial(t), nodes[1].dial(t)
	// count reads c's frames until the channel's count is want: a count
	// published before c subscribed may still reach c through Redis.
	count := func(c *client, want int) {
		t.Helper()
		for {
			f := c.next()
			if f.Event == "pusher_internal:subscription_succeeded" {
				continue
			}
			if f.Event != "pusher_internal:subscription_count" || f.Channel != "news" {
				t.Fatalf("got %+v", f)
			}
			if f.str() == fmt.Sprintf(`{"subscription_count":%d}`, want) {
				return
			}
		}
	}
	alice.subscribe("news", "")
	count(alice, 1)
	bob.send(`{"event":"pusher:subscribe","data":{"channel":"news"}}`)
	count(alice, 2)
	count(bob, 2)
	bob.send(`{"event":"pusher:unsubscribe","data":{"channel":"news"}}`)
	count(alice, 1)
	// Not on presence channels, whose member counts say as much.
	if f := alice.subscribe("presence-q", presenceData("alice")); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("got %+v", f)
	}
	alice.quiet()
}
