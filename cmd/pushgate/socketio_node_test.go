package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/testenv"
)

// sioResults is what test/js/socketio-compat.mjs prints.
type sioResults struct {
	Mode, Failure string
	Rest          struct {
		Ping, Info, Register, Push struct {
			Status     int
			Body, Type string
		}
		RegisterNoToken, RegisterBadToken     int
		RegisterNoConnectionID                int `json:"registerNoConnectionId"`
		RegisterOtherQuery, RegisterAgain     int
		RegisterTaken, PushNoToken            int
		PushBadToken, PushEmpty, PushOtherKey int
		PushNull, PushMalformed, PushArray    int
		PushNoBody                            int
	}
	Register   map[string][]map[string]any
	Upgraded   *bool
	Transports []string
	Received   map[string][]any
	After      struct {
		Tab1          int
		Tab2          []any
		Tab1Connected bool
	} `json:"afterDisconnect"`
	Late []any
}

const sioToken = "compat-token-0123456789"

// runSocketIOScript runs the script with npm's socket.io-client@4 and
// returns what it saw.
func runSocketIOScript(t *testing.T, node, base, socketBase, mode string, ttl time.Duration) *sioResults {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("..", "..", "test", "js", "socketio-compat.mjs"),
		base, sioToken, mode, strconv.FormatInt(ttl.Milliseconds(), 10), socketBase)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var r sioResults
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("results %s: %v", out, err)
	}
	if r.Failure != "" {
		t.Fatalf("%s: the script failed: %s", mode, r.Failure)
	}
	return &r
}

// TestSocketIOWithNodeClient runs the real binary as a notification-server
// in place and drives it with npm's socket.io-client@4 over WebSocket only,
// long-polling only, and polling upgraded to WebSocket: register, every
// push on both tabs of a user, nothing for a wrong or another user's
// connectionId, an expired one refused, disconnect; and the REST calls of
// notification-server's README, bad tokens and bodies included.
func TestSocketIOWithNodeClient(t *testing.T) {
	node := nodeWith(t, "socket.io-client")
	bin := buildBinary(t)
	const ttl = 2 * time.Second
	p := startProcess(t, bin, crashEnv(t, "PUSHGATE_COMPAT_AUTH_TOKEN="+sioToken, "PUSHGATE_COMPAT_CONNECTION_TTL=2s"))
	for _, mode := range []string{"websocket", "polling", "upgrade"} {
		t.Run(mode, func(t *testing.T) {
			r := runSocketIOScript(t, node, p.base, p.base, mode, ttl)
			checkCompatREST(t, r)
			checkSocketIO(t, r)
			want := map[string]string{"websocket": "websocket", "polling": "polling", "upgrade": "websocket"}[mode]
			if r.Transports[0] != want || r.Transports[1] != want {
				t.Errorf("transports %v, want %s", r.Transports, want)
			}
			if mode == "upgrade" && (r.Upgraded == nil || !*r.Upgraded) {
				t.Error("the tabs did not upgrade to WebSocket")
			}
		})
	}
}

// TestSocketIOAcrossTwoNodes pushes through node A to Socket.IO tabs on
// node B (WebSocket and long-polling), through the Redis broker.
func TestSocketIOAcrossTwoNodes(t *testing.T) {
	if os.Getenv("PUSHGATE_TEST_DATABASE_URL") == "" || !testenv.RealRedis() {
		t.Skip("two nodes need a shared PostgreSQL and Redis: set PUSHGATE_TEST_DATABASE_URL and PUSHGATE_TEST_REDIS_URL (CI does)")
	}
	node := nodeWith(t, "socket.io-client")
	bin := buildBinary(t)
	env := crashEnv(t, "PUSHGATE_COMPAT_AUTH_TOKEN="+sioToken, "PUSHGATE_COMPAT_CONNECTION_TTL=2s")
	a := startProcess(t, bin, env)
	b := startProcess(t, bin, append(env, "PUSHGATE_DATA_DIR="+t.TempDir()))
	for _, mode := range []string{"websocket", "polling"} {
		t.Run(mode, func(t *testing.T) { checkSocketIO(t, runSocketIOScript(t, node, a.base, b.base, mode, 2*time.Second)) })
	}
}

func checkCompatREST(t *testing.T, r *sioResults) {
	t.Helper()
	x := r.Rest
	if x.Ping.Status != 200 || x.Ping.Body != "pong" {
		t.Errorf("ping: %+v", x.Ping)
	}
	var info struct{ Name, Version string }
	if x.Info.Status != 200 || json.Unmarshal([]byte(x.Info.Body), &info) != nil || info.Name != "pushgate" || info.Version == "" {
		t.Errorf("info: %+v", x.Info)
	}
	for name, got := range map[string]struct {
		Status     int
		Body, Type string
	}{"register": x.Register, "push": x.Push} {
		if got.Status != 200 || got.Body != "" {
			t.Errorf("%s: %+v, want 200 and an empty body as notification-server answers", name, got)
		}
	}
	want := map[string][2]int{
		"register without token": {x.RegisterNoToken, 401}, "register with a wrong token": {x.RegisterBadToken, 401},
		"register without connectionId": {x.RegisterNoConnectionID, 400}, "register with another query": {x.RegisterOtherQuery, 400},
		"register again": {x.RegisterAgain, 200}, "another user's connectionId": {x.RegisterTaken, 409},
		"push without token": {x.PushNoToken, 401}, "push with a wrong token": {x.PushBadToken, 401},
		"push {}": {x.PushEmpty, 400}, "push without message": {x.PushOtherKey, 400}, "push null": {x.PushNull, 400},
		"push malformed": {x.PushMalformed, 400}, "push an array": {x.PushArray, 400}, "push no body": {x.PushNoBody, 400},
	}
	for name, w := range want {
		if w[0] != w[1] {
			t.Errorf("%s: %d, want %d", name, w[0], w[1])
		}
	}
}

func checkSocketIO(t *testing.T, r *sioResults) {
	t.Helper()
	for tab, ev := range map[string]string{"tab1": "registered", "tab2": "registered"} {
		if len(r.Register[tab]) != 1 || r.Register[tab][0][ev] == nil {
			t.Errorf("%s register: %v", tab, r.Register[tab])
		}
	}
	refused := map[string]string{"unknown": "unknown_connection_id", "otherUser": "other_user",
		"invalid": "invalid_arguments", "expired": "expired_connection_id"}
	for tab, reason := range refused {
		got := r.Register[tab]
		if len(got) != 1 {
			t.Errorf("%s register: %v", tab, got)
			continue
		}
		if e, _ := got[0]["error"].(map[string]any); e == nil || e["reason"] != reason {
			t.Errorf("%s register: %v, want an error event naming %s", tab, got, reason)
		}
	}
	pushed := []any{map[string]any{"title": "Title of message", "body": "Body of message", "params": map[string]any{}}, "text", 42.0,
		[]any{1.0, map[string]any{"k": "v"}}, true}
	for _, tab := range []string{"tab1", "tab2"} {
		if !reflect.DeepEqual(r.Received[tab], pushed) {
			t.Errorf("%s received %v, want %v", tab, r.Received[tab], pushed)
		}
	}
	for _, tab := range []string{"unknown", "otherUser"} {
		if len(r.Received[tab]) != 0 {
			t.Errorf("%s received %v", tab, r.Received[tab])
		}
	}
	if len(r.Late) != 0 {
		t.Errorf("the expired tab received %v", r.Late)
	}
	if r.After.Tab1 != len(pushed) || r.After.Tab1Connected || !reflect.DeepEqual(r.After.Tab2, []any{"after disconnect"}) {
		t.Errorf("after disconnect: %+v", r.After)
	}
}

// TestSocketIOKeepOffline: with the app's compatKeepOffline, pushes to a
// user with no tab wait in the inbox and reach the next tab that
// registers, in order; a live push reaches the open tab; what a tab had is
// not replayed to the next one.
func TestSocketIOKeepOffline(t *testing.T) {
	node := nodeWith(t, "socket.io-client")
	bin := buildBinary(t)
	p := startProcess(t, bin, crashEnv(t, "PUSHGATE_COMPAT_AUTH_TOKEN="+sioToken))
	key := parseCredentials(t, p.out).APIKey
	var app struct{ CompatKeepOffline bool }
	if code := p.call(t, key, "PATCH", "/v1/app", map[string]any{"compatKeepOffline": true}, &app); code != 200 || !app.CompatKeepOffline {
		t.Fatalf("PATCH /v1/app: %d %+v", code, app)
	}
	r := runSocketIOScript(t, node, p.base, p.base, "keep", time.Hour)
	for _, tab := range []string{"tab1", "tab2"} { // registered, then what was kept
		if len(r.Register[tab]) == 0 || r.Register[tab][0]["registered"] == nil {
			t.Errorf("%s register: %v", tab, r.Register[tab])
		}
	}
	if want := []any{map[string]any{"n": 1.0}, "two", "live"}; !reflect.DeepEqual(r.Received["tab1"], want) {
		t.Errorf("tab1 received %v, want %v", r.Received["tab1"], want)
	}
	if len(r.Received["tab2"]) != 0 {
		t.Errorf("tab2 received %v: what tab1 had was replayed", r.Received["tab2"])
	}
}
