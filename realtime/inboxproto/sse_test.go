package inboxproto_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/realtime"
	"github.com/pushgate/pushgate/realtime/inboxproto"
)

func TestSSERender(t *testing.T) {
	at := time.Date(2026, 12, 3, 14, 30, 0, 123456000, time.UTC)
	id := pushgate.NewID()
	m, _ := inboxproto.Message(inboxproto.TypeNotification, inboxproto.NotificationOf(&inbox.Notification{
		ID: id, Title: "Sale", Message: "line one\nline two", Priority: 5, CreatedAt: at,
		Extras: json.RawMessage("{\n  \"campaign\": 7\n}")}))
	got, err := inboxproto.SSE.Render(m)
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := inboxproto.WebSocket.Render(m)
	var compact bytes.Buffer
	json.Compact(&compact, ws)
	want := "event: notification\nid: " + inboxproto.EventID(at, id) + "\ndata: " + compact.String() + "\n\n"
	if string(got) != want {
		t.Fatalf("rendered\n%q\nwant\n%q", got, want)
	}
	m, _ = inboxproto.Message(inboxproto.TypeUnseen, map[string]int{"count": 3})
	if got, _ := inboxproto.SSE.Render(m); string(got) != "event: unseen\ndata: {\"type\":\"unseen\",\"count\":3}\n\n" {
		t.Fatalf("unseen rendered %q", got)
	}
	if _, err := inboxproto.SSE.Render(realtime.Message{Type: "x", Payload: json.RawMessage(`[1]`)}); err == nil {
		t.Fatal("a payload that is no object rendered")
	}
}

func TestEventID(t *testing.T) {
	at := time.Date(2026, 12, 3, 14, 30, 0, 1000, time.FixedZone("x", 3600))
	id := pushgate.NewID()
	p, err := inboxproto.ParseEventID(inboxproto.EventID(at, id))
	if err != nil || !p.At.Equal(at) || p.ID != id {
		t.Fatalf("round trip: %+v %v", p, err)
	}
	if p.Before(at, id) || !p.Before(at, id+"0") || !p.Before(at.Add(time.Microsecond), "0") || p.Before(at.Add(-time.Microsecond), "z") {
		t.Fatal("Before does not order by time, then id")
	}
	for _, bad := range []string{"", "x", "yesterday", strings.Repeat("A", 300),
		b64("2026-12-03T14:30:00Z"), b64("2026-12-03T14:30:00Z|not-an-id"), b64("noon|" + id)} {
		if _, err := inboxproto.ParseEventID(bad); pushgate.ErrorCode(err) != pushgate.EINVALID {
			t.Errorf("ParseEventID(%q) = %v, want invalid", bad, err)
		}
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// sseNode serves ServeSSE for alice on a hub of its own.
func sseNode(t *testing.T, ib inboxproto.Inbox) (*realtime.Hub, string) {
	t.Helper()
	hub := realtime.New(realtime.Options{})
	if err := hub.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Shutdown(context.Background()) })
	h := inboxproto.NewHandler(inboxproto.Options{Inbox: ib, Hub: hub, Heartbeat: 25 * time.Second})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.ServeSSE(w, r, inboxproto.Identity{AppID: "app", UserID: "alice", TokenID: "tok"}); err != nil {
			http.Error(w, pushgate.ErrorMessage(err), 400)
		}
	}))
	t.Cleanup(srv.Close)
	return hub, srv.URL
}

// events reads a stream's events as "type id-or-dash title-or-count".
type events struct {
	t  *testing.T
	ch chan []string
}

func openEvents(t *testing.T, url, lastID string) *events {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("open: %v %v", res, err)
	}
	t.Cleanup(func() { res.Body.Close() })
	e := &events{t: t, ch: make(chan []string, 100)}
	go func() {
		defer close(e.ch)
		sc := bufio.NewScanner(res.Body)
		var ev []string
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if ev != nil {
					e.ch <- ev
				}
				ev = nil
				continue
			}
			if !strings.HasPrefix(line, ":") && !strings.HasPrefix(line, "retry:") {
				ev = append(ev, line)
			}
		}
	}()
	return e
}

// next returns the next event's lines.
func (e *events) next() []string {
	e.t.Helper()
	select {
	case ev, ok := <-e.ch:
		if !ok {
			e.t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		e.t.Fatal("no event")
	}
	return nil
}

// notification reads a notification event and returns its id and title.
func (e *events) notification() (eventID, title string) {
	e.t.Helper()
	ev := e.next()
	if len(ev) != 3 || ev[0] != "event: notification" || !strings.HasPrefix(ev[1], "id: ") {
		e.t.Fatalf("got %q, want a notification with an id", ev)
	}
	var n struct{ Title string }
	json.Unmarshal([]byte(strings.TrimPrefix(ev[2], "data: ")), &n)
	return strings.TrimPrefix(ev[1], "id: "), n.Title
}

func datedItem(id string, at time.Time, status inbox.Status) *inbox.Item {
	it := item(id, status)
	it.CreatedAt = at
	return it
}

// Without Last-Event-ID: hello, the unacknowledged, then live events with
// the unseen count; with it, every notification after it, whatever its
// status, and none twice when it also comes live.
func TestSSEGreetingAndResume(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	ids := []string{pushgate.NewID(), pushgate.NewID(), pushgate.NewID(), pushgate.NewID()}
	ib := &userInbox{items: []*inbox.Item{
		datedItem(ids[0], t0, inbox.StatusUnseen),
		datedItem(ids[1], t0.Add(time.Second), inbox.StatusRead),
		datedItem(ids[2], t0.Add(time.Second), inbox.StatusDelivered), // same time: by id
		datedItem(ids[3], t0.Add(2*time.Second), inbox.StatusUnseen),
	}}
	hub, url := sseNode(t, ib)
	fresh := openEvents(t, url, "")
	if ev := fresh.next(); ev[0] != "event: hello" || !strings.Contains(ev[1], `"unseen":4`) {
		t.Fatalf("hello %q", ev)
	}
	first, title := fresh.notification()
	if title != "t "+ids[0] {
		t.Fatalf("first pending %q", title)
	}
	if _, title := fresh.notification(); title != "t "+ids[3] {
		t.Fatalf("second pending %q", title)
	}
	publish(t, hub, "live")
	if _, title := fresh.notification(); title != "t live" {
		t.Fatalf("live %q", title)
	}
	// Counted by the session (5), or, if it came during the replay, read
	// again from the inbox (which in this test does not hold it: 4).
	if ev := fresh.next(); ev[0] != "event: unseen" || !strings.HasPrefix(ev[1], `data: {"type":"unseen","count":`) {
		t.Fatalf("unseen %q", ev)
	}

	// From the first: the read one, the acknowledged one, the last; and
	// the last, coming live during the replay too, only once.
	ib.gate = make(chan struct{})
	back := openEvents(t, url, first)
	if ev := back.next(); ev[0] != "event: hello" {
		t.Fatalf("hello %q", ev)
	}
	for hub.Sessions("app", "alice") < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	publish(t, hub, ids[3])
	close(ib.gate)
	var got []string
	for range 3 {
		_, title := back.notification()
		got = append(got, strings.TrimPrefix(title, "t "))
	}
	if strings.Join(got, ",") != strings.Join(ids[1:], ",") {
		t.Fatalf("resumed %v, want %v", got, ids[1:])
	}
	publish(t, hub, "after")
	if _, title := back.notification(); title != "t after" {
		t.Fatalf("after the resume: %q, want the next live one", title)
	}
}

// A revoked token's stream gets an error event, then ends.
func TestSSERevoked(t *testing.T) {
	hub, url := sseNode(t, &userInbox{})
	e := openEvents(t, url, "")
	e.next() // hello
	for hub.Sessions("app", "alice") == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	hub.CloseToken(context.Background(), "app", "tok", realtime.CloseRevoked, "token revoked")
	if ev := e.next(); ev[0] != "event: error" || !strings.Contains(ev[1], `"code":"token_revoked"`) {
		t.Fatalf("got %q, want error token_revoked", ev)
	}
	if _, ok := <-e.ch; ok {
		t.Fatal("the stream goes on")
	}
}

// brokenInbox counts but cannot list.
type brokenInbox struct{ *userInbox }

func (brokenInbox) Inbox(context.Context, inbox.Query) ([]*inbox.Item, string, error) {
	return nil, "", pushgate.Errorf(pushgate.EINTERNAL, "database gone")
}

// An inbox that cannot be read after hello ends the stream with internal.
func TestSSEInboxFails(t *testing.T) {
	_, url := sseNode(t, brokenInbox{&userInbox{}})
	e := openEvents(t, url, "")
	e.next() // hello
	if ev := e.next(); ev[0] != "event: error" || !strings.Contains(ev[1], `"code":"internal"`) {
		t.Fatalf("got %q, want error internal", ev)
	}
	if _, ok := <-e.ch; ok {
		t.Fatal("the stream goes on")
	}
}
