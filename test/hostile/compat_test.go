package hostile

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// compatRoutes are notification-server's routes, behind X-AUTH-TOKEN:
// another app's key is refused there (401) as any wrong token is.
var compatRoutes = map[string]bool{
	"PUT /api/{userId}/register": true,
	"POST /api/{userId}/push":    true,
}

// compatFixtures are valid requests to notification-server's routes (the
// first app, A, is the compat app) and to the Socket.IO endpoint. A
// userId is any string, so it is fixed rather than given wrong ids.
func compatFixtures(w *world) []*routeFx {
	user := func() map[string]string { return map[string]string{"userId": "hostile-user"} }
	root := func() map[string]string { return map[string]string{"path": ""} }
	polling := func() string { return "?EIO=4&transport=polling" }
	return []*routeFx{
		{route: "PUT /api/{userId}/register", key: w.a.key, ok: []int{200}, fixed: user,
			query: func() string { return "?connectionId=hostile-connection" }},
		{route: "POST /api/{userId}/push", key: w.a.key, ok: []int{200}, fixed: user, bodyLimit: 1 << 20,
			body: func() []byte { return []byte(`{"message":{"title":"Title of message","body":"Body","params":{}}}`) }},
		{route: "GET /socket.io/{path}", ok: []int{200}, fixed: root, query: polling},
		{route: "OPTIONS /socket.io/{path}", ok: []int{204}, fixed: root, query: polling},
		{route: "POST /socket.io/{path}", ok: []int{200}, fixed: root, contentType: "text/plain;charset=UTF-8",
			query: func() string { return polling() + "&sid=" + engineSession(w) },
			body:  func() []byte { return []byte("40") }},
	}
}

// engineSession opens an Engine.IO polling session and returns its sid.
func engineSession(w *world) string {
	res, err := w.node.client.Get(w.node.base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		return "no-session"
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	_, rest, ok := bytes.Cut(b, []byte(`"sid":"`))
	sid, _, ok2 := bytes.Cut(rest, []byte(`"`))
	if !ok || !ok2 {
		return "no-session"
	}
	return string(sid)
}

// TestSocketIOHostile sends the Socket.IO endpoint what no client sends:
// unknown protocol versions and transports, unknown and forged sids,
// garbage and oversized packets, an upgrade without a WebSocket handshake,
// X-AUTH-TOKEN values of every wrong kind on the REST routes. Never a 5xx;
// every error in the one shape; the node answers afterwards.
func TestSocketIOHostile(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		sid := engineSession(w)
		cases := []struct {
			name, method, path, body string
			header                   http.Header
			codes                    []int
		}{
			{"EIO=3", "GET", "/socket.io/?EIO=3&transport=polling", "", nil, c400},
			{"EIO=99", "GET", "/socket.io/?EIO=99&transport=polling", "", nil, c400},
			{"no transport", "GET", "/socket.io/?EIO=4", "", nil, c400},
			{"unknown transport", "GET", "/socket.io/?EIO=4&transport=flash", "", nil, c400},
			{"forged sid", "GET", "/socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAAAAAA", "", nil, c400},
			{"4 KiB sid", "GET", "/socket.io/?EIO=4&transport=polling&sid=" + strings.Repeat("a", 4<<10), "", nil, c400},
			{"websocket without a handshake", "GET", "/socket.io/?EIO=4&transport=websocket", "", nil, c400},
			{"POST without sid", "POST", "/socket.io/?EIO=4&transport=polling", "40", nil, c400},
			{"garbage packet", "POST", "/socket.io/?EIO=4&transport=polling&sid=" + sid, "\x00\xff\xfe garbage", nil, []int{200, 400}},
			{"a register with 1 MiB", "POST", "/socket.io/?EIO=4&transport=polling&sid=" + engineSession(w),
				`42["register","` + strings.Repeat("u", 1<<20) + `","c"]`, nil, []int{200, 400, 413}},
			{"10 KiB X-AUTH-TOKEN", "PUT", "/api/u/register?connectionId=c", "", http.Header{"X-Auth-Token": {strings.Repeat("t", 10<<10)}}, c401},
			{"B's key as X-AUTH-TOKEN", "POST", "/api/u/push", `{"message":1}`, http.Header{"X-Auth-Token": {w.b.key}}, c401},
			{"A's app id as X-AUTH-TOKEN", "POST", "/api/u/push", `{"message":1}`, http.Header{"X-Auth-Token": {w.a.id}}, c401},
			{"4 KiB userId", "POST", "/api/" + strings.Repeat("u", 4<<10) + "/push", `{"message":1}`, http.Header{"X-Auth-Token": {w.a.key}}, c400},
			{"userId with a newline", "POST", "/api/a%0Ab/push", `{"message":1}`, http.Header{"X-Auth-Token": {w.a.key}}, c400},
			{"connectionId with a NUL", "PUT", "/api/u/register?connectionId=a%00b", "", http.Header{"X-Auth-Token": {w.a.key}}, c400},
			{"connectionId twice", "PUT", "/api/u/register?connectionId=&connectionId=c", "", http.Header{"X-Auth-Token": {w.a.key}}, c400},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				a := w.do(request{method: tc.method, path: tc.path, header: tc.header, body: []byte(tc.body)})
				var p []string
				if a.err != nil {
					p = append(p, "no answer: "+a.err.Error())
				} else if !containsInt(tc.codes, a.status) {
					p = append(p, fmt.Sprintf("want %v, got %s", tc.codes, a))
				}
				judge(t, backend, "socket.io: "+tc.name, append(p, errorShape(a)...))
			})
		}
		t.Run("an upgrade with a junk key", func(t *testing.T) {
			judge(t, backend, "socket.io: junk upgrade", junkUpgrade(w))
		})
		if a := w.do(request{method: "GET", path: "/healthz"}); a.status != 200 {
			t.Fatalf("the node no longer answers: %s", a)
		}
	})
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// junkUpgrade asks for a WebSocket upgrade with a key that is no key.
func junkUpgrade(w *world) []string {
	conn, err := net.DialTimeout("tcp", w.node.addr, 5*time.Second)
	if err != nil {
		return []string{err.Error()}
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", strings.Repeat("!", 300))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return []string{"no answer: " + err.Error()}
	}
	res.Body.Close()
	if res.StatusCode >= 500 {
		return []string{fmt.Sprintf("a junk upgrade got %d", res.StatusCode)}
	}
	return nil
}
