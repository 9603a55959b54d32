package pusherproto_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushgate/pushgate/internal/redisconn"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/realtime"
	"github.com/pushgate/pushgate/realtime/pusherproto"
	"github.com/pushgate/pushgate/realtime/wsconn"
)

var app = pusherproto.App{ID: "42", Key: "thekey", Secret: "thesecret", ClientEvents: true}

// node is one pushgate node's Pusher endpoint; nodes made by cluster share
// a Redis (a real one under PUSHGATE_TEST_REDIS_URL) for both the broker
// and the channels' state.
type node struct {
	hub *realtime.Hub
	h   *pusherproto.Handler
	url string
	// redis and ns are the cluster's Redis and namespace.
	redis, ns string
}

func cluster(t *testing.T, n int, opts pusherproto.Options) []*node {
	t.Helper()
	return clusterOf(t, n, opts, app)
}

// clusterOf is cluster serving served (under app's key) instead of app.
func clusterOf(t *testing.T, n int, opts pusherproto.Options, served pusherproto.App) []*node {
	t.Helper()
	url, ns := testenv.RedisURL(t), testenv.Namespace(t)
	var nodes []*node
	for range n {
		opt, err := redisconn.Options(url)
		if err != nil {
			t.Fatal(err)
		}
		rc := redisconn.Client(opt)
		t.Cleanup(func() { _ = rc.Close() })
		hub := realtime.New(realtime.Options{Broker: realtime.NewRedisBroker(rc, realtime.RedisOptions{Namespace: ns})})
		if err := hub.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = hub.Shutdown(context.Background()) })
		up := wsconn.NewUpgrader(wsconn.Options{MaxFrameBytes: 16 << 10})
		t.Cleanup(up.Close)
		o := opts
		o.Hub, o.State, o.Upgrader = hub, pusherproto.NewRedisState(rc, ns, hub.Node()), up
		h := pusherproto.NewHandler(o)
		if err := h.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Shutdown(context.Background()) })
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a := served
			if strings.TrimPrefix(r.URL.Path, "/app/") != a.Key {
				h.ServeWS(w, r, nil)
				return
			}
			h.ServeWS(w, r, &a)
		}))
		t.Cleanup(srv.Close)
		nodes = append(nodes, &node{hub: hub, h: h, url: "ws" + strings.TrimPrefix(srv.URL, "http"), redis: url, ns: ns})
	}
	return nodes
}

type client struct {
	t        *testing.T
	ws       *websocket.Conn
	socketID string
}

func (n *node) dial(t *testing.T) *client {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(n.url+"/app/"+app.Key+"?protocol=7&client=test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &client{t: t, ws: ws}
	f := c.next()
	if f.Event != "pusher:connection_established" {
		t.Fatalf("first frame %+v", f)
	}
	var d struct {
		SocketID        string `json:"socket_id"`
		ActivityTimeout int    `json:"activity_timeout"`
	}
	if err := json.Unmarshal([]byte(f.str()), &d); err != nil || d.ActivityTimeout != 120 || d.SocketID == "" {
		t.Fatalf("connection_established data %s: %v", f.Data, err)
	}
	c.socketID = d.SocketID
	return c
}

type frame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  string          `json:"user_id"`
}

// str is data that is a JSON string, unquoted.
func (f frame) str() string {
	var s string
	_ = json.Unmarshal(f.Data, &s)
	return s
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) next() frame {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("reading a frame: %v", err)
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		c.t.Fatalf("frame %s: %v", data, err)
	}
	return f
}

// quiet checks that nothing arrives for a moment.
func (c *client) quiet() {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if _, data, err := c.ws.ReadMessage(); err == nil {
		c.t.Fatalf("unexpected frame %s", data)
	}
	c.ws.Close() // a timed-out gorilla connection cannot read again
}

// closed reads until the close frame and returns its code.
func (c *client) closed() int {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ws.ReadMessage()
		if ce, ok := err.(*websocket.CloseError); ok {
			return ce.Code
		}
		if err != nil {
			c.t.Fatalf("want a close frame, got %v", err)
		}
	}
}

func (c *client) subscribe(channel, channelData string) frame {
	c.t.Helper()
	auth := ""
	if !strings.HasPrefix(channel, "#") && (strings.HasPrefix(channel, "private-") || strings.HasPrefix(channel, "presence-")) {
		msg := c.socketID + ":" + channel
		if channelData != "" {
			msg += ":" + channelData
		}
		auth = app.Key + ":" + pusherproto.Sign(app.Secret, msg)
	}
	d, _ := json.Marshal(map[string]string{"channel": channel, "auth": auth, "channel_data": channelData})
	c.send(`{"event":"pusher:subscribe","data":` + string(d) + `}`)
	return c.next()
}

func trigger(t *testing.T, n *node, channel, event, data, except string) {
	t.Helper()
	if err := n.h.Trigger(context.Background(), app.ID, []pusherproto.Event{{Name: event, Data: data, Channels: []string{channel}, SocketID: except}}); err != nil {
		t.Fatal(err)
	}
}

func TestPingAndBadInput(t *testing.T) {
	n := cluster(t, 1, pusherproto.Options{})[0]
	c := n.dial(t)
	c.send(`{"event":"pusher:ping","data":{}}`)
	if f := c.next(); f.Event != "pusher:pong" {
		t.Fatalf("got %+v", f)
	}
	for _, bad := range []string{`not json`, `{"event":"nope:what"}`, `{"data":1}`, `{"event":"pusher:subscribe","data":"x"}`} {
		c.send(bad)
		if f := c.next(); f.Event != "pusher:error" {
			t.Fatalf("%s: got %+v", bad, f)
		}
	}
	for _, name := range []string{strings.Repeat("a", 165), "bad name", "has#hash", "ünï"} {
		if f := c.subscribe(name, ""); f.Event != "pusher:subscription_error" || !strings.Contains(string(f.Data), `"status":400`) {
			t.Fatalf("%q: got %+v %s", name, f, f.Data)
		}
	}
	if f := c.subscribe(strings.Repeat("a", 164), ""); f.Event != "pusher_internal:subscription_succeeded" {
		t.Fatalf("164 characters: got %+v", f)
	}
	c.send(`{"event":"pusher:ping","data":{}}`) // still served
	if f := c.next(); f.Event != "pusher:pong" {
		t.Fatalf("got %+v", f)
	}
	c.send(`{"event":"x","data":"` + strings.Repeat("a", 17<<10) + `"}`)
	if code := c.closed(); code != wsconn.CloseTooBig {
		t.Fatalf("oversize frame closed with %d", code)
	}
}

func TestRefusedConnections(t *testing.T) {
	n := cluster(t, 1, pusherproto.Options{})[0]
	for path, want := range map[string]int{
		"/app/nokey?protocol=7":  pusherproto.CloseUnknownApp,
		"/app/thekey?protocol=6": pusherproto.CloseUnsupported,
		"/app/thekey?protocol=x": pusherproto.CloseBadVersion,
		"/app/thekey":            pusherproto.CloseNoVersion,
	} {
		ws, _, err := websocket.DefaultDialer.Dial(n.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &client{t: t, ws: ws}
		if code := c.closed(); code != want {
			t.Errorf("%s: closed with %d, want %d", path, code, want)
		}
		ws.Close()
	}
}

func TestPublicAndPrivateChannelsAcrossNodes(t *testing.T) {
	nodes := cluster(t, 2, pusherproto.Options{})
	a, b := nodes[0].dial(t), nodes[1].dial(t)
	for _, ch := range []string{"news", "private-room"} {
		if f := a.subscribe(ch, ""); f.Event != "pusher_internal:subscription_succeeded" || f.Channel != ch {
			t.Fatalf("subscribe %s: %+v", ch, f)
		}
		if f := b.subscribe(ch, ""); f.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("subscribe %s: %+v", ch, f)
		}
	}
	// A wrong signature is refused, and the key must be the app's.
	for _, auth := range []string{app.Key + ":" + strings.Repeat("0", 64), "otherkey:" + pusherproto.Sign(app.Secret, a.socketID+":private-x"), "nocolon"} {
		a.send(`{"event":"pusher:subscribe","data":{"channel":"private-x","auth":"` + auth + `"}}`)
		if f := a.next(); f.Event != "pusher:subscription_error" || !strings.Contains(string(f.Data), `"status":401`) {
			t.Fatalf("auth %s: %+v", auth, f)
		}
	}
	trigger(t, nodes[1], "private-room", "said", `{"x":1}`, "")
	for _, c := range []*client{a, b} {
		if f := c.next(); f.Event != "said" || f.Channel != "private-room" || f.str() != `{"x":1}` {
			t.Fatalf("got %+v", f)
		}
	}
	// Excluded by socket id, on the other node.
	trigger(t, nodes[1], "news", "n", "d", a.socketID)
	if f := b.next(); f.Event != "n" {
		t.Fatalf("got %+v", f)
	}
	a.send(`{"event":"pusher:unsubscribe","data":{"channel":"news"}}`)
	a.send(`{"event":"pusher:ping","data":{}}`)
	a.next() // the pong: the unsubscription is done
	trigger(t, nodes[0], "news", "n2", "d", "")
	if f := b.next(); f.Event != "n2" {
		t.Fatalf("got %+v", f)
	}
	a.quiet()
	info, err := nodes[0].h.Info(context.Background(), app.ID, "news", true, false)
	if err != nil || !info.Occupied || *info.SubscriptionCount != 1 {
		t.Fatalf("info %+v %v", info, err)
	}
}

func presenceData(user string) string {
	return fmt.Sprintf(`{"user_id":%q,"user_info":{"name":"%s"}}`, user, strings.ToUpper(user))
}

func TestPresenceMembersOncePerUserAcrossNodes(t *testing.T) {
	nodes := cluster(t, 2, pusherproto.Options{})
	const ch = "presence-lobby"
	alice := nodes[0].dial(t)
	if f := alice.subscribe(ch, presenceData("alice")); f.Event != "pusher_internal:subscription_succeeded" ||
		!strings.Contains(f.str(), `"ids":["alice"]`) || !strings.Contains(f.str(), `"count":1`) {
		t.Fatalf("got %+v", f)
	}
	bob1 := nodes[1].dial(t)
	f := bob1.subscribe(ch, presenceData("bob"))
	var p struct {
		Presence struct {
			IDs   []string
			Hash  map[string]map[string]string
			Count int
		}
	}
	if err := json.Unmarshal([]byte(f.str()), &p); err != nil || p.Presence.Count != 2 || p.Presence.Hash["alice"]["name"] != "ALICE" {
		t.Fatalf("members %s: %v", f.str(), err)
	}
	if f := alice.next(); f.Event != "pusher_internal:member_added" || !strings.Contains(f.str(), `"user_id":"bob"`) {
		t.Fatalf("got %+v", f)
	}
	bob2 := nodes[0].dial(t) // bob again: no member_added
	bob2.subscribe(ch, presenceData("bob"))
	bob2.ws.Close() // one of bob's two: no member_removed
	bob1.ws.Close()
	if f := alice.next(); f.Event != "pusher_internal:member_removed" || f.str() != `{"user_id":"bob"}` {
		t.Fatalf("got %+v", f)
	}
	users, err := nodes[1].h.Users(context.Background(), app.ID, ch)
	if err != nil || strings.Join(users, ",") != "alice" {
		t.Fatalf("users %v %v", users, err)
	}
	alice.quiet()
}

func TestPresenceMemberLimit(t *testing.T) {
	n := cluster(t, 1, pusherproto.Options{MemberLimit: 2})[0]
	for i, user := range []string{"a", "b", "a", "c"} {
		f := n.dial(t).subscribe("presence-small", presenceData(user))
		full := f.Event == "pusher:subscription_error" && strings.Contains(string(f.Data), "LimitReached")
		if full != (i == 3) {
			t.Fatalf("%s (%d): %+v", user, i, f)
		}
	}
}

func TestCacheChannelReplaysTheLastEvent(t *testing.T) {
	n := cluster(t, 1, pusherproto.Options{})[0]
	c := n.dial(t)
	c.subscribe("cache-prices", "")
	if f := c.next(); f.Event != "pusher:cache_miss" || f.Channel != "cache-prices" {
		t.Fatalf("got %+v", f)
	}
	trigger(t, n, "cache-prices", "price", "1", "")
	trigger(t, n, "cache-prices", "price", "2", "")
	late := n.dial(t)
	late.subscribe("cache-prices", "")
	if f := late.next(); f.Event != "price" || f.str() != "2" {
		t.Fatalf("got %+v", f)
	}
}

func TestClientEvents(t *testing.T) {
	nodes := cluster(t, 2, pusherproto.Options{ClientEventRate: 3})
	const ch = "presence-chat"
	a, b := nodes[0].dial(t), nodes[1].dial(t)
	a.subscribe(ch, presenceData("alice"))
	b.subscribe(ch, presenceData("bob"))
	a.next() // bob's member_added
	a.send(`{"event":"client-typing","channel":"presence-chat","data":{"on":true}}`)
	if f := b.next(); f.Event != "client-typing" || f.UserID != "alice" || string(f.Data) != `{"on":true}` {
		t.Fatalf("got %+v", f)
	}
	a.send(`{"event":"client-x","channel":"not-subscribed","data":{}}`)
	if f := a.next(); f.Event != "pusher:error" { // and no echo before it
		t.Fatalf("got %+v", f)
	}
	for range 2 {
		a.send(`{"event":"client-typing","channel":"presence-chat","data":{}}`)
	}
	a.send(`{"event":"client-typing","channel":"presence-chat","data":{}}`)
	if f := a.next(); f.Event != "pusher:error" || !strings.Contains(string(f.Data), "4301") {
		t.Fatalf("got %+v", f)
	}
	for _, ch := range []string{"open", "private-encrypted-x"} {
		c := nodes[0].dial(t)
		if f := c.subscribe(ch, ""); f.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("%s: got %+v", ch, f)
		}
		c.send(`{"event":"client-x","channel":"` + ch + `","data":{}}`)
		if f := c.next(); f.Event != "pusher:error" || !strings.Contains(string(f.Data), "only for private") {
			t.Fatalf("%s: got %+v", ch, f)
		}
	}
}

func TestClientEventsDisabled(t *testing.T) {
	saved := app
	app.ClientEvents = false
	defer func() { app = saved }()
	n := cluster(t, 1, pusherproto.Options{})[0]
	c := n.dial(t)
	c.subscribe("private-x", "")
	c.send(`{"event":"client-x","channel":"private-x","data":{}}`)
	if f := c.next(); f.Event != "pusher:error" || !strings.Contains(string(f.Data), "not enabled") {
		t.Fatalf("got %+v", f)
	}
}

func signin(c *client, userData string) {
	auth := app.Key + ":" + pusherproto.Sign(app.Secret, c.socketID+"::user::"+userData)
	d, _ := json.Marshal(map[string]string{"auth": auth, "user_data": userData})
	c.send(`{"event":"pusher:signin","data":` + string(d) + `}`)
}

func TestSigninUserEventsAndTermination(t *testing.T) {
	nodes := cluster(t, 2, pusherproto.Options{})
	a, b, other := nodes[0].dial(t), nodes[1].dial(t), nodes[0].dial(t)
	// Not signed in: the user channel is refused.
	if f := other.subscribe("#server-to-user-u1", ""); f.Event != "pusher:subscription_error" {
		t.Fatalf("got %+v", f)
	}
	for _, c := range []*client{a, b} {
		signin(c, `{"id":"u1","name":"U"}`)
		if f := c.next(); f.Event != "pusher:signin_success" || !strings.Contains(string(f.Data), `\"id\":\"u1\"`) {
			t.Fatalf("got %+v", f)
		}
		if f := c.subscribe("#server-to-user-u1", ""); f.Event != "pusher_internal:subscription_succeeded" {
			t.Fatalf("got %+v", f)
		}
	}
	trigger(t, nodes[0], "#server-to-user-u1", "hello", "x", "")
	for _, c := range []*client{a, b} {
		if f := c.next(); f.Event != "hello" {
			t.Fatalf("got %+v", f)
		}
	}
	if err := nodes[1].h.TerminateUser(context.Background(), app.ID, "u1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client{a, b} {
		if code := c.closed(); code != pusherproto.CloseUnauthorized {
			t.Fatalf("closed with %d", code)
		}
	}
	// A bad sign-in signature closes with 4009 after saying why.
	signin(other, `{"id":"u2"}`+" ")
	other.send(`{"event":"pusher:signin","data":{"auth":"thekey:00","user_data":"{\"id\":\"u2\"}"}}`)
	if f := other.next(); f.Event != "pusher:signin_success" {
		t.Fatalf("got %+v", f)
	}
	if f := other.next(); f.Event != "pusher:error" {
		t.Fatalf("got %+v", f)
	}
	if code := other.closed(); code != pusherproto.CloseUnauthorized {
		t.Fatalf("closed with %d", code)
	}
}

// TestADeadNodesShareIsTakenOut: a node that died with connections (it
// stops saying it is alive) leaves counts and members behind; another
// node's reaper takes them out and tells the presence channel.
func TestADeadNodesShareIsTakenOut(t *testing.T) {
	n := cluster(t, 1, pusherproto.Options{})[0]
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
	for range 2 { // two connections of gus there
		ghost.Subscribed(ctx, app.ID, "presence-x")
		if _, err := ghost.Join(ctx, app.ID, "presence-x", "gus", nil, 100); err != nil {
			t.Fatal(err)
		}
	}
	alice := n.dial(t)
	if f := alice.subscribe("presence-x", presenceData("alice")); !strings.Contains(f.str(), `"count":2`) {
		t.Fatalf("got %+v", f)
	}
	n.h.ReapOnce(ctx) // the ghost is alive: nothing changes
	if users, _ := n.h.Users(ctx, app.ID, "presence-x"); len(users) != 2 {
		t.Fatalf("users %v while the ghost lives", users)
	}
	rc.Del(ctx, n.ns+":pusher:alive:ghost") // its heartbeat expires
	n.h.ReapOnce(ctx)
	if f := alice.next(); f.Event != "pusher_internal:member_removed" || f.str() != `{"user_id":"gus"}` {
		t.Fatalf("got %+v", f)
	}
	users, err := n.h.Users(ctx, app.ID, "presence-x")
	info, err2 := n.h.Info(ctx, app.ID, "presence-x", true, true)
	if err != nil || err2 != nil || strings.Join(users, ",") != "alice" || *info.SubscriptionCount != 1 || *info.UserCount != 1 {
		t.Fatalf("after the reap: users %v, info %+v (%v %v)", users, info, err, err2)
	}
	n.h.ReapOnce(ctx) // reaped once only
	alice.quiet()
}
