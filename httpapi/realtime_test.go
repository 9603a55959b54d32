package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/internal/testenv"
)

// fakeRealtime records who opened a stream; ServeSSE answers one event,
// or refuses a Last-Event-ID of "bad" as the protocol handler does.
type fakeRealtime struct {
	mu    sync.Mutex
	users []string
}

var _ httpapi.RealtimeService = (*fakeRealtime)(nil)

func (f *fakeRealtime) ServeWS(w http.ResponseWriter, r *http.Request, t *inbox.Token) {}

func (f *fakeRealtime) ServeSSE(w http.ResponseWriter, r *http.Request, t *inbox.Token) error {
	if r.Header.Get("Last-Event-ID") == "bad" {
		return pushgate.Invalid("Last-Event-ID is invalid", "Last-Event-ID: must be the id of an event this server sent")
	}
	f.mu.Lock()
	f.users = append(f.users, t.UserID)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	io.WriteString(w, "event: hello\ndata: {\"type\":\"hello\"}\n\n")
	return nil
}

// GET /v1/sse checks the client token before the stream: 401 in the error
// shape, the stream with a token in the query or a bearer header.
func TestSSERoute(t *testing.T) {
	fake, rt := newFakeInbox(), &fakeRealtime{}
	h, svc := newTestAPIOn(t, testenv.OpenDB(t, testenv.SQLiteURL(t)), httpapi.Options{Inbox: fake, Realtime: rt})
	app, _ := svc.Create(context.Background(), "a")
	c := newClient(t, h)
	_, alice, _ := fake.CreateToken(context.Background(), app.AppID, "alice", "phone")
	wantError(t, "no token", c.do("GET", "/v1/sse", ""), 401, pushgate.EUNAUTHORIZED)
	wantError(t, "an unknown token", c.do("GET", "/v1/sse?token=pgt_"+pushgate.RandomToken(32), ""), 401, pushgate.EUNAUTHORIZED)
	wantError(t, "the app's API key", c.do("GET", "/v1/sse?token="+app.APIKey, ""), 401, pushgate.EUNAUTHORIZED)
	wantError(t, "a bad Last-Event-ID", c.do("GET", "/v1/sse", "", "Authorization", "Bearer "+alice, "Last-Event-ID", "bad"), 400, pushgate.EINVALID, "Last-Event-ID")
	for _, rec := range []interface {
		Result() *http.Response
	}{
		c.do("GET", "/v1/sse?token="+alice, "", "Origin", "https://app.example"),
		c.do("GET", "/v1/sse", "", "Authorization", "Bearer "+alice),
	} {
		res := rec.Result()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" || res.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("stream: %d %v", res.StatusCode, res.Header)
		}
	}
	if len(rt.users) != 2 || rt.users[0] != "alice" {
		t.Fatalf("streams opened for %v", rt.users)
	}
}
