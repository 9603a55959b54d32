package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/internal/testenv"
)

// One app's requests to the notification, token and inbox routes share one
// budget a minute, whether made with its API key or its users' tokens;
// another app's budget is its own.
func TestAppRateLimit(t *testing.T) {
	fake := newFakeInbox()
	h, svc := newTestAPIOn(t, testenv.OpenDB(t, testenv.SQLiteURL(t)), httpapi.Options{Inbox: fake, AppRatePerMinute: 4})
	a, _ := svc.Create(context.Background(), "a")
	b, _ := svc.Create(context.Background(), "b")
	x := &inboxAPI{client: newClient(t, h), fake: fake, a: a.APIKey, b: b.APIKey}
	tok := x.token(x.a, "alice")                                                                                 // 1
	x.do("GET", "/v1/tokens", "", "x-token", x.a)                                                                // 2
	x.send(`{"title":"hi"}`, "Authorization", "Bearer "+tok.Token)                                               // 3
	if rec := x.do("GET", "/v1/inbox/unseen-count", "", "Authorization", "Bearer "+tok.Token); rec.Code != 200 { // 4
		t.Fatalf("fourth request: %d %s", rec.Code, rec.Body)
	}
	rec := x.do("GET", "/v1/notifications", "", "x-token", x.a)
	wantError(t, "fifth request of app A", rec, 429, "rate_limited")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if rec := x.do("GET", "/v1/notifications", "", "x-token", x.b); rec.Code != 200 {
		t.Fatalf("app B was limited by A's requests: %d", rec.Code)
	}
	// The CORE API is not bound by it.
	if rec := x.do("GET", "/v1/app", "", "x-token", x.a); rec.Code != 200 {
		t.Fatalf("GET /v1/app: %d", rec.Code)
	}
}

// A client address opens at most ConnectRatePerIP realtime connections a
// second; the refused one is a 429 before its token is even looked at.
func TestConnectRateLimit(t *testing.T) {
	fake := newFakeInbox()
	h, svc := newTestAPIOn(t, testenv.OpenDB(t, testenv.SQLiteURL(t)), httpapi.Options{Inbox: fake, ConnectRatePerIP: 2,
		Realtime: refuseRealtime{}})
	a, _ := svc.Create(context.Background(), "a")
	x := &inboxAPI{client: newClient(t, h), fake: fake, a: a.APIKey}
	tok := x.token(x.a, "alice")
	for i := range 2 {
		if rec := x.do("GET", "/v1/ws?token="+tok.Token, ""); rec.Code != 400 {
			t.Fatalf("connection %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	rec := x.do("GET", "/v1/ws?token="+tok.Token, "")
	wantError(t, "third connection in a second", rec, 429, "rate_limited")
}

// refuseRealtime is a RealtimeService the tests never reach: their
// requests are no WebSocket handshakes, so they end at the checks before
// it.
type refuseRealtime struct{}

func (refuseRealtime) ServeWS(w http.ResponseWriter, r *http.Request, t *inbox.Token) {
	http.Error(w, "the handshake checks let a plain request through", http.StatusTeapot)
}

func (refuseRealtime) ServeSSE(w http.ResponseWriter, r *http.Request, t *inbox.Token) error {
	http.Error(w, "the checks let a plain request through", http.StatusTeapot)
	return nil
}
