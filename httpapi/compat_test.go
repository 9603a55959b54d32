package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/internal/testenv"
)

// fakeCompat records what notification-server's routes asked.
type fakeCompat struct {
	app   string
	mu    sync.Mutex
	conns map[string]string // connectionId -> userId
	push  []string          // "app user message"
}

var _ httpapi.CompatService = (*fakeCompat)(nil)

func (f *fakeCompat) App(context.Context) (string, error) { return f.app, nil }

func (f *fakeCompat) Register(_ context.Context, appID, userID, connID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, ok := f.conns[connID]; ok && u != userID {
		return pushgate.Errorf(pushgate.ECONFLICT, "the connectionId belongs to another user")
	}
	f.conns[connID] = userID
	return nil
}

func (f *fakeCompat) Push(_ context.Context, appID, userID string, message json.RawMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.push = append(f.push, appID+" "+userID+" "+string(message))
	return nil
}

const compatToken = "notification-server-token"

// newCompatAPI serves the compat routes for the first of two apps; it
// returns the first app's key and the second's.
func newCompatAPI(t *testing.T) (*client, *fakeCompat, string, string) {
	t.Helper()
	f := &fakeCompat{conns: map[string]string{}}
	opts := httpapi.Options{Compat: httpapi.CompatOptions{Service: f, Token: compatToken, SocketIO: http.NotFoundHandler()}}
	h, svc := newTestAPIOn(t, testenv.OpenDB(t, testenv.SQLiteURL(t)), opts)
	first, err := svc.Create(context.Background(), "first")
	if err != nil {
		t.Fatal(err)
	}
	second, err := svc.Create(context.Background(), "second")
	if err != nil {
		t.Fatal(err)
	}
	f.app = first.AppID
	return newClient(t, h), f, first.APIKey, second.APIKey
}

func TestCompatAuthentication(t *testing.T) {
	c, f, key, otherKey := newCompatAPI(t)
	cases := []struct {
		name, token string
		status      int
	}{
		{"compat_auth_token", compatToken, 200},
		{"the compat app's API key", key, 200},
		{"no token", "", 401},
		{"a wrong token", compatToken + "x", 401},
		{"another app's API key", otherKey, 401},
		{"a token's prefix", compatToken[:10], 401},
	}
	for i, tc := range cases {
		rec := c.do("PUT", "/api/u1/register?connectionId=c"+strconv.Itoa(i), "", "X-AUTH-TOKEN", tc.token)
		if rec.Code != tc.status {
			t.Errorf("register with %s: %d %s", tc.name, rec.Code, rec.Body)
		}
		if tc.status == 401 {
			decodeError(t, rec)
		}
		rec = c.do("POST", "/api/u1/push", `{"message":1}`, "X-AUTH-TOKEN", tc.token)
		if rec.Code != tc.status {
			t.Errorf("push with %s: %d %s", tc.name, rec.Code, rec.Body)
		}
	}
	if len(f.push) != 2 || f.push[0] != f.app+" u1 1" {
		t.Errorf("pushes: %q", f.push)
	}
}

func TestCompatRegisterAndPush(t *testing.T) {
	c, f, _, _ := newCompatAPI(t)
	auth := []string{"X-AUTH-TOKEN", compatToken}
	if rec := c.do("PUT", "/api/alice/register?connectionId=c1", "{}", auth...); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("register: %d %q", rec.Code, rec.Body)
	}
	if rec := c.do("PUT", "/api/bob/register?connectionId=c1", "", auth...); rec.Code != 409 {
		t.Errorf("another user's connectionId: %d", rec.Code)
	}
	bad := map[string]string{
		"no connectionId": "/api/alice/register", "empty connectionId": "/api/alice/register?connectionId=",
		"a control character": "/api/alice/register?connectionId=a%01b", "a long userId": "/api/" + longID() + "/register?connectionId=x",
	}
	for name, path := range bad {
		if rec := c.do("PUT", path, "", auth...); rec.Code != 400 {
			t.Errorf("register with %s: %d", name, rec.Code)
		} else {
			decodeError(t, rec)
		}
	}
	if rec := c.do("POST", "/api/alice/push", `{"message":{"title":"t","params":{}}}`, auth...); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("push: %d %q", rec.Code, rec.Body)
	}
	for name, body := range map[string]string{"{}": "{}", "another key": `{"someKey":"someValue"}`, "null": `{"message":null}`,
		"malformed": `{"message":`, "an array": `[1]`, "nothing": "", "two values": `{"message":1}{}`} {
		if rec := c.do("POST", "/api/alice/push", body, auth...); rec.Code != 400 {
			t.Errorf("push %s: %d", name, rec.Code)
		} else {
			decodeError(t, rec)
		}
	}
	if len(f.push) != 1 || f.push[0] != f.app+` alice {"title":"t","params":{}}` {
		t.Errorf("pushes: %q", f.push)
	}
}

func longID() string {
	b := make([]byte, 257)
	for i := range b {
		b[i] = 'u'
	}
	return string(b)
}
