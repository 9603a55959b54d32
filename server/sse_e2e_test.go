package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/testenv"
)

// sseEvent is one Server-Sent Event as a client parses it.
type sseEvent struct {
	event, id string
	data      map[string]any
}

// sseStream is a device reading /v1/sse with a plain HTTP client.
type sseStream struct {
	t      *testing.T
	res    *http.Response
	cancel func()
	events chan sseEvent
	ended  chan struct{} // closed when the stream ends
}

// openSSE opens /v1/sse with query and header; the answer is returned
// as is when it is not 200.
func openSSE(t *testing.T, s *Server, query string, header http.Header) (*sseStream, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.Addr()+"/v1/sse"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Cleanup(cancel)
		return nil, res
	}
	c := &sseStream{t: t, res: res, cancel: cancel, events: make(chan sseEvent, 100), ended: make(chan struct{})}
	t.Cleanup(c.close)
	go c.read()
	return c, res
}

func (c *sseStream) close() {
	c.cancel()
	c.res.Body.Close()
}

// read parses the stream as EventSource does (event, id and data fields;
// comments and retry skipped) until it ends.
func (c *sseStream) read() {
	defer close(c.ended)
	defer close(c.events)
	sc := bufio.NewScanner(c.res.Body)
	var ev sseEvent
	var data string
	for sc.Scan() {
		line := sc.Text()
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch {
		case line == "":
			if data != "" {
				json.Unmarshal([]byte(data), &ev.data)
				c.events <- ev
			}
			ev, data = sseEvent{}, ""
		case field == "event":
			ev.event = value
		case field == "id":
			ev.id = value
		case field == "data":
			data += value
		}
	}
}

// next reads events until one of type typ (others are skipped only when
// skip names them).
func (c *sseStream) next(typ string, skip ...string) sseEvent {
	c.t.Helper()
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				c.t.Fatalf("the stream ended while waiting for %s", typ)
			}
			if ev.event != ev.data["type"] {
				c.t.Fatalf("event %q carries a frame of type %v", ev.event, ev.data["type"])
			}
			if ev.event == typ {
				return ev
			}
			if !contains(skip, ev.event) {
				c.t.Fatalf("got %s %v, want a %s event", ev.event, ev.data, typ)
			}
		case <-time.After(15 * time.Second):
			c.t.Fatalf("no %s event", typ)
		}
	}
}

// notifications reads n notification events and returns their titles and
// the id of the last.
func (c *sseStream) notifications(n int) (titles []string, lastID string) {
	c.t.Helper()
	for range n {
		ev := c.next("notification")
		if ev.id == "" {
			c.t.Fatalf("notification %v has no event id", ev.data)
		}
		titles, lastID = append(titles, ev.data["title"].(string)), ev.id
	}
	return titles, lastID
}

// clientCall calls a REST route with a client token.
func clientCall(t *testing.T, s *Server, token, method, path string) int {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.Addr()+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// errorCode reads the code of an answer in the error shape.
func errorCode(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	var e struct{ Code, Message string }
	if err := json.NewDecoder(res.Body).Decode(&e); err != nil || e.Message == "" {
		t.Fatalf("answer %d is not in the error shape: %v", res.StatusCode, err)
	}
	return e.Code
}

// /v1/sse: hello and the pending notifications, live ones with the unseen
// count, a read through REST heard on the stream; a client that comes back
// with Last-Event-ID gets what it missed, in order, once, and nothing from
// before; a revoked token's stream ends with an error event.
func TestInboxOverSSE(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			cfg := nodeConfig(t, d.URL)
			srv, a := startNode(t, cfg)
			aliceID, alice := a.token("alice")

			if _, res := openSSE(t, srv, "?token=pgt_"+strings.Repeat("A", 43), nil); res.StatusCode != 401 || errorCode(t, res) != "unauthorized" {
				t.Fatalf("an unknown token: %d", res.StatusCode)
			}
			if _, res := openSSE(t, srv, "", http.Header{"Authorization": {"Bearer " + alice}, "Last-Event-ID": {"yesterday"}}); res.StatusCode != 400 {
				t.Fatalf("a Last-Event-ID the server never sent: %d", res.StatusCode)
			}
			first := a.notify("first", "alice")
			a.notify("second", "alice")

			phone, res := openSSE(t, srv, "?token="+url.QueryEscape(alice), nil)
			if phone == nil {
				t.Fatalf("open: %d", res.StatusCode)
			}
			if h := res.Header; h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache" || h.Get("X-Accel-Buffering") != "no" {
				t.Fatalf("headers %v", h)
			}
			if hello := phone.next("hello"); hello.data["userId"] != "alice" || hello.data["unseen"] != 2.0 || hello.id != "" {
				t.Fatalf("hello %+v", hello)
			}
			if titles, _ := phone.notifications(2); strings.Join(titles, ",") != "first,second" {
				t.Fatalf("pending %v", titles)
			}
			a.notify("live", "alice")
			_, liveID := phone.notifications(1)
			if u := phone.next("unseen"); u.data["count"] != 3.0 {
				t.Fatalf("after a live notification: %v", u.data)
			}
			if code := clientCall(t, srv, alice, "POST", "/v1/inbox/"+first+"/read"); code != 200 {
				t.Fatalf("read: %d", code)
			}
			if u := phone.next("unseen"); u.data["count"] != 2.0 {
				t.Fatalf("after a read through REST: %v", u.data)
			}

			// Away: two notifications are sent meanwhile, and one of them is
			// acknowledged by another device.
			phone.close()
			away1 := a.notify("away1", "alice")
			a.notify("away2", "alice")
			if code := clientCall(t, srv, alice, "POST", "/v1/inbox/"+away1+"/delivered"); code != 200 {
				t.Fatalf("delivered: %d", code)
			}
			back, _ := openSSE(t, srv, "", http.Header{"Authorization": {"Bearer " + alice}, "Last-Event-ID": {liveID}})
			back.next("hello")
			titles, _ := back.notifications(2)
			a.notify("after", "alice")
			more, _ := back.notifications(1)
			if got := strings.Join(append(titles, more...), ","); got != "away1,away2,after" {
				t.Fatalf("after resuming: %s, want away1,away2,after", got)
			}

			// The polyfill's way, from further back: every notification
			// after it, whatever its status.
			// A fresh stream starts from the unacknowledged: second (first
			// is read, away1 acknowledged), live, away2, after.
			fresh, _ := openSSE(t, srv, "?token="+url.QueryEscape(alice), nil)
			fresh.next("hello")
			pending, secondID := fresh.notifications(1)
			rest, _ := fresh.notifications(3)
			if got := strings.Join(append(pending, rest...), ","); got != "second,live,away2,after" {
				t.Fatalf("a fresh stream: %s", got)
			}
			fresh.close()
			poly, _ := openSSE(t, srv, "?token="+url.QueryEscape(alice)+"&lastEventId="+url.QueryEscape(secondID), nil)
			poly.next("hello")
			if titles, _ := poly.notifications(4); strings.Join(titles, ",") != "live,away1,away2,after" {
				t.Fatalf("from the second: %v", titles)
			}

			if code := a.call("DELETE", "/v1/tokens/"+aliceID, nil, nil); code != 204 {
				t.Fatalf("delete token: %d", code)
			}
			for _, c := range []*sseStream{back, poly} {
				if e := c.next("error", "unseen", "notification"); e.data["code"] != "token_revoked" {
					t.Fatalf("revoked: %v", e.data)
				}
				select {
				case <-c.ended:
				case <-time.After(15 * time.Second):
					t.Fatal("the stream of a revoked token goes on")
				}
			}
		})
	}
}

// Shutdown ends a stream with going_away: the client reconnects elsewhere.
func TestSSEEndsOnShutdown(t *testing.T) {
	cfg := nodeConfig(t, "")
	cfg.ShutdownGrace = 30 * time.Second
	ctx := context.Background()
	srv, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	creds, _ := srv.FirstApp()
	a := &api{t: t, base: "http://" + srv.Addr(), key: creds.APIKey}
	_, alice := a.token("alice")
	c, res := openSSE(t, srv, "?token="+url.QueryEscape(alice), nil)
	if c == nil {
		t.Fatalf("open: %d", res.StatusCode)
	}
	c.next("hello")
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	if e := c.next("error"); e.data["code"] != "going_away" {
		t.Fatalf("on shutdown: %v", e.data)
	}
	if _, ok := <-c.events; ok {
		t.Fatal("the stream goes on after going_away")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
