package hostile

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The Pusher protocol's routes (issue 15) have no API key: the HTTP API is
// signed with the app's key and secret, and /app/{key} is a WebSocket named
// by the app's public key. Their cases are here, in both tables' terms.

// pusherCreds are an app's Pusher credentials.
type pusherCreds struct{ id, key, secret string }

func (w *world) pusherCreds(appID string) pusherCreds {
	w.t.Helper()
	app, err := w.srv.Apps.Get(context.Background(), appID)
	if err != nil {
		w.t.Fatal(err)
	}
	return pusherCreds{id: app.ID, key: app.Key, secret: app.Secret}
}

// pusherSigned is a request signed as the Pusher server SDKs sign them;
// change, when set, alters the query after the body_md5 is set and before
// the signature.
func pusherSigned(c pusherCreds, method, path string, body []byte, change func(url.Values)) request {
	q := url.Values{"auth_key": {c.key}, "auth_timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}, "auth_version": {"1.0"}}
	if p, query, ok := strings.Cut(path, "?"); ok {
		path = p
		extra, _ := url.ParseQuery(query)
		for k, v := range extra {
			q[k] = v
		}
	}
	if len(body) > 0 {
		sum := md5.Sum(body)
		q.Set("body_md5", hex.EncodeToString(sum[:]))
	}
	if change != nil {
		change(q)
	}
	var parts []string
	for k, vs := range q {
		for _, v := range vs {
			parts = append(parts, strings.ToLower(k)+"="+v)
		}
	}
	sort.Strings(parts)
	m := hmac.New(sha256.New, []byte(c.secret))
	m.Write([]byte(method + "\n" + path + "\n" + strings.Join(parts, "&")))
	q.Set("auth_signature", hex.EncodeToString(m.Sum(nil)))
	r := request{method: method, path: path + "?" + q.Encode(), body: body}
	if body != nil {
		r.header = http.Header{"Content-Type": {"application/json"}}
	}
	return r
}

// pusherFx is a valid call of one Pusher HTTP API route.
type pusherFx struct {
	route, method, path string // path of app A, with its query
	body                string
}

func pusherFixtures(appID string) []pusherFx {
	base := "/apps/" + appID
	return []pusherFx{
		{"POST /apps/{appId}/events", "POST", base + "/events", `{"name":"e","channels":["news","private-x"],"data":"{\"a\":1}","socket_id":"1.2"}`},
		{"POST /apps/{appId}/batch_events", "POST", base + "/batch_events", `{"batch":[{"name":"e","channel":"news","data":"x"}]}`},
		{"GET /apps/{appId}/channels", "GET", base + "/channels?filter_by_prefix=presence-&info=user_count", ""},
		{"GET /apps/{appId}/channels/{channel}", "GET", base + "/channels/presence-room?info=user_count,subscription_count", ""},
		{"GET /apps/{appId}/channels/{channel}/users", "GET", base + "/channels/presence-room/users", ""},
		{"POST /apps/{appId}/users/{userId}/terminate_connections", "POST", base + "/users/alice/terminate_connections", ""},
	}
}

func (f pusherFx) bytes() []byte {
	if f.body == "" {
		return nil
	}
	return []byte(f.body)
}

// pusherCases are the malformed-request cases of the Pusher routes: each
// route signed right (200), unsigned, signed by the other app, with a
// stale timestamp, a changed signature, a wrong body_md5, an unknown app
// id or another auth_version (401); bodies and parameters Pusher refuses
// (400, 413 for data over 10 KiB).
func pusherCases(w *world) []mcase {
	a, b := w.pusherCreds(w.a.id), w.pusherCreds(w.b.id)
	var out []mcase
	add := func(route, what string, codes []int, build func() request) {
		out = append(out, mcase{name: route + " | " + what, routes: []string{route}, build: build, want: want{codes: codes}})
	}
	for _, f := range pusherFixtures(a.id) {
		add(f.route, "signed by the app", []int{200}, func() request { return pusherSigned(a, f.method, f.path, f.bytes(), nil) })
		add(f.route, "unsigned", c401, func() request { return request{method: f.method, path: f.path, body: f.bytes()} })
		add(f.route, "signed by the other app", c401, func() request { return pusherSigned(b, f.method, f.path, f.bytes(), nil) })
		add(f.route, "another app's id", c401, func() request {
			return pusherSigned(a, f.method, strings.Replace(f.path, a.id, b.id, 1), f.bytes(), nil)
		})
		add(f.route, "an unknown app id", c401, func() request {
			return pusherSigned(a, f.method, strings.Replace(f.path, a.id, "not-an-app", 1), f.bytes(), nil)
		})
		add(f.route, "a stale timestamp", c401, func() request {
			return pusherSigned(a, f.method, f.path, f.bytes(), func(q url.Values) {
				q.Set("auth_timestamp", strconv.FormatInt(time.Now().Add(-11*time.Minute).Unix(), 10))
			})
		})
		add(f.route, "auth_version 2.0", c401, func() request {
			return pusherSigned(a, f.method, f.path, f.bytes(), func(q url.Values) { q.Set("auth_version", "2.0") })
		})
		add(f.route, "a changed signature", c401, func() request {
			r := pusherSigned(a, f.method, f.path, f.bytes(), nil)
			r.path = strings.Replace(r.path, "auth_signature=", "auth_signature=0", 1)
			return r
		})
		add(f.route, "a signed query changed afterwards", c401, func() request {
			r := pusherSigned(a, f.method, f.path, f.bytes(), nil)
			r.path += "&extra=1"
			return r
		})
		if f.body != "" {
			add(f.route, "a body that is not the one signed", c401, func() request {
				r := pusherSigned(a, f.method, f.path, f.bytes(), nil)
				r.body = []byte(strings.Replace(f.body, `"e"`, `"f"`, 1))
				return r
			})
		}
	}
	return append(out, pusherBodyCases(w, a)...)
}

// pusherBodyCases are well-signed requests Pusher refuses.
func pusherBodyCases(w *world, a pusherCreds) []mcase {
	events, batch := "/apps/"+a.id+"/events", "/apps/"+a.id+"/batch_events"
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("%q", "c"+strconv.Itoa(i))
	}
	bodies := []struct {
		route, path, what, body string
		codes                   []int
	}{
		{"POST /apps/{appId}/events", events, "malformed JSON", `{"name":`, c400},
		{"POST /apps/{appId}/events", events, "data that is an object", `{"name":"e","channel":"c","data":{"a":1}}`, c400},
		{"POST /apps/{appId}/events", events, "no channel", `{"name":"e","data":"x"}`, c400},
		{"POST /apps/{appId}/events", events, "101 channels", `{"name":"e","data":"x","channels":[` + strings.Join(many, ",") + `]}`, c400},
		{"POST /apps/{appId}/events", events, "a channel name of 165 characters", `{"name":"e","data":"x","channel":"` + strings.Repeat("c", 165) + `"}`, c400},
		{"POST /apps/{appId}/events", events, "a channel name with a space", `{"name":"e","data":"x","channel":"a b"}`, c400},
		{"POST /apps/{appId}/events", events, "no name", `{"data":"x","channel":"c"}`, c400},
		{"POST /apps/{appId}/events", events, "a socket_id that is no socket id", `{"name":"e","data":"x","channel":"c","socket_id":"abc"}`, c400},
		{"POST /apps/{appId}/events", events, "data over 10 KiB", `{"name":"e","channel":"c","data":"` + strings.Repeat("d", 10241) + `"}`, c413},
		{"POST /apps/{appId}/events", events, "a NUL in the data", `{"name":"e","channel":"c","data":"a\u0000b"}`, c400},
		{"POST /apps/{appId}/batch_events", batch, "11 events", `{"batch":[` + strings.Repeat(`{"name":"e","channel":"c","data":"x"},`, 10) + `{"name":"e","channel":"c","data":"x"}]}`, c400},
		{"POST /apps/{appId}/batch_events", batch, "no events", `{"batch":[]}`, c400},
		{"POST /apps/{appId}/batch_events", batch, "one bad event", `{"batch":[{"name":"e","channel":"c","data":"x"},{"name":"","channel":"c","data":"x"}]}`, c400},
	}
	var out []mcase
	for _, c := range bodies {
		out = append(out, mcase{name: c.route + " | " + c.what, routes: []string{c.route}, want: want{codes: c.codes},
			build: func() request { return pusherSigned(a, "POST", c.path, []byte(c.body), nil) }})
	}
	gets := []struct{ route, path, what string }{
		{"GET /apps/{appId}/channels", "/channels?info=user_count", "user_count without the presence- prefix"},
		{"GET /apps/{appId}/channels/{channel}", "/channels/" + strings.Repeat("c", 200), "a channel name of 200 characters"},
		{"GET /apps/{appId}/channels/{channel}", "/channels/news?info=user_count", "user_count of a public channel"},
		{"GET /apps/{appId}/channels/{channel}/users", "/channels/private-x/users", "users of a private channel"},
	}
	for _, g := range gets {
		out = append(out, mcase{name: g.route + " | " + g.what, routes: []string{g.route}, want: want{codes: c400},
			build: func() request { return pusherSigned(a, "GET", "/apps/"+a.id+g.path, nil, nil) }})
	}
	out = append(out, mcase{name: "GET /app/{key} | no WebSocket handshake", routes: []string{"GET /app/{key}"}, want: want{codes: c400},
		build: func() request { return request{method: "GET", path: "/app/" + a.key + "?protocol=7"} }})
	out = append(out, mcase{name: "GET /app/{key} | an unknown key, no handshake", routes: []string{"GET /app/{key}"}, want: want{codes: c400},
		build: func() request { return request{method: "GET", path: "/app/nokey?protocol=7"} }})
	return out
}

// pusherAuthz is the authorization matrix of the Pusher routes: signed by
// A (its answer), by B on A's path, unsigned, and by a secret since
// rotated (401, none showing A's ids); and /app/{key} with A's, B's, an
// unknown and a NUL key (4001 for those naming no app).
func pusherAuthz(t *testing.T, w *world, backend string, aIDs []string, covered map[string]int) {
	a, b := w.pusherCreds(w.a.id), w.pusherCreds(w.b.id)
	old := a
	oldID, _ := w.newApp("rotated")
	old = w.pusherCreds(oldID)
	if _, err := w.srv.Apps.RotateSecret(context.Background(), oldID); err != nil {
		t.Fatal(err)
	}
	for _, f := range pusherFixtures(a.id) {
		covered[f.route]++
		kinds := map[string]request{
			"admin":   pusherSigned(a, f.method, f.path, f.bytes(), nil),
			"other":   pusherSigned(b, f.method, f.path, f.bytes(), nil),
			"none":    {method: f.method, path: f.path, body: f.bytes()},
			"revoked": pusherSigned(old, f.method, strings.Replace(f.path, a.id, oldID, 1), f.bytes(), nil),
		}
		for kind, r := range kinds {
			t.Run(f.route+" as "+kind, func(t *testing.T) {
				ans := w.do(r)
				var p []string
				if wantCode := map[bool]int{true: 200, false: 401}[kind == "admin"]; ans.status != wantCode {
					p = append(p, fmt.Sprintf("as %s: want %d, got %s", kind, wantCode, ans))
				}
				if kind != "admin" {
					p = append(p, errorShape(ans)...)
					p = append(p, leaks(ans, aIDs)...)
				}
				judge(t, backend, "authz: "+f.route+" as "+kind, p)
			})
		}
	}
	covered["GET /app/{key}"]++
	t.Run("GET /app/{key} by key", func(t *testing.T) {
		var p []string
		for name, key := range map[string]string{"A": a.key, "B": b.key, "unknown": "nokey", "NUL": "a%00b"} {
			code, first := pusherDial(w, key)
			known := name == "A" || name == "B"
			switch {
			case name == "NUL" && code == -1 && strings.Contains(first, "bad handshake"): // refused at the door
			case known && !strings.Contains(first, "pusher:connection_established"), !known && code != 4001:
				p = append(p, fmt.Sprintf("%s key: close %d, first frame %q", name, code, first))
			}
		}
		judge(t, backend, "authz: GET /app/{key} by key", p)
	})
}

// pusherDial connects to /app/{key} and returns the first frame, or the
// close code when the connection is closed first.
func pusherDial(w *world, key string) (int, string) {
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+w.addr+"/app/"+key+"?protocol=7", nil)
	if err != nil {
		return -1, err.Error()
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, data, err := ws.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); ok {
		return ce.Code, ""
	}
	return 0, string(data)
}
