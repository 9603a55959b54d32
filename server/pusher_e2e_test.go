package server

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	pusher "github.com/pusher/pusher-http-go/v5"

	"github.com/pushgate/pushgate/internal/testenv"
)

// pusherConn is a Pusher protocol connection made by hand (the wire), its
// channel auth signed by the Go server SDK (not our code).
type pusherConn struct {
	t        *testing.T
	ws       *websocket.Conn
	socketID string
}

type pusherFrame struct {
	Event, Channel string
	Data           json.RawMessage
}

func dialPusher(t *testing.T, s *Server, key string) *pusherConn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/app/"+key+"?protocol=7&client=go-test&version=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &pusherConn{t: t, ws: ws}
	f := c.next("pusher:connection_established")
	var inner string
	_ = json.Unmarshal(f.Data, &inner)
	var d struct {
		SocketID string `json:"socket_id"`
	}
	if err := json.Unmarshal([]byte(inner), &d); err != nil || d.SocketID == "" {
		t.Fatalf("connection_established %s", f.Data)
	}
	c.socketID = d.SocketID
	return c
}

func (c *pusherConn) next(event string) pusherFrame {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", event, err)
	}
	var f pusherFrame
	if json.Unmarshal(data, &f) != nil || f.Event != event {
		c.t.Fatalf("got %s, want %s", data, event)
	}
	return f
}

// subscribe asks the SDK to authorize the channel, as an app's auth
// endpoint would, and subscribes with its answer.
func (c *pusherConn) subscribe(sdk *pusher.Client, channel string, member *pusher.MemberData) pusherFrame {
	c.t.Helper()
	params := []byte("socket_id=" + c.socketID + "&channel_name=" + url.QueryEscape(channel))
	var auth []byte
	var err error
	switch {
	case member != nil:
		auth, err = sdk.AuthorizePresenceChannel(params, *member)
	case strings.HasPrefix(channel, "private-"):
		auth, err = sdk.AuthorizePrivateChannel(params)
	default:
		auth = []byte(`{}`)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	var data map[string]any
	_ = json.Unmarshal(auth, &data)
	data["channel"] = channel
	b, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": data})
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatal(err)
	}
	return c.next("pusher_internal:subscription_succeeded")
}

// TestPusherHTTPAPIWithTheGoSDK: the Go server SDK (pusher-http-go v5.1.1)
// signs channel auth, triggers (with socket exclusion), batch-triggers and
// queries channels and users; terminate_connections ends a signed-in
// user's connections.
func TestPusherHTTPAPIWithTheGoSDK(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			s, _ := startNode(t, nodeConfig(t, d.URL))
			creds, _ := s.FirstApp()
			sdk := &pusher.Client{AppID: creds.AppID, Key: creds.Key, Secret: creds.Secret, Host: s.Addr()}
			alice, bob := dialPusher(t, s, creds.Key), dialPusher(t, s, creds.Key)
			alice.subscribe(sdk, "private-orders", nil)
			bob.subscribe(sdk, "private-orders", nil)
			alice.subscribe(sdk, "presence-room", &pusher.MemberData{UserID: "alice", UserInfo: map[string]string{"n": "A"}})
			bob.subscribe(sdk, "presence-room", &pusher.MemberData{UserID: "bob"})
			alice.next("pusher_internal:member_added")

			if err := sdk.Trigger("private-orders", "created", map[string]int{"id": 7}); err != nil {
				t.Fatal(err)
			}
			for _, c := range []*pusherConn{alice, bob} {
				if f := c.next("created"); f.Channel != "private-orders" || string(f.Data) != `"{\"id\":7}"` {
					t.Fatalf("got %+v %s", f, f.Data)
				}
			}
			if _, err := sdk.TriggerBatch([]pusher.Event{
				{Channel: "private-orders", Name: "b1", Data: "x", SocketID: &alice.socketID},
				{Channel: "presence-room", Name: "b2", Data: "y"},
			}); err != nil {
				t.Fatal(err)
			}
			bob.next("b1")
			bob.next("b2")
			alice.next("b2") // b1 excluded alice
			info := "user_count,subscription_count"
			res, err := sdk.TriggerWithParams("presence-room", "counted", "z", pusher.TriggerParams{Info: &info})
			if err != nil || res == nil || *res.Channels["presence-room"].UserCount != 2 || *res.Channels["presence-room"].SubscriptionCount != 2 {
				t.Fatalf("trigger with info: %+v %v", res, err)
			}
			alice.next("counted")
			prefix, uc := "presence-", "user_count"
			list, err := sdk.Channels(pusher.ChannelsParams{FilterByPrefix: &prefix, Info: &uc})
			if err != nil || len(list.Channels) != 1 || list.Channels["presence-room"].UserCount != 2 {
				t.Fatalf("channels: %+v %v", list, err)
			}
			sc := "subscription_count"
			ch, err := sdk.Channel("private-orders", pusher.ChannelParams{Info: &sc})
			if err != nil || !ch.Occupied || ch.SubscriptionCount != 2 {
				t.Fatalf("channel: %+v %v", ch, err)
			}
			users, err := sdk.GetChannelUsers("presence-room")
			if err != nil || len(users.List) != 2 || users.List[0].ID != "alice" {
				t.Fatalf("users: %+v %v", users, err)
			}
			// A wrong secret is refused.
			bad := *sdk
			bad.Secret = "not-the-secret"
			if err := bad.Trigger("private-orders", "x", "y"); err == nil || !strings.Contains(err.Error(), "401") {
				t.Fatalf("wrong secret: %v", err)
			}
			testTerminate(t, s, sdk, alice)
		})
	}
}

// testTerminate signs alice in (user_data signed by the SDK) and ends her
// connection through terminate_connections, signed by hand as Pusher
// documents it (the Go SDK has no call for it).
func testTerminate(t *testing.T, s *Server, sdk *pusher.Client, c *pusherConn) {
	auth, err := sdk.AuthenticateUser([]byte("socket_id="+c.socketID), map[string]any{"id": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	var a map[string]string
	_ = json.Unmarshal(auth, &a)
	b, _ := json.Marshal(map[string]any{"event": "pusher:signin", "data": a})
	c.ws.WriteMessage(websocket.TextMessage, b)
	c.next("pusher:signin_success")
	path := "/apps/" + sdk.AppID + "/users/alice/terminate_connections"
	q := fmt.Sprintf("auth_key=%s&auth_timestamp=%d&auth_version=1.0", sdk.Key, time.Now().Unix())
	m := hmac.New(sha256.New, []byte(sdk.Secret))
	m.Write([]byte("POST\n" + path + "\n" + q))
	res, err := http.Post("http://"+s.Addr()+path+"?"+q+"&auth_signature="+hex.EncodeToString(m.Sum(nil)), "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("terminate: %d %s", res.StatusCode, body)
	}
	c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.ws.ReadMessage()
		if ce, ok := err.(*websocket.CloseError); ok {
			if ce.Code != 4009 {
				t.Fatalf("closed with %d", ce.Code)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestPusherListsShowOnlyTheCountsAsked: a channel list and a trigger's
// answer hold the counts info= asks for and nothing else, as Pusher's do.
func TestPusherListsShowOnlyTheCountsAsked(t *testing.T) {
	s, _ := startNode(t, nodeConfig(t, ""))
	creds, _ := s.FirstApp()
	sdk := &pusher.Client{AppID: creds.AppID, Key: creds.Key, Secret: creds.Secret, Host: s.Addr()}
	c := dialPusher(t, s, creds.Key)
	c.subscribe(sdk, "news", nil)
	if res := pusherCall(t, s, sdk, "GET", "/apps/"+sdk.AppID+"/channels", ""); res != `{"channels":{"news":{}}}` {
		t.Fatalf("channels %s", res)
	}
	body := `{"name":"e","channel":"news","data":"x","info":"subscription_count"}`
	if res := pusherCall(t, s, sdk, "POST", "/apps/"+sdk.AppID+"/events", body); res != `{"channels":{"news":{"subscription_count":1}}}` {
		t.Fatalf("trigger answer %s", res)
	}
}

// pusherCall sends a request signed here as Pusher documents it.
func pusherCall(t *testing.T, s *Server, sdk *pusher.Client, method, path, body string) string {
	t.Helper()
	q := fmt.Sprintf("auth_key=%s&auth_timestamp=%d&auth_version=1.0", sdk.Key, time.Now().Unix())
	if body != "" {
		sum := md5.Sum([]byte(body))
		q += "&body_md5=" + hex.EncodeToString(sum[:])
	}
	m := hmac.New(sha256.New, []byte(sdk.Secret))
	m.Write([]byte(method + "\n" + path + "\n" + q))
	req, _ := http.NewRequest(method, "http://"+s.Addr()+path+"?"+q+"&auth_signature="+hex.EncodeToString(m.Sum(nil)), strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", path, res.StatusCode, b)
	}
	return string(b)
}
