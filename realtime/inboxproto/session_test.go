package inboxproto_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/realtime"
	"github.com/pushgate/pushgate/realtime/inboxproto"
	"github.com/pushgate/pushgate/realtime/wsconn"
)

// userInbox is one user's inbox in memory: the protocol's tests are about
// frames; the inbox itself is tested with the real store in sqlstore.
type userInbox struct {
	mu      sync.Mutex
	items   []*inbox.Item // oldest first
	marks   []string      // "status:id"
	readAll int
	// gate, when set, holds the first Inbox call until closed.
	gate chan struct{}
}

func (u *userInbox) Inbox(ctx context.Context, q inbox.Query) ([]*inbox.Item, string, error) {
	if u.gate != nil {
		<-u.gate
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []*inbox.Item
	for _, it := range u.items {
		if q.Filter == inbox.FilterUnseen && it.Status == inbox.StatusRead {
			continue
		}
		out = append(out, it)
	}
	return out, "", nil
}

func (u *userInbox) Mark(ctx context.Context, appID, userID string, ids []string, status inbox.Status) ([]*inbox.Item, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, id := range ids {
		if id == "broken" {
			return nil, pushgate.Errorf(pushgate.EINTERNAL, "database gone")
		}
		if id == "panic" {
			panic("inboxproto test: a bug in the inbox")
		}
		u.marks = append(u.marks, string(status)+":"+id)
	}
	return nil, nil
}

func (u *userInbox) ReadAll(ctx context.Context, appID, userID string) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.readAll++
	return 0, nil
}

func (u *userInbox) Unseen(ctx context.Context, appID, userID string) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.items), nil
}

type node struct {
	hub   *realtime.Hub
	inbox *userInbox
	url   string
}

func newNode(t *testing.T, ib *userInbox) *node { return newNodeReplaying(t, ib, 0) }

// newNodeReplaying is a node whose sessions send at most replay pending
// notifications after hello (0: the default).
func newNodeReplaying(t *testing.T, ib *userInbox, replay int) *node {
	t.Helper()
	hub := realtime.New(realtime.Options{})
	if err := hub.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Shutdown(context.Background()) })
	up := wsconn.NewUpgrader(wsconn.Options{Subprotocol: "pushgate.v1"})
	t.Cleanup(up.Close)
	h := inboxproto.NewHandler(inboxproto.Options{Inbox: ib, Hub: hub, Heartbeat: 25 * time.Second, Upgrader: up, Replay: replay})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeWS(w, r, inboxproto.Identity{AppID: "app", UserID: "alice", TokenID: "tok"})
	}))
	t.Cleanup(srv.Close)
	return &node{hub: hub, inbox: ib, url: "ws" + strings.TrimPrefix(srv.URL, "http")}
}

func (n *node) dial(t *testing.T) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(n.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func next(t *testing.T, ws *websocket.Conn) map[string]any {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %s is not JSON: %v", data, err)
	}
	return f
}

func item(id string, status inbox.Status) *inbox.Item {
	return &inbox.Item{Notification: inbox.Notification{ID: id, Title: "t " + id, Message: "m", Priority: 5}, Status: status}
}

func publish(t *testing.T, hub *realtime.Hub, id string) {
	t.Helper()
	m, err := inboxproto.Message(inboxproto.TypeNotification, inboxproto.NotificationOf(&inbox.Notification{ID: id, Title: "t " + id}))
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.ToUsers(context.Background(), "app", []string{"alice"}, m); err != nil {
		t.Fatal(err)
	}
}

func TestHelloThenPendingOldestFirstThenLive(t *testing.T) {
	ib := &userInbox{gate: make(chan struct{}),
		items: []*inbox.Item{item("n1", inbox.StatusUnseen), item("n2", inbox.StatusDelivered), item("n3", inbox.StatusUnseen)}}
	n := newNode(t, ib)
	ws := n.dial(t)
	// While the pending ones are read, n3 (pending too) and n4 arrive live.
	for n.hub.Sessions("app", "alice") == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	publish(t, n.hub, "n3")
	publish(t, n.hub, "n4")
	// A retracted broadcast asks every session to count again: never a
	// frame of its own.
	n.hub.ToApp(context.Background(), "app", realtime.Message{Type: "recount"})
	close(ib.gate)
	// hello counts what the pending read found: n1, n2 (delivered, not
	// read) and n3.
	hello := next(t, ws)
	if hello["type"] != "hello" || hello["userId"] != "alice" || hello["unseen"] != 3.0 || hello["heartbeat"] != 25.0 || hello["sessionId"] == "" {
		t.Fatalf("hello = %v", hello)
	}
	var got []string
	for range 3 {
		f := next(t, ws)
		if f["type"] != "notification" {
			t.Fatalf("frame %v, want a notification", f)
		}
		got = append(got, f["id"].(string))
	}
	// n2 was acknowledged by another device: not pushed again. n3 comes once.
	if strings.Join(got, ",") != "n1,n3,n4" {
		t.Fatalf("notifications %v, want n1,n3,n4", got)
	}
	// n4 came live during the greeting: the count is read again.
	if f := next(t, ws); f["type"] != "unseen" || f["count"] != 3.0 {
		t.Fatalf("got %v, want unseen 3", f)
	}
	// A live notification is unread: the session counts it and says so.
	publish(t, n.hub, "n5")
	if f := next(t, ws); f["type"] != "notification" || f["id"] != "n5" {
		t.Fatalf("got %v, want notification n5", f)
	}
	if f := next(t, ws); f["type"] != "unseen" || f["count"] != 4.0 {
		t.Fatalf("got %v, want unseen 4", f)
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","ref":"p1"}`))
	if f := next(t, ws); f["type"] != "pong" || f["ref"] != "p1" {
		t.Fatalf("got %v, want pong p1", f)
	}
}

func TestClientFrames(t *testing.T) {
	ib := &userInbox{items: []*inbox.Item{item("n1", inbox.StatusRead)}}
	n := newNode(t, ib)
	ws := n.dial(t)
	next(t, ws) // hello
	send := func(s string) { ws.WriteMessage(websocket.TextMessage, []byte(s)) }
	send(`{"type":"ack","ids":["n1"]}`)
	send(`{"type":"read","ids":["n1","n2"]}`)
	send(`{"type":"delete","ids":["n3"]}`)
	send(`{"type":"read_all"}`)
	send(`{"type":"history","status":"seen","limit":5,"ref":"h"}`)
	f := next(t, ws)
	if f["type"] != "history" || f["ref"] != "h" {
		t.Fatalf("got %v, want history h", f)
	}
	if items := f["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != "n1" || items[0].(map[string]any)["status"] != "read" {
		t.Fatalf("history items %v", items)
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	if got := strings.Join(ib.marks, " "); got != "delivered:n1 read:n1 read:n2 deleted:n3" || ib.readAll != 1 {
		t.Fatalf("marks %q, read-all %d", got, ib.readAll)
	}
}

// Every bad frame gets an error frame with its code, and the session goes on.
func TestBadFrames(t *testing.T) {
	n := newNode(t, &userInbox{})
	ws := n.dial(t)
	next(t, ws) // hello
	cases := []struct{ frame, code string }{
		{`not json`, "malformed"},
		{`[]`, "malformed"},
		{`"ping"`, "malformed"},
		{`42`, "malformed"},
		{`null`, "malformed"},
		{`{}`, "malformed"},
		{`{"type":7}`, "malformed"},
		{`{"type":""}`, "malformed"},
		{`{"type":"subscribe"}`, "unknown_type"},
		{`{"type":"PING"}`, "unknown_type"},
		{`{"type":"ack"}`, "invalid"},
		{`{"type":"ack","ids":"n1"}`, "invalid"},
		{`{"type":"ack","ids":[]}`, "invalid"},
		{`{"type":"read","ids":[1]}`, "invalid"},
		{`{"type":"read","ids":[""]}`, "invalid"},
		{`{"type":"read","ids":["` + strings.Repeat("x", 65) + `"]}`, "invalid"},
		{`{"type":"delete","ids":[` + strings.Repeat(`"x",`, 100) + `"x"]}`, "invalid"},
		{`{"type":"delete","ids":null}`, "invalid"},
		{`{"type":"history","status":"new"}`, "invalid"},
		{`{"type":"history","status":1}`, "invalid"},
		{`{"type":"history","since":"yesterday"}`, "invalid"},
		{`{"type":"history","limit":0}`, "invalid"},
		{`{"type":"history","limit":101}`, "invalid"},
		{`{"type":"history","limit":2.5}`, "invalid"},
		{`{"type":"history","cursor":5}`, "invalid"},
		{`{"type":"ping","ref":{"a":1}}`, "invalid"},
		{`{"type":"read","ids":["broken"]}`, "internal"},
	}
	for _, tc := range cases {
		ws.WriteMessage(websocket.TextMessage, []byte(tc.frame))
		f := next(t, ws)
		if f["type"] != "error" || f["code"] != tc.code || f["message"] == "" {
			t.Errorf("%s: got %v, want an error frame %s", tc.frame, f, tc.code)
		}
	}
	ws.WriteMessage(websocket.BinaryMessage, []byte{0, 1})
	if f := next(t, ws); f["code"] != "binary" {
		t.Errorf("binary frame: got %v", f)
	}
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
	if f := next(t, ws); f["type"] != "pong" {
		t.Fatalf("after the bad frames: got %v, want pong", f)
	}
}

func TestRevokedTokenCloses4003(t *testing.T) {
	n := newNode(t, &userInbox{})
	ws := n.dial(t)
	next(t, ws)
	for n.hub.Sessions("app", "alice") == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	n.hub.CloseToken(context.Background(), "app", "tok", realtime.CloseRevoked, "token revoked")
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := ws.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 4003 {
		t.Fatalf("got %v, want close 4003", err)
	}
}

// The session reads its frames in a goroutine of its own, after ServeWS
// returned: a panic there ends that session alone, unregistered, and the
// node goes on serving.
func TestPanicInASessionEndsItAlone(t *testing.T) {
	n := newNode(t, &userInbox{})
	other := n.dial(t)
	next(t, other) // hello
	ws := n.dial(t)
	next(t, ws)
	for n.hub.Sessions("app", "alice") < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ack","ids":["panic"]}`)); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			break
		}
	}
	for n.hub.Sessions("app", "alice") != 1 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := other.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","ref":"p"}`)); err != nil {
		t.Fatal(err)
	}
	if f := next(t, other); f["type"] != "pong" {
		t.Fatalf("the other session answered %v, want pong", f)
	}
	next(t, n.dial(t)) // a new session is greeted
}

// hello's count is the number of unseen notifications the pending read
// found when it read them all, and the store's count when the replay
// bound stopped it (this fake counts read ones too, so the two differ).
func TestHelloCountsWhatThePendingReadFound(t *testing.T) {
	items := func() []*inbox.Item {
		return []*inbox.Item{item("n1", inbox.StatusUnseen), item("n2", inbox.StatusDelivered),
			item("n3", inbox.StatusUnseen), item("n4", inbox.StatusRead)}
	}
	for _, tc := range []struct {
		replay  int
		unseen  float64
		pending []string
	}{{10, 3, []string{"n1", "n3"}}, {1, 4, []string{"n1"}}} {
		n := newNodeReplaying(t, &userInbox{items: items()}, tc.replay)
		ws := n.dial(t)
		if hello := next(t, ws); hello["type"] != "hello" || hello["unseen"] != tc.unseen {
			t.Fatalf("replay %d: hello = %v, want unseen %v", tc.replay, hello, tc.unseen)
		}
		for _, id := range tc.pending {
			if f := next(t, ws); f["type"] != "notification" || f["id"] != id {
				t.Fatalf("replay %d: %v, want notification %s", tc.replay, f, id)
			}
		}
		ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","ref":"end"}`))
		if f := next(t, ws); f["type"] != "pong" {
			t.Fatalf("replay %d: %v after the pending ones, want pong", tc.replay, f)
		}
	}
}
