package server

import (
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pushgate/pushgate/internal/testenv"
)

// appAuth is an app's connectAuthUrl: it admits the user its sessions
// name, counts its calls and keeps the headers of the last.
type appAuth struct {
	*httptest.Server
	calls atomic.Int64
	mu    sync.Mutex
	last  http.Header
}

// sessions are the cookies and Authorization values appAuth admits.
var sessions = map[string]string{"session=alice-s3cret": "alice", "Bearer app-jwt-bob": "bob"}

func newAppAuth(t *testing.T) *appAuth {
	a := &appAuth{}
	a.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		a.mu.Lock()
		a.last = r.Header.Clone()
		a.mu.Unlock()
		user := sessions[r.Header.Get("Cookie")]
		if user == "" {
			user = sessions[r.Header.Get("Authorization")]
		}
		switch {
		case r.URL.Path != "/whoami" || r.Method != http.MethodGet:
			http.NotFound(w, r)
		case user == "":
			http.Error(w, `{"error":"log in"}`, http.StatusUnauthorized)
		default:
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"userId": user})
		}
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *appAuth) lastHeader(name string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last.Get(name)
}

// delegatedNode is a node whose guard lets the loopback app through and
// that trusts the app's test certificate.
func delegatedNode(t *testing.T, dbURL string, auth *appAuth) (*Server, *api, string) {
	cfg := nodeConfig(t, dbURL)
	cfg.SSRFAllow = "127.0.0.0/8"
	cfg.ConnectAuthRootCAs = x509.NewCertPool()
	cfg.ConnectAuthRootCAs.AddCert(auth.Certificate())
	srv, a := startNode(t, cfg)
	var app struct {
		Key            string
		ConnectAuthURL *string
		AllowedOrigins []string
	}
	if code := a.call("PATCH", "/v1/app", map[string]any{
		"connectAuthUrl": auth.URL + "/whoami", "allowedOrigins": []string{"https://App.example:443"},
	}, &app); code != 200 || app.ConnectAuthURL == nil || *app.ConnectAuthURL != auth.URL+"/whoami" ||
		len(app.AllowedOrigins) != 1 || app.AllowedOrigins[0] != "https://app.example" {
		t.Fatalf("PATCH /v1/app: %d %+v", code, app)
	}
	return srv, a, app.Key
}

// Connections without a client token, admitted by the app: over WebSocket
// and SSE, with the cookie or the app's own Authorization forwarded,
// answers remembered, the app's refusal a 401, a foreign Origin a 403
// before the app is asked, and the admitted users among the app's users
// for broadcasts.
func TestConnectionsAuthenticatedByTheApp(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			auth := newAppAuth(t)
			srv, a, key := delegatedNode(t, d.URL, auth)
			aliceCookie := http.Header{"Cookie": {"session=alice-s3cret"}, "Origin": {"https://app.example"}}

			alice, res, err := dialWS(t, srv, "?app="+key, aliceCookie)
			if err != nil {
				t.Fatalf("dial: %v %v", err, res)
			}
			if hello := alice.next("hello"); hello["userId"] != "alice" {
				t.Fatalf("hello %v", hello)
			}
			if auth.calls.Load() != 1 || auth.lastHeader("Cookie") != "session=alice-s3cret" {
				t.Fatalf("calls %d, cookie %q", auth.calls.Load(), auth.lastHeader("Cookie"))
			}
			// Within connect_auth_cache, by the app's id this time.
			stream, res := openSSE(t, srv, "?app="+a.appID(srv), aliceCookie)
			if stream == nil {
				t.Fatalf("sse: %d %s", res.StatusCode, errorCode(t, res))
			}
			if res.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || res.Header.Get("Access-Control-Allow-Credentials") != "true" {
				t.Fatalf("CORS of a stream opened with cookies: %v", res.Header)
			}
			if hello := stream.next("hello"); hello.data["userId"] != "alice" {
				t.Fatalf("sse hello %v", hello.data)
			}
			if n := auth.calls.Load(); n != 1 {
				t.Fatalf("a second connection within the cache asked the app again: %d calls", n)
			}
			id := a.notify("for alice", "alice")
			if n := alice.next("notification"); n["id"] != id {
				t.Fatalf("ws %v", n)
			}
			if n := stream.next("notification"); n.data["id"] != id {
				t.Fatalf("sse %v", n.data)
			}

			bob, _, err := dialWS(t, srv, "?app="+key, http.Header{"Authorization": {"Bearer app-jwt-bob"}})
			if err != nil {
				t.Fatal(err)
			}
			bob.next("hello")
			if auth.lastHeader("Authorization") != "Bearer app-jwt-bob" || auth.lastHeader("Cookie") != "" {
				t.Fatalf("forwarded %q %q", auth.lastHeader("Authorization"), auth.lastHeader("Cookie"))
			}

			var sent struct{ Recipients int }
			if code := a.call("POST", "/v1/notifications", map[string]any{"title": "to everyone"}, &sent); code != 201 || sent.Recipients != 2 {
				t.Fatalf("broadcast: %d, %d recipients (want alice and bob)", code, sent.Recipients)
			}
			alice.next("notification", "unseen")
			bob.next("notification", "unseen")
			if n := unseenByCookie(t, srv, key); n != 2 {
				t.Fatalf("alice's unseen count over REST: %d", n)
			}

			calls := auth.calls.Load()
			_, res, _ = dialWS(t, srv, "?app="+key, http.Header{"Cookie": {"session=expired"}})
			if res == nil || res.StatusCode != 401 || errorCode(t, res) != "unauthorized" || auth.calls.Load() != calls+1 {
				t.Fatalf("the app's 401: %v, %d calls", res, auth.calls.Load()-calls)
			}
			_, res, _ = dialWS(t, srv, "?app="+key, http.Header{"Cookie": {"session=alice-s3cret"}, "Origin": {"https://evil.example"}})
			if res == nil || res.StatusCode != 403 || auth.calls.Load() != calls+1 {
				t.Fatalf("a foreign Origin: %v, %d calls", res, auth.calls.Load()-calls)
			}
			if _, res := openSSE(t, srv, "?app="+key, nil); res.StatusCode != 401 {
				t.Fatalf("no credentials at all: %d", res.StatusCode)
			}
		})
	}
}

// unseenByCookie is alice's unseen count through the inbox REST routes,
// the app named in X-Pushgate-App.
func unseenByCookie(t *testing.T, srv *Server, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+srv.Addr()+"/v1/inbox/unseen-count", nil)
	req.Header.Set("X-Pushgate-App", key)
	req.Header.Set("Cookie", "session=alice-s3cret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Count *int }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 || out.Count == nil {
		t.Fatalf("unseen-count: %d %v", res.StatusCode, err)
	}
	return *out.Count
}

// An app whose connectAuthUrl cannot be reached: 503 with Retry-After, so
// that clients retry instead of logging the user out.
func TestUnreachableConnectAuthURLIsUnavailable(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			auth := newAppAuth(t)
			srv, a, key := delegatedNode(t, d.URL, auth)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			closed := "https://" + ln.Addr().String() + "/whoami"
			ln.Close()
			if code := a.call("PATCH", "/v1/app", map[string]any{"connectAuthUrl": closed}, nil); code != 200 {
				t.Fatalf("PATCH: %d", code)
			}
			_, res, _ := dialWS(t, srv, "?app="+key, http.Header{"Cookie": {"session=alice-s3cret"}})
			if res == nil || res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || errorCode(t, res) != "unavailable" {
				t.Fatalf("unreachable: %v", res)
			}
			if code := a.call("PATCH", "/v1/app", map[string]any{"connectAuthUrl": nil}, nil); code != 200 {
				t.Fatalf("clear: %d", code)
			}
			if _, res := openSSE(t, srv, "?app="+key, http.Header{"Cookie": {"session=alice-s3cret"}}); res.StatusCode != 401 {
				t.Fatalf("no connectAuthUrl: %d", res.StatusCode)
			}
		})
	}
}

// PATCH /v1/app refuses, naming the field, what pushgate must not call:
// internal addresses (with no ssrf_allow), http, and origins that are not
// origins; a standard key may not change the settings.
func TestConnectAuthURLIsCheckedWhenSet(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			_, a := startNode(t, nodeConfig(t, d.URL))
			for body, field := range map[string]string{
				`{"connectAuthUrl":"https://127.0.0.1/whoami"}`:       "connectAuthUrl",
				`{"connectAuthUrl":"https://169.254.169.254/latest"}`: "connectAuthUrl",
				`{"connectAuthUrl":"https://[::1]/x"}`:                "connectAuthUrl",
				`{"connectAuthUrl":"https://localhost/x"}`:            "connectAuthUrl",
				`{"connectAuthUrl":"http://app.example/whoami"}`:      "connectAuthUrl",
				`{"connectAuthUrl":7}`:                                "connectAuthUrl",
				`{"allowedOrigins":["https://app.example/path"]}`:     "allowedOrigins[0]",
				`{"allowedOrigins":["*"]}`:                            "allowedOrigins[0]",
				`{"allowedOrigins":"https://app.example"}`:            "allowedOrigins",
				`{}`: "body",
			} {
				var e apiError
				if code := a.call("PATCH", "/v1/app", body, &e); code != 400 || !e.has(field, "") {
					t.Errorf("%s: %d %+v, want 400 naming %s", body, code, e, field)
				}
			}
			var k struct{ Key string }
			a.call("POST", "/v1/app/keys", map[string]any{"name": "std", "role": "standard"}, &k)
			std := &api{t: t, base: a.base, key: k.Key}
			if code := std.call("PATCH", "/v1/app", `{"connectAuthUrl":null}`, nil); code != 403 {
				t.Fatalf("a standard key: %d", code)
			}
			var app map[string]any
			if a.call("GET", "/v1/app", nil, &app); app["connectAuthUrl"] != nil || !strings.Contains(mustJSON(app["allowedOrigins"]), "[]") {
				t.Fatalf("GET /v1/app: %v", app)
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
