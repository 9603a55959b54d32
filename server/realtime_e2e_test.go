package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
)

// nodeConfig is a node on databaseURL ("" for SQLite in a temporary data
// directory), listening on a free loopback port, with its own master key
// and queue namespace.
func nodeConfig(t *testing.T, databaseURL string) Config {
	cfg := Defaults()
	cfg.DataDir, cfg.HTTPAddr, cfg.DatabaseURL = t.TempDir(), "127.0.0.1:0", databaseURL
	cfg.MasterKey, cfg.QueueNamespace = pushgate.NewMasterKey(), testenv.Namespace(t)
	return cfg
}

// wsClient is a device: one WebSocket session of a client token.
type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialWS(t *testing.T, s *Server, query string, header http.Header) (*wsClient, *http.Response, error) {
	t.Helper()
	ws, res, err := websocket.DefaultDialer.Dial("ws://"+s.Addr()+"/v1/ws"+query, header)
	if err != nil {
		return nil, res, err
	}
	t.Cleanup(func() { ws.Close() })
	return &wsClient{t: t, ws: ws}, res, nil
}

// next reads frames until one of type typ (others are skipped only when
// skip names them).
func (c *wsClient) next(typ string, skip ...string) map[string]any {
	c.t.Helper()
	for {
		c.ws.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", typ, err)
		}
		var f map[string]any
		if err := json.Unmarshal(data, &f); err != nil {
			c.t.Fatalf("frame %s: %v", data, err)
		}
		if f["type"] == typ {
			return f
		}
		if !contains(skip, f["type"].(string)) {
			c.t.Fatalf("got %s, want a %s frame", data, typ)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (c *wsClient) send(frame string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		c.t.Fatal(err)
	}
}

// closeCode reads until the session ends and returns its close code.
func (c *wsClient) closeCode() int {
	c.t.Helper()
	for {
		c.ws.SetReadDeadline(time.Now().Add(15 * time.Second))
		if _, _, err := c.ws.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			c.t.Fatalf("session ended without a close frame: %v", err)
		}
	}
}

func (a *api) token(userID string) (id, value string) {
	a.t.Helper()
	var tok struct{ ID, Token string }
	if code := a.call("POST", "/v1/tokens", map[string]any{"name": "phone", "userId": userID}, &tok); code != 201 {
		a.t.Fatalf("create token: %d", code)
	}
	return tok.ID, tok.Token
}

func (a *api) notify(title string, users ...string) string {
	a.t.Helper()
	body := map[string]any{"title": title, "message": "body of " + title}
	if users != nil {
		body["to"] = map[string]any{"userIds": users}
	}
	var out struct{ ID string }
	if code := a.call("POST", "/v1/notifications", body, &out); code != 201 {
		a.t.Fatalf("send notification: %d", code)
	}
	return out.ID
}

// An offline user finds its notifications on connect, in order; two
// sessions of the user stay in step; other users hear nothing of it; a
// revoked token's session closes with 4003.
func TestInboxOverWebSocket(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			cfg := nodeConfig(t, d.URL)
			srv, a := startNode(t, cfg)
			aliceID, alice := a.token("alice")
			_, bob := a.token("bob")

			if _, res, err := dialWS(t, srv, "?token=pgt_"+strings.Repeat("A", 43), nil); err == nil || res == nil || res.StatusCode != 401 {
				t.Fatalf("an unknown token connected: %v %v", err, res)
			}
			first, second := a.notify("first", "alice"), a.notify("second", "alice")

			phone, _, err := dialWS(t, srv, "", http.Header{"Sec-WebSocket-Protocol": {"pushgate.v1, token." + alice}})
			if err != nil {
				t.Fatal(err)
			}
			if hello := phone.next("hello"); hello["userId"] != "alice" || hello["unseen"] != 2.0 {
				t.Fatalf("hello %v", hello)
			}
			if n := phone.next("notification"); n["id"] != first || n["title"] != "first" {
				t.Fatalf("first pending %v", n)
			}
			if n := phone.next("notification"); n["id"] != second {
				t.Fatalf("second pending %v", n)
			}
			phone.send(`{"type":"ack","ids":["` + first + `","` + second + `"]}`)
			phone.next("unseen") // acknowledging does not change what is unread
			tab, _, err := dialWS(t, srv, "?token="+alice, nil)
			if err != nil {
				t.Fatal(err)
			}
			tab.next("hello") // both acknowledged: nothing pending for the tab
			bobs, _, err := dialWS(t, srv, "", http.Header{"Authorization": {"Bearer " + bob}})
			if err != nil {
				t.Fatal(err)
			}
			bobs.next("hello")

			tab.send(`{"type":"read","ids":["` + first + `"]}`)
			for _, c := range []*wsClient{phone, tab} {
				if u := c.next("unseen"); u["count"] != 1.0 {
					t.Fatalf("after a read on the tab: %v", u)
				}
			}
			live := a.notify("live", "alice")
			for _, c := range []*wsClient{phone, tab} {
				if n := c.next("notification"); n["id"] != live {
					t.Fatalf("live %v", n)
				}
				if u := c.next("unseen"); u["count"] != 2.0 {
					t.Fatalf("after a live notification: %v", u)
				}
			}
			// Bob's first frame after hello is his own pong: nothing of alice's.
			bobs.send(`{"type":"ping"}`)
			bobs.next("pong")

			if code := a.call("DELETE", "/v1/tokens/"+aliceID, nil, nil); code != 204 {
				t.Fatalf("delete token: %d", code)
			}
			for _, c := range []*wsClient{phone, tab} {
				if code := c.closeCode(); code != 4003 {
					t.Fatalf("close code %d, want 4003", code)
				}
			}
		})
	}
}

// Two nodes on one database and Redis: a notification sent through one
// reaches a session on the other.
func TestInboxAcrossNodes(t *testing.T) {
	if !testenv.RealRedis() {
		t.Skip("two nodes share a Redis only with PUSHGATE_TEST_REDIS_URL")
	}
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			cfg := nodeConfig(t, d.URL)
			cfg.RedisURL = testenv.RedisURL(t)
			one, a := startNode(t, cfg)
			two, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := two.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { two.Shutdown(context.Background()) })
			_ = one
			_, alice := a.token("alice")
			c, _, err := dialWS(t, two, "?token="+alice, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.next("hello")
			id := a.notify("across") // a broadcast, through node one
			if n := c.next("notification"); n["id"] != id {
				t.Fatalf("got %v", n)
			}
		})
	}
}
