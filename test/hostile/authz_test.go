package hostile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// The keys of the matrix: app A's admin and standard keys, app B's (admin)
// key, none, and a key of A that was revoked.
var keyKinds = []string{"admin", "standard", "other", "none", "revoked"}

// keyManagement are the routes only an admin key may use: the app's keys
// and its settings.
var keyManagement = map[string]bool{
	"PATCH /v1/app":               true,
	"GET /v1/app/keys":            true,
	"POST /v1/app/keys":           true,
	"DELETE /v1/app/keys/{keyId}": true,
}

// unscoped are authenticated routes that name no resource: another app's
// key works on them, on its own app.
var unscoped = map[string]bool{
	"GET /v1/app":       true,
	"PATCH /v1/app":     true,
	"GET /v1/app/keys":  true,
	"POST /v1/app/keys": true,
	// B's key lists B's own channel webhook batches.
	"GET /v1/app/webhooks": true,
	"POST /v1/bucket":      true,
	"POST /v1/images":      true,
	// The inbox: B's key and B's client tokens act on B's own.
	"POST /v1/tokens":            true,
	"GET /v1/tokens":             true,
	"POST /v1/notifications":     true,
	"GET /v1/notifications":      true,
	"GET /v1/inbox":              true,
	"GET /v1/inbox/unseen-count": true,
	"POST /v1/inbox/read-all":    true,
	"GET /v1/ws":                 true,
	"GET /v1/sse":                true,
}

// TestAuthorizationMatrix calls every route as app A's admin key, A's
// standard key, app B's key, no key and a revoked key of A, on A's
// resources. B gets 404 for A's resources and never their data; no key
// and a revoked key get 401; only an admin key manages API keys (a
// standard key gets 403). Public routes answer alike whatever the key, and
// a client event names a message of its own context or gets 404.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, backend string) {
		w := newWorld(t, backend)
		keys := map[string]string{"admin": w.a.key, "other": w.b.key}
		var std struct {
			ID, Key, Role string
		}
		created := w.call(w.a.key, "POST", "/v1/app/keys", `{"name":"standard","role":"standard"}`, &std)
		if created.status != 201 || std.Key == "" {
			t.Fatalf("create a standard key: %s", created)
		}
		keys["standard"] = std.Key
		t.Run("a new key answers its role", func(t *testing.T) {
			var p []string
			if std.Role != "standard" {
				p = append(p, fmt.Sprintf(`POST /v1/app/keys {"role":"standard"} answered role %q: %s`, std.Role, created))
			}
			judge(t, backend, "authz: a new key answers its role", p)
		})
		var gone struct{ ID, Key string }
		w.must(201, w.a.key, "POST", "/v1/app/keys", `{"name":"revoked","role":"standard"}`, &gone)
		w.must(204, w.a.key, "DELETE", "/v1/app/keys/"+gone.ID, nil, nil)
		keys["revoked"] = gone.Key
		aIDs := []string{w.a.id, w.a.keyID, std.ID, w.a.bucket, w.a.context, w.a.message, w.a.batch, w.a.channelBatch}
		// A client-token route takes, for each kind: A's token (admin),
		// A's API key (standard), B's token (other), nothing, and A's
		// revoked token.
		tokens := map[string]string{}
		if in := w.a.inbox; in != nil {
			aIDs = append(aIDs, in.tokenID, in.notification)
			tokens = map[string]string{"admin": in.token, "standard": w.a.key, "other": w.b.inbox.token, "revoked": in.revoked}
		}

		routes := allRoutes(t, w.node)
		fx := fixtures(w)
		covered := map[string]int{}
		for _, route := range routes {
			f, ok := fx[route]
			if !ok {
				continue
			}
			covered[route]++
			for _, kind := range keyKinds {
				t.Run(route+" as "+kind, func(t *testing.T) {
					r := f.valid()
					if f.token != "" {
						r.header = nil
						if kind != "none" {
							r.header = http.Header{"Authorization": {"Bearer " + tokens[kind]}}
						}
					} else if f.key != "" {
						r.key = keys[kind]
					} else if kind != "none" {
						r.header = withKey(r.header, keys[kind])
					}
					a := w.do(r)
					judge(t, backend, "authz: "+route+" as "+kind, authzProblems(f, kind, a, aIDs, w))
				})
			}
		}
		pusherAuthz(t, w, backend, aIDs, covered)
		requireCoverage(t, routes, covered, "authorization")

		// Ids mixed across apps: B's own bucket holding A's context,
		// message or batch; A's context with B's message.
		mixed := []struct{ name, method, path, body string }{
			{"B's bucket with A's context", "GET", "/v1/bucket/" + w.b.bucket + "/context/" + w.a.context, ""},
			{"B's bucket sending A's context", "POST", "/v1/bucket/" + w.b.bucket + "/context/" + w.a.context + "/send",
				string(marshal(map[string]any{"receivers": []any{w.b.receiver}}))},
			{"B's bucket with A's message", "GET", "/v1/bucket/" + w.b.bucket + "/message/" + w.a.message, ""},
			{"B's bucket redelivering A's batch", "POST", "/v1/bucket/" + w.b.bucket + "/webhooks/" + w.a.batch + "/redeliver", ""},
			{"B revoking A's key", "DELETE", "/v1/app/keys/" + w.a.keyID, ""},
			{"B redelivering A's channel webhook batch", "POST", "/v1/app/webhooks/" + w.a.channelBatch + "/redeliver", ""},
			{"B redelivering its bucket's batch as a channel one", "POST", "/v1/app/webhooks/" + w.b.batch + "/redeliver", ""},
			{"B's bucket redelivering B's channel webhook batch", "POST", "/v1/bucket/" + w.b.bucket + "/webhooks/" + w.b.channelBatch + "/redeliver", ""},
		}
		for _, m := range mixed {
			t.Run(m.name, func(t *testing.T) {
				a := w.call(w.b.key, m.method, m.path, m.body, nil)
				p := errorShape(a)
				if a.status != 404 {
					p = append(p, fmt.Sprintf("%s %s with B's key: want 404, got %s", m.method, m.path, a))
				}
				judge(t, backend, "authz: "+m.name, append(p, leaks(a, aIDs)...))
			})
		}
		for _, kind := range []string{"delivered", "clicked", "closed"} {
			for _, c := range []struct{ name, context, message string }{
				{"A's context with B's message", w.a.context, w.b.message},
				{"B's context with A's message", w.b.context, w.a.message},
			} {
				t.Run(kind+" event on "+c.name, func(t *testing.T) {
					a := w.call("", "POST", "/v1/context/"+c.context+"/events/"+kind, map[string]any{"messageId": c.message}, nil)
					p := errorShape(a)
					if a.status != 404 {
						p = append(p, fmt.Sprintf("an event on %s: want 404, got %s", c.name, a))
					}
					judge(t, backend, "authz: "+kind+" event on "+c.name, p)
				})
			}
		}

		// Secrets in a callback URL are never shown back (defect 8).
		t.Run("callback secrets are not shown back", func(t *testing.T) {
			body := strings.Replace(w.bucketBody("https://hook-user:hook-pass@hooks.example/in?token=hook-token"), `"X-Shop-Secret"`, `"X-Other"`, 1)
			var b struct{ BucketID string }
			w.must(200, w.a.key, "POST", "/v1/bucket", body, &b)
			a := w.call(w.a.key, "GET", "/v1/bucket/"+b.BucketID, nil, nil)
			var p []string
			for _, s := range []string{"hook-pass", "hook-token", "s3cr3t"} {
				if bytes.Contains(a.body, []byte(s)) {
					p = append(p, fmt.Sprintf("GET /v1/bucket/{id} shows the callback's secret %q: %s", s, a))
				}
			}
			judge(t, backend, "authz: callback secrets are not shown back", p)
		})

		// An app's last admin key cannot be revoked (defect 10).
		t.Run("the last admin key stays", func(t *testing.T) {
			_, key := w.newApp("solo")
			var list struct{ Keys []struct{ ID string } }
			w.must(200, key, "GET", "/v1/app/keys", nil, &list)
			if len(list.Keys) != 1 {
				t.Fatalf("a new app has %d keys", len(list.Keys))
			}
			a := w.call(key, "DELETE", "/v1/app/keys/"+list.Keys[0].ID, nil, nil)
			p := errorShape(a)
			if a.status != 409 {
				p = append(p, "revoking an app's only admin key: want 409, got "+a.String())
			}
			judge(t, backend, "authz: the last admin key stays", p)
		})
		w.alive()
	})
}

// withKey adds key to h as an "authorization: token=" header.
func withKey(h map[string][]string, key string) map[string][]string {
	out := map[string][]string{}
	for k, v := range h {
		out[k] = v
	}
	out["Authorization"] = []string{"token=" + key}
	return out
}

// authzProblems is what is wrong with the answer a key of kind got on the
// valid request of f.
func authzProblems(f *routeFx, kind string, a answer, aIDs []string, w *world) []string {
	if a.err != nil {
		return []string{"no answer: " + a.err.Error()}
	}
	p := errorShape(a)
	expect := func(codes ...int) {
		if !slices.Contains(codes, a.status) {
			p = append(p, fmt.Sprintf("as %s: want %v, got %s", kind, codes, a))
		}
	}
	switch {
	case f.token != "" && (kind == "none" || kind == "revoked" || kind == "standard"):
		expect(401) // standard: an API key is no client token
	case f.token != "" && kind == "other" && !unscoped[f.route]:
		expect(404)
	case f.token != "":
		expect(f.ok...)
	case f.key == "":
		expect(f.ok...) // public: the key changes nothing
	case kind == "none" || kind == "revoked":
		expect(401)
	case kind == "standard" && keyManagement[f.route]:
		expect(403)
		if _, _, code := errorOf(a); a.status == 403 && code != "forbidden" {
			p = append(p, "a 403 with code "+code)
		}
	case kind == "other" && compatRoutes[f.route]:
		expect(401) // X-AUTH-TOKEN: a key of another app is no token of the compat app
	case kind == "other" && !unscoped[f.route]:
		expect(404)
	default:
		expect(f.ok...)
	}
	if kind == "other" {
		p = append(p, leaks(a, aIDs)...)
		if f.route == "GET /v1/app" {
			var app struct{ AppID string }
			if json.Unmarshal(a.body, &app); app.AppID != w.b.id {
				p = append(p, fmt.Sprintf("GET /v1/app with B's key answers app %q", app.AppID))
			}
		}
	}
	return p
}

// leaks names A's identifiers that an answer to B shows.
func leaks(a answer, aIDs []string) []string {
	var p []string
	for _, id := range aIDs {
		if id != "" && bytes.Contains(a.body, []byte(id)) {
			p = append(p, fmt.Sprintf("an answer to app B shows %s, which is app A's", id))
		}
	}
	return p
}
