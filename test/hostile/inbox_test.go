package hostile

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// inboxTenant is what one app holds in the inbox: two users' client
// tokens, one revoked token, and a notification to the first user.
type inboxTenant struct {
	token, tokenID string // user "alice"
	bobToken       string // user "bob"
	revoked        string // a revoked token of alice
	notification   string // to alice and bob
}

// populateInbox gives tn its client tokens and a notification.
func (w *world) populateInbox(tn *tenant) {
	tn.inbox = &inboxTenant{}
	in := tn.inbox
	var tok struct{ ID, Token string }
	w.must(201, tn.key, "POST", "/v1/tokens", `{"name":"phone","userId":"alice"}`, &tok)
	in.token, in.tokenID = tok.Token, tok.ID
	w.must(201, tn.key, "POST", "/v1/tokens", `{"name":"laptop","userId":"bob"}`, &tok)
	in.bobToken = tok.Token
	w.must(201, tn.key, "POST", "/v1/tokens", `{"name":"old","userId":"alice"}`, &tok)
	in.revoked = tok.Token
	w.must(204, tn.key, "DELETE", "/v1/tokens/"+tok.ID, nil, nil)
	in.notification = w.notification(tn, []string{"alice", "bob"})
}

// notification sends one of tn's notifications to users and returns its id.
func (w *world) notification(tn *tenant, users []string) string {
	var n struct{ ID string }
	a := w.call(tn.key, "POST", "/v1/notifications", map[string]any{"title": "Sale", "message": "Everything -30%",
		"to": map[string]any{"userIds": users}}, &n)
	if a.status != 201 {
		return "no-notification-" + a.String()
	}
	return n.ID
}

// throwawayToken creates a client token of app A for a case to revoke.
func (w *world) throwawayToken() string {
	var tok struct{ ID string }
	if a := w.call(w.a.key, "POST", "/v1/tokens", `{"name":"throwaway","userId":"carol"}`, &tok); a.status != 201 {
		return "no-token-" + a.String()
	}
	return tok.ID
}

// inboxFixtures are valid requests to the inbox's routes: the API-key
// routes as any other, the client-token routes with alice's token.
func inboxFixtures(w *world) []*routeFx {
	a, b := w.a, w.b
	if a.inbox == nil {
		return nil
	}
	static := func(id string) func() map[string]string {
		return func() map[string]string { return map[string]string{"notificationId": id} }
	}
	otherNote := map[string]string{"notificationId": b.inbox.notification}
	fresh := func() map[string]string {
		return map[string]string{"notificationId": w.notification(a, []string{"alice"})}
	}
	return []*routeFx{
		{route: "POST /v1/tokens", key: a.key, ok: []int{201},
			body: func() []byte { return []byte(`{"name":"phone","userId":"alice"}`) }},
		{route: "GET /v1/tokens", key: a.key, ok: []int{200}},
		{route: "DELETE /v1/tokens/{tokenId}", key: a.key, ok: []int{204},
			params: func() map[string]string { return map[string]string{"tokenId": w.throwawayToken()} },
			other:  map[string]string{"tokenId": b.inbox.tokenID}},
		{route: "POST /v1/notifications", key: a.key, ok: []int{201},
			body: func() []byte {
				return marshal(map[string]any{"title": "Sale", "message": "Everything -30%", "priority": 7, "ttl": 3600,
					"extras": map[string]any{"campaign": "7", "n": 1}, "imageUrl": w.image("sale"), "clickUrl": "https://shop.example/sale",
					"to": map[string]any{"userIds": []any{"alice", "bob"}}})
			}},
		{route: "GET /v1/notifications", key: a.key, ok: []int{200}},
		{route: "GET /v1/notifications/{notificationId}", key: a.key, ok: []int{200}, params: static(a.inbox.notification), other: otherNote},
		{route: "DELETE /v1/notifications/{notificationId}", key: a.key, ok: []int{204}, params: fresh, other: otherNote},
		{route: "GET /v1/inbox", token: a.inbox.token, ok: []int{200}},
		{route: "GET /v1/inbox/unseen-count", token: a.inbox.token, ok: []int{200}},
		{route: "POST /v1/inbox/read-all", token: a.inbox.token, ok: []int{200}},
		{route: "GET /v1/inbox/{notificationId}", token: a.inbox.token, ok: []int{200}, params: static(a.inbox.notification), other: otherNote},
		{route: "DELETE /v1/inbox/{notificationId}", token: a.inbox.token, ok: []int{204}, params: fresh, other: otherNote},
		{route: "POST /v1/inbox/{notificationId}/delivered", token: a.inbox.token, ok: []int{200}, params: static(a.inbox.notification), other: otherNote},
		{route: "POST /v1/inbox/{notificationId}/read", token: a.inbox.token, ok: []int{200}, params: static(a.inbox.notification), other: otherNote},
		// The suite speaks plain HTTP: a valid token without a WebSocket
		// handshake is a 400 (the protocol has its own tests with real
		// WebSocket clients).
		{route: "GET /v1/ws", token: a.inbox.token, ok: []int{400}},
		// A stream that does not end: the suite reads it up to its first
		// event (hello).
		{route: "GET /v1/sse", token: a.inbox.token, ok: []int{200}},
		{route: "OPTIONS /v1/notifications", ok: []int{204}},
		{route: "OPTIONS /v1/inbox", ok: []int{204}},
		{route: "OPTIONS /v1/inbox/unseen-count", ok: []int{204}},
		{route: "OPTIONS /v1/inbox/read-all", ok: []int{204}},
		{route: "OPTIONS /v1/inbox/{notificationId}", ok: []int{204}, params: static(a.inbox.notification), other: otherNote},
		{route: "OPTIONS /v1/inbox/{notificationId}/delivered", ok: []int{204}, params: static(a.inbox.notification), other: otherNote},
		{route: "OPTIONS /v1/inbox/{notificationId}/read", ok: []int{204}, params: static(a.inbox.notification), other: otherNote},
	}
}

// clientAuthCases: the client token missing, altered, oversized, of
// another scheme, revoked, or an API key in its place.
func clientAuthCases(w *world, f *routeFx, add func(*routeFx, string, want, func() request)) {
	with := func(what, query string, h http.Header) {
		add(f, what, want{codes: c401}, func() request {
			r := f.valid()
			r.header = h
			r.path += query
			return r
		})
	}
	bearer := func(v string) http.Header { return http.Header{"Authorization": {"Bearer " + v}} }
	tok := f.token
	changed := "x"
	if strings.HasSuffix(tok, changed) {
		changed = "y"
	}
	with("no client token", "", nil)
	with("empty bearer", "", bearer(""))
	with("client token with a byte changed", "", bearer(tok[:len(tok)-1]+changed))
	with("client token in upper case", "", bearer(strings.ToUpper(tok)))
	with("10 KiB client token", "", bearer("pgt_"+strings.Repeat("A", 10<<10)))
	with("client token without a scheme", "", http.Header{"Authorization": {tok}})
	with("Basic credentials", "", http.Header{"Authorization": {"Basic cm9vdDpyb290"}})
	with("revoked client token", "", bearer(w.a.inbox.revoked))
	with("the app's API key as bearer", "", bearer(w.a.key))
	with("the app's API key as x-token", "", http.Header{"X-Token": {w.a.key}})
	with("the app's API key beside the client token", "", http.Header{"Authorization": {"Bearer " + tok}, "X-Token": {w.a.key}})
	with("the app's API key in the query", "?token="+url.QueryEscape(w.a.key), nil)
	with("an unknown client token in the query", "?token=pgt_"+strings.Repeat("B", 43), nil)
	add(f, "client token in the query", want{codes: f.ok}, func() request {
		r := f.valid()
		r.header = nil
		r.path += "?token=" + url.QueryEscape(tok)
		return r
	})
}

// inboxSpecialCases are the ones the inbox's own rules call for.
func inboxSpecialCases(w *world, fx map[string]*routeFx) []mcase {
	if w.a.inbox == nil {
		return nil
	}
	var out []mcase
	add := func(route, what string, want want, build func() request) {
		out = append(out, mcase{name: route + " | " + what, routes: []string{route}, build: build, want: want})
	}
	big := strings.Repeat("x", 900<<10)
	const tokens = "POST /v1/tokens"
	tokenBody := func(name, user string) func() request {
		return func() request {
			r := fx[tokens].valid()
			r.body = marshal(map[string]any{"name": name, "userId": user})
			return r
		}
	}
	add(tokens, "name of 101 characters", want{codes: c400}, tokenBody(strings.Repeat("n", 101), "alice"))
	add(tokens, "empty name", want{codes: c400}, tokenBody("", "alice"))
	add(tokens, "userId of 201 characters", want{codes: c400}, tokenBody("phone", strings.Repeat("u", 201)))
	add(tokens, "empty userId", want{codes: c400}, tokenBody("phone", ""))
	add(tokens, "userId with a newline", want{codes: c400}, tokenBody("phone", "alice\nbob"))
	add(tokens, "userId of 900 KiB", want{codes: []int{400, 413}}, tokenBody("phone", big))

	const send = "POST /v1/notifications"
	sendWith := func(header http.Header, change func(map[string]any)) func() request {
		return func() request {
			r := fx[send].valid()
			m := map[string]any{"title": "Sale", "message": "Everything -30%", "to": map[string]any{"userIds": []any{"alice"}}}
			change(m)
			r.body = marshal(m)
			if header != nil {
				r.key, r.header = "", header
			}
			return r
		}
	}
	asAlice := http.Header{"Authorization": {"Bearer " + w.a.inbox.token}}
	users := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = fmt.Sprintf("u%d", i)
		}
		return out
	}
	for _, c := range []struct {
		what   string
		codes  []int
		change func(map[string]any)
	}{
		{"no title or message", c400, func(m map[string]any) { delete(m, "title"); delete(m, "message") }},
		{"title of 257 characters", c400, func(m map[string]any) { m["title"] = strings.Repeat("t", 257) }},
		{"message of 900 KiB", []int{400, 413}, func(m map[string]any) { m["message"] = big }},
		{"priority 0", c400, func(m map[string]any) { m["priority"] = 0 }},
		{"priority 11", c400, func(m map[string]any) { m["priority"] = 11 }},
		{"priority 5.5", c400, func(m map[string]any) { m["priority"] = 5.5 }},
		{"ttl -1", c400, func(m map[string]any) { m["ttl"] = -1 }},
		{"ttl 1e300", c400, func(m map[string]any) { m["ttl"] = 1e300 }},
		{"extras an array", c400, func(m map[string]any) { m["extras"] = []any{1} }},
		{"extras a string", c400, func(m map[string]any) { m["extras"] = "x" }},
		{"extras of 9 KiB", []int{400, 413}, func(m map[string]any) { m["extras"] = map[string]any{"k": strings.Repeat("e", 9<<10)} }},
		{"imageUrl of file scheme", c400, func(m map[string]any) { m["imageUrl"] = "file:///etc/passwd" }},
		{"imageUrl javascript:", c400, func(m map[string]any) { m["imageUrl"] = "javascript:alert(1)" }},
		{"imageUrl at the metadata service", c400, func(m map[string]any) { m["imageUrl"] = "http://169.254.169.254/latest/meta-data/" }},
		// The world's allow-list holds 127.0.0.1 (its fakes), and nothing
		// else on loopback.
		{"imageUrl on loopback", c400, func(m map[string]any) { m["imageUrl"] = "http://127.0.0.2:6379/x.png" }},
		{"imageUrl on loopback in hex", c400, func(m map[string]any) { m["imageUrl"] = "http://0x7f000002/x.png" }},
		{"imageUrl on IPv6 loopback", c400, func(m map[string]any) { m["imageUrl"] = "http://[::1]/x.png" }},
		{"imageUrl on a private address", c400, func(m map[string]any) { m["imageUrl"] = "https://10.0.0.7/x.png" }},
		{"imageUrl with a port and no host", c400, func(m map[string]any) { m["imageUrl"] = "https://:443/x.png" }},
		{"imageUrl of 3,000 characters", c400, func(m map[string]any) { m["imageUrl"] = "https://shop.example/" + strings.Repeat("a", 3000) }},
		{"imageUrl a number", c400, func(m map[string]any) { m["imageUrl"] = 5 }},
		{"clickUrl of 3,000 characters", c400, func(m map[string]any) { m["clickUrl"] = "https://shop.example/" + strings.Repeat("a", 3000) }},
		{"no users", c400, func(m map[string]any) { m["to"] = map[string]any{"userIds": []any{}} }},
		{"users null", c400, func(m map[string]any) { m["to"] = map[string]any{"userIds": nil} }},
		{"1,001 users", []int{400, 413}, func(m map[string]any) { m["to"] = map[string]any{"userIds": users(1001)} }},
		{"a user of 201 characters", c400, func(m map[string]any) { m["to"] = map[string]any{"userIds": []any{strings.Repeat("u", 201)}} }},
		{"a user that is a number", c400, func(m map[string]any) { m["to"] = map[string]any{"userIds": []any{5}} }},
	} {
		add(send, c.what, want{codes: c.codes}, sendWith(nil, c.change))
	}
	// An image the node cannot fetch: the notification is stored and sent
	// without it, and the answer says why.
	imageError := func(a answer) []string {
		var sent struct{ ImageError string }
		if json.Unmarshal(a.body, &sent) != nil || !strings.Contains(sent.ImageError, "image.invalid") {
			return []string{"no imageError naming the image: " + a.String()}
		}
		return nil
	}
	add(send, "imageUrl whose host never resolves", want{codes: []int{201}, check: imageError},
		sendWith(nil, func(m map[string]any) { m["imageUrl"] = "http://image.invalid/x.png" }))
	add(send, "a client token with an imageUrl that never resolves", want{codes: []int{201}, check: imageError},
		sendWith(asAlice, func(m map[string]any) { m["imageUrl"] = "http://image.invalid/x.png" }))
	add(send, "a client token to its own user", want{codes: []int{201}}, sendWith(asAlice, func(m map[string]any) {}))
	add(send, "a client token without to", want{codes: []int{201}}, sendWith(asAlice, func(m map[string]any) { delete(m, "to") }))
	add(send, "a client token to another user", want{codes: []int{403}}, sendWith(asAlice, func(m map[string]any) {
		m["to"] = map[string]any{"userIds": []any{"bob"}}
	}))
	add(send, "a client token to itself and another user", want{codes: []int{403}}, sendWith(asAlice, func(m map[string]any) {
		m["to"] = map[string]any{"userIds": []any{"alice", "bob"}}
	}))
	add(send, "a revoked client token", want{codes: c401}, sendWith(http.Header{"Authorization": {"Bearer " + w.a.inbox.revoked}}, func(map[string]any) {}))
	add(send, "a client token with a byte changed", want{codes: c401}, sendWith(http.Header{"Authorization": {"Bearer " + w.a.inbox.token + "x"}}, func(map[string]any) {}))

	for _, route := range []string{"GET /v1/tokens", "GET /v1/notifications", "GET /v1/inbox"} {
		for _, q := range []string{"limit=abc", "limit=0", "limit=101", "limit=99999999999999999999", "limit=-1", "cursor=" + strings.Repeat("9", 5000)} {
			add(route, "query "+trunc(q, 30), want{codes: c400}, func() request {
				r := fx[route].valid()
				r.path += "?" + q
				return r
			})
		}
		add(route, "a cursor of junk", want{codes: []int{200, 400}}, func() request {
			r := fx[route].valid()
			r.path += "?cursor=%27%20OR%201%3D1--"
			return r
		})
	}
	const inbox = "GET /v1/inbox"
	for _, q := range []string{"status=read", "status=%00", "since=yesterday", "since=2026-13-45T99:99:99Z", "since=" + strings.Repeat("9", 5000)} {
		add(inbox, "query "+trunc(q, 30), want{codes: c400}, func() request {
			r := fx[inbox].valid()
			r.path += "?" + q
			return r
		})
	}
	add(inbox, "since far in the future", want{codes: []int{200}}, func() request {
		r := fx[inbox].valid()
		r.path += "?since=9999-12-31T23:59:59Z"
		return r
	})
	add("GET /v1/tokens", "userId of 10 KiB", want{codes: []int{200, 400}}, func() request {
		r := fx["GET /v1/tokens"].valid()
		r.path += "?userId=" + strings.Repeat("u", 10<<10)
		return r
	})
	// Bob's notification is not in alice's inbox, whatever she does.
	bobs := w.notification(w.a, []string{"bob"})
	for _, route := range []string{"GET /v1/inbox/{notificationId}", "DELETE /v1/inbox/{notificationId}",
		"POST /v1/inbox/{notificationId}/delivered", "POST /v1/inbox/{notificationId}/read"} {
		add(route, "another user's notification", want{codes: []int{404}}, func() request {
			return fx[route].request(map[string]string{"notificationId": bobs}, nil)
		})
	}
	return out
}
