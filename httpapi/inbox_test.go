package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/internal/testenv"
)

// inboxAPI is a node with two apps, A and B, over a fake inbox service.
type inboxAPI struct {
	*client
	fake   *fakeInbox
	a, b   string // API keys
	maxLen int64
}

func newInboxAPI(t *testing.T) *inboxAPI {
	t.Helper()
	fake := newFakeInbox()
	h, svc := newTestAPIOn(t, testenv.OpenDB(t, testenv.SQLiteURL(t)), httpapi.Options{Inbox: fake, MaxBodyBytes: 16 << 10})
	a, err := svc.Create(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := svc.Create(context.Background(), "b")
	return &inboxAPI{client: newClient(t, h), fake: fake, a: a.APIKey, b: b.APIKey, maxLen: 16 << 10}
}

type tokenJSON struct {
	ID, Token, UserID, Name, CreatedAt string
}

// token creates a client token for user with key.
func (x *inboxAPI) token(key, user string) tokenJSON {
	x.t.Helper()
	rec := x.do("POST", "/v1/tokens", fmt.Sprintf(`{"name":"phone","userId":%q}`, user), "x-token", key)
	var tok tokenJSON
	if rec.Code != 201 || json.Unmarshal(rec.Body.Bytes(), &tok) != nil {
		x.t.Fatalf("create token: %d %s", rec.Code, rec.Body)
	}
	return tok
}

// send posts a notification with the given credential header and returns
// its id.
func (x *inboxAPI) send(body string, header ...string) (id string, recipients int) {
	x.t.Helper()
	rec := x.do("POST", "/v1/notifications", body, header...)
	var out struct {
		ID         string
		Recipients int
	}
	if rec.Code != 201 || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.ID == "" {
		x.t.Fatalf("send %s: %d %s", body, rec.Code, rec.Body)
	}
	return out.ID, out.Recipients
}

type itemsJSON struct {
	Items []struct {
		ID, Title, Status string
	}
	Cursor string
}

func (x *inboxAPI) inbox(token, query string) itemsJSON {
	x.t.Helper()
	rec := x.do("GET", "/v1/inbox"+query, "", "Authorization", "Bearer "+token)
	var out itemsJSON
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
		x.t.Fatalf("GET /v1/inbox%s: %d %s", query, rec.Code, rec.Body)
	}
	return out
}

func ids(it itemsJSON) []string {
	var out []string
	for _, i := range it.Items {
		out = append(out, i.ID)
	}
	return out
}

// wantError fails t unless rec is an error answer of status and code
// whose fields mention each of fields.
func wantError(t *testing.T, what string, rec *httptest.ResponseRecorder, status int, code string, fields ...string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("%s: %d %s, want %d", what, rec.Code, rec.Body, status)
		return
	}
	e := decodeError(t, rec)
	if e.Code != code {
		t.Errorf("%s: code %q, want %q", what, e.Code, code)
	}
	for _, f := range fields {
		if !slices.ContainsFunc(e.Errors, func(s string) bool { return strings.HasPrefix(s, f) }) {
			t.Errorf("%s: errors %q name no %q", what, e.Errors, f)
		}
	}
}

func TestClientTokens(t *testing.T) {
	x := newInboxAPI(t)
	tok := x.token(x.a, "alice")
	if !strings.HasPrefix(tok.Token, "pgt_") || !pushgate.ValidID(tok.ID) || tok.UserID != "alice" || tok.Name != "phone" || tok.CreatedAt == "" {
		t.Fatalf("created token %+v", tok)
	}
	x.token(x.a, "alice")
	x.token(x.a, "bob")
	x.token(x.b, "alice")

	wantError(t, "no userId", x.do("POST", "/v1/tokens", `{"name":"phone"}`, "x-token", x.a), 400, pushgate.EINVALID, "userId")
	wantError(t, "name of the wrong type", x.do("POST", "/v1/tokens", `{"name":5,"userId":"u"}`, "x-token", x.a), 400, pushgate.EINVALID, "name: expected string")
	wantError(t, "no body", x.do("POST", "/v1/tokens", "", "x-token", x.a), 400, pushgate.EINVALID)
	wantError(t, "no API key", x.do("POST", "/v1/tokens", `{"name":"p","userId":"u"}`), 401, pushgate.EUNAUTHORIZED)
	wantError(t, "a client token instead of an API key", x.do("POST", "/v1/tokens", `{"name":"p","userId":"u"}`, "Authorization", "Bearer "+tok.Token), 401, pushgate.EUNAUTHORIZED)
	wantError(t, "a client token listing tokens", x.do("GET", "/v1/tokens", "", "Authorization", "Bearer "+tok.Token), 401, pushgate.EUNAUTHORIZED)

	var list struct {
		Tokens []map[string]any
		Cursor string
	}
	decode := func(rec *httptest.ResponseRecorder) {
		t.Helper()
		list.Tokens, list.Cursor = nil, ""
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &list) != nil {
			t.Fatalf("list tokens: %d %s", rec.Code, rec.Body)
		}
	}
	decode(x.do("GET", "/v1/tokens", "", "x-token", x.a))
	if len(list.Tokens) != 3 || list.Cursor != "" {
		t.Fatalf("app A lists %d tokens (cursor %q), want its 3", len(list.Tokens), list.Cursor)
	}
	for _, tk := range list.Tokens {
		if tk["token"] != nil || tk["hash"] != nil {
			t.Fatalf("a listed token shows its value: %v", tk)
		}
	}
	decode(x.do("GET", "/v1/tokens?userId=alice&limit=1", "", "x-token", x.a))
	if len(list.Tokens) != 1 || list.Tokens[0]["userId"] != "alice" || list.Cursor == "" {
		t.Fatalf("first page of alice's tokens: %+v", list)
	}
	decode(x.do("GET", "/v1/tokens?userId=alice&limit=1&cursor="+url.QueryEscape(list.Cursor), "", "x-token", x.a))
	if len(list.Tokens) != 1 || list.Tokens[0]["userId"] != "alice" || list.Cursor != "" {
		t.Fatalf("last page of alice's tokens: %+v", list)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "limit=-1", "cursor=" + strings.Repeat("c", 513)} {
		field, _, _ := strings.Cut(q, "=")
		wantError(t, "list ?"+q[:min(len(q), 20)], x.do("GET", "/v1/tokens?"+q, "", "x-token", x.a), 400, pushgate.EINVALID, field)
	}

	// Revoked: gone from the list, refused on the inbox; another app
	// cannot revoke it.
	wantError(t, "app B revokes A's token", x.do("DELETE", "/v1/tokens/"+tok.ID, "", "x-token", x.b), 404, pushgate.ENOTFOUND)
	if rec := x.do("GET", "/v1/inbox", "", "Authorization", "Bearer "+tok.Token); rec.Code != 200 {
		t.Fatalf("token before revocation: %d %s", rec.Code, rec.Body)
	}
	if rec := x.do("DELETE", "/v1/tokens/"+tok.ID, "", "x-token", x.a); rec.Code != 204 || rec.Body.Len() != 0 {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	wantError(t, "revoked token", x.do("GET", "/v1/inbox", "", "Authorization", "Bearer "+tok.Token), 401, pushgate.EUNAUTHORIZED)
	wantError(t, "revoked twice", x.do("DELETE", "/v1/tokens/"+tok.ID, "", "x-token", x.a), 404, pushgate.ENOTFOUND)
	wantError(t, "revoke a malformed id", x.do("DELETE", "/v1/tokens/x", "", "x-token", x.a), 404, pushgate.ENOTFOUND)
	decode(x.do("GET", "/v1/tokens?userId=alice", "", "x-token", x.a))
	if len(list.Tokens) != 1 {
		t.Fatalf("alice has %d tokens after a revocation, want 1", len(list.Tokens))
	}
}

func TestNotificationsWithAPIKey(t *testing.T) {
	x := newInboxAPI(t)
	alice, bob := x.token(x.a, "alice"), x.token(x.a, "bob")
	other := x.token(x.b, "alice")

	id, n := x.send(`{"title":"Hi","message":"to two","priority":7,"extras":{"k":"v"},"to":{"userIds":["alice","bob","carol","alice"]}}`, "x-token", x.a)
	if n != 3 {
		t.Fatalf("recipients of alice, bob, carol, alice: %d, want 3", n)
	}
	bcast, n := x.send(`{"message":"to all"}`, "x-token", x.a)
	if n != 2 {
		t.Fatalf("a broadcast to an app whose users alice and bob have tokens: %d recipients, want 2", n)
	}
	for _, tok := range []tokenJSON{alice, bob} {
		if got := ids(x.inbox(tok.Token, "")); !slices.Equal(got, []string{bcast, id}) {
			t.Fatalf("%s's inbox %v, want the broadcast and the targeted one", tok.UserID, got)
		}
	}
	if got := ids(x.inbox(other.Token, "")); len(got) != 0 {
		t.Fatalf("app B's alice sees app A's notifications: %v", got)
	}

	// Counts follow the users' acts.
	x.do("POST", "/v1/inbox/"+id+"/delivered", "", "Authorization", "Bearer "+bob.Token)
	x.do("POST", "/v1/inbox/"+id+"/delivered", "", "Authorization", "Bearer "+alice.Token)
	x.do("POST", "/v1/inbox/"+id+"/read", "", "Authorization", "Bearer "+alice.Token)
	var got struct {
		ID        string
		Title     string
		Priority  int
		Broadcast bool
		UserIDs   []string
		Extras    map[string]string
		Counts    struct{ Recipients, Delivered, Read int }
	}
	rec := x.do("GET", "/v1/notifications/"+id, "", "x-token", x.a)
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &got) != nil {
		t.Fatalf("get: %d %s", rec.Code, rec.Body)
	}
	if got.ID != id || got.Title != "Hi" || got.Priority != 7 || got.Broadcast || len(got.UserIDs) != 3 || got.Extras["k"] != "v" ||
		got.Counts.Recipients != 3 || got.Counts.Delivered != 2 || got.Counts.Read != 1 {
		t.Fatalf("GET /v1/notifications/{id} = %s", rec.Body)
	}

	var list struct {
		Notifications []struct {
			ID        string
			Broadcast bool
			Counts    *struct{ Recipients int }
		}
		Cursor string
	}
	rec = x.do("GET", "/v1/notifications?limit=1", "", "x-token", x.a)
	if json.Unmarshal(rec.Body.Bytes(), &list); rec.Code != 200 || len(list.Notifications) != 1 || list.Notifications[0].ID != bcast ||
		!list.Notifications[0].Broadcast || list.Notifications[0].Counts == nil || list.Notifications[0].Counts.Recipients != 2 || list.Cursor == "" {
		t.Fatalf("first page: %d %s", rec.Code, rec.Body)
	}
	rec = x.do("GET", "/v1/notifications?limit=1&cursor="+url.QueryEscape(list.Cursor), "", "x-token", x.a)
	if json.Unmarshal(rec.Body.Bytes(), &list); len(list.Notifications) != 1 || list.Notifications[0].ID != id || list.Cursor != "" {
		t.Fatalf("last page: %d %s", rec.Code, rec.Body)
	}
	rec = x.do("GET", "/v1/notifications", "", "x-token", x.b)
	if json.Unmarshal(rec.Body.Bytes(), &list); rec.Code != 200 || len(list.Notifications) != 0 {
		t.Fatalf("app B lists app A's notifications: %s", rec.Body)
	}
	wantError(t, "list limit=101", x.do("GET", "/v1/notifications?limit=101", "", "x-token", x.a), 400, pushgate.EINVALID, "limit")
	wantError(t, "app B gets A's", x.do("GET", "/v1/notifications/"+id, "", "x-token", x.b), 404, pushgate.ENOTFOUND)
	wantError(t, "app B deletes A's", x.do("DELETE", "/v1/notifications/"+id, "", "x-token", x.b), 404, pushgate.ENOTFOUND)
	wantError(t, "get a malformed id", x.do("GET", "/v1/notifications/nope", "", "x-token", x.a), 404, pushgate.ENOTFOUND)
	wantError(t, "a client token gets", x.do("GET", "/v1/notifications/"+id, "", "Authorization", "Bearer "+alice.Token), 401, pushgate.EUNAUTHORIZED)
	wantError(t, "a client token lists", x.do("GET", "/v1/notifications", "", "Authorization", "Bearer "+alice.Token), 401, pushgate.EUNAUTHORIZED)
	wantError(t, "a client token deletes", x.do("DELETE", "/v1/notifications/"+id, "", "Authorization", "Bearer "+alice.Token), 401, pushgate.EUNAUTHORIZED)

	if rec := x.do("DELETE", "/v1/notifications/"+id, "", "x-token", x.a); rec.Code != 204 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	wantError(t, "get after delete", x.do("GET", "/v1/notifications/"+id, "", "x-token", x.a), 404, pushgate.ENOTFOUND)
	if got := ids(x.inbox(bob.Token, "")); !slices.Equal(got, []string{bcast}) {
		t.Fatalf("bob's inbox after the retraction: %v", got)
	}
}

func TestSendNotificationValidation(t *testing.T) {
	x := newInboxAPI(t)
	alice := x.token(x.a, "alice")
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprintf("u%d", i)
	}
	tooMany, _ := json.Marshal(map[string]any{"title": "t", "to": map[string]any{"userIds": many}})
	cases := []struct {
		what, body string
		status     int
		code       string
		field      string
	}{
		{"no title or message", `{"priority":5}`, 400, pushgate.EINVALID, ""},
		{"priority out of range", `{"title":"t","priority":11}`, 400, pushgate.EINVALID, "priority"},
		{"priority as a string", `{"title":"t","priority":"5"}`, 400, pushgate.EINVALID, "priority: expected integer"},
		{"priority a fraction", `{"title":"t","priority":5.5}`, 400, pushgate.EINVALID, "priority"},
		{"ttl too big for any integer", `{"title":"t","ttl":1e400}`, 400, pushgate.EINVALID, "ttl"},
		{"to a string", `{"title":"t","to":"alice"}`, 400, pushgate.EINVALID, "to: expected object"},
		{"userIds of numbers", `{"title":"t","to":{"userIds":[1]}}`, 400, pushgate.EINVALID, "to.userIds"},
		{"no users", `{"title":"t","to":{"userIds":[]}}`, 400, pushgate.EINVALID, "to.userIds"},
		{"1,001 users", string(tooMany), 400, pushgate.EINVALID, "to.userIds"},
		{"a NUL in the title", `{"title":"a\u0000b"}`, 400, pushgate.EINVALID, "title"},
		{"not JSON", `{"title":`, 400, pushgate.EINVALID, "body"},
		{"two documents", `{"title":"a"}{}`, 400, pushgate.EINVALID, "body"},
		{"an array", `[]`, 400, pushgate.EINVALID, "body"},
		{"over the body limit", `{"title":"` + strings.Repeat("x", int(x.maxLen)) + `"}`, 413, pushgate.ETOOLARGE, ""},
	}
	for _, c := range cases {
		for _, cred := range [][]string{{"x-token", x.a}, {"Authorization", "Bearer " + alice.Token}} {
			if c.field == "to.userIds" && cred[0] == "Authorization" {
				continue // a client token's "to" is checked against its user first
			}
			what := c.what + " with " + cred[0]
			if c.field == "" {
				wantError(t, what, x.do("POST", "/v1/notifications", c.body, cred...), c.status, c.code)
			} else {
				wantError(t, what, x.do("POST", "/v1/notifications", c.body, cred...), c.status, c.code, c.field)
			}
		}
	}
	if len(x.fake.notes) != 0 {
		t.Fatalf("%d notifications stored by refused requests", len(x.fake.notes))
	}
	// A store that does not answer is a 503, not a stored notification.
	x.fake.fail = pushgate.Errorf(pushgate.EUNAVAILABLE, "database unavailable")
	wantError(t, "store down", x.do("POST", "/v1/notifications", `{"title":"t"}`, "x-token", x.a), 503, pushgate.EUNAVAILABLE)
}

// A client token sends to its own user only, in its own app.
func TestNotificationsWithClientToken(t *testing.T) {
	x := newInboxAPI(t)
	alice, bob := x.token(x.a, "alice"), x.token(x.a, "bob")
	otherApp := x.token(x.b, "alice")
	bearer := func(tok tokenJSON) []string { return []string{"Authorization", "Bearer " + tok.Token} }

	own, n := x.send(`{"title":"note to self"}`, bearer(alice)...)
	if n != 1 {
		t.Fatalf("a client token's send without to: %d recipients, want 1 (its user)", n)
	}
	named, _ := x.send(`{"title":"named","to":{"userIds":["alice"]}}`, bearer(alice)...)
	viaQuery := ""
	{
		rec := x.do("POST", "/v1/notifications?token="+url.QueryEscape(alice.Token), `{"title":"by query"}`)
		var out struct{ ID string }
		if json.Unmarshal(rec.Body.Bytes(), &out); rec.Code != 201 {
			t.Fatalf("send with ?token=: %d %s", rec.Code, rec.Body)
		}
		viaQuery = out.ID
	}
	viaXToken, _ := x.send(`{"title":"by x-token"}`, "x-token", alice.Token)
	if got := ids(x.inbox(alice.Token, "")); !slices.Equal(got, []string{viaXToken, viaQuery, named, own}) {
		t.Fatalf("alice's inbox %v", got)
	}
	for _, tok := range []tokenJSON{bob, otherApp} {
		if got := ids(x.inbox(tok.Token, "")); len(got) != 0 {
			t.Fatalf("%s's sends to herself reached another user's inbox: %v", alice.UserID, got)
		}
	}
	for _, body := range []string{
		`{"title":"t","to":{"userIds":["bob"]}}`,
		`{"title":"t","to":{"userIds":["alice","bob"]}}`,
		`{"title":"t","to":{"userIds":["ALICE"]}}`,
	} {
		wantError(t, "a client token naming another user: "+body, x.do("POST", "/v1/notifications", body, bearer(alice)...), 403, pushgate.EFORBIDDEN)
	}
	if got := ids(x.inbox(bob.Token, "")); len(got) != 0 {
		t.Fatalf("a refused send reached bob: %v", got)
	}
	var list struct{ Notifications []struct{ ID string } }
	json.Unmarshal(x.do("GET", "/v1/notifications", "", "x-token", x.b).Body.Bytes(), &list)
	if len(list.Notifications) != 0 {
		t.Fatalf("app A's token sent into app B: %v", list)
	}

	for _, h := range [][]string{
		nil,
		{"Authorization", "Bearer pgt_unknown"},
		{"Authorization", "Bearer " + alice.Token + "x"},
		{"x-token", "pgt_" + strings.Repeat("A", 10<<10)},
		{"Authorization", "Basic " + alice.Token},
	} {
		wantError(t, fmt.Sprintf("send with %.40q", h), x.do("POST", "/v1/notifications", `{"title":"t"}`, h...), 401, pushgate.EUNAUTHORIZED)
	}
	x.do("DELETE", "/v1/tokens/"+alice.ID, "", "x-token", x.a)
	wantError(t, "send with a revoked token", x.do("POST", "/v1/notifications", `{"title":"t"}`, bearer(alice)...), 401, pushgate.EUNAUTHORIZED)
}

func TestInboxRoutes(t *testing.T) {
	x := newInboxAPI(t)
	alice, bob := x.token(x.a, "alice"), x.token(x.a, "bob")
	as := func(tok tokenJSON) []string { return []string{"Authorization", "Bearer " + tok.Token} }
	first, _ := x.send(`{"title":"first","to":{"userIds":["alice"]}}`, "x-token", x.a)
	second, _ := x.send(`{"title":"second"}`, "x-token", x.a)
	third, _ := x.send(`{"title":"third","to":{"userIds":["alice","bob"]}}`, "x-token", x.a)
	bobs, _ := x.send(`{"title":"bob's","to":{"userIds":["bob"]}}`, "x-token", x.a)

	unseen := func(tok tokenJSON) int {
		t.Helper()
		var out struct{ Count *int }
		rec := x.do("GET", "/v1/inbox/unseen-count", "", as(tok)...)
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.Count == nil {
			t.Fatalf("unseen-count: %d %s", rec.Code, rec.Body)
		}
		return *out.Count
	}
	if got := ids(x.inbox(alice.Token, "")); !slices.Equal(got, []string{third, second, first}) || unseen(alice) != 3 {
		t.Fatalf("alice's inbox %v, want third, second, first, all unseen", got)
	}
	page := x.inbox(alice.Token, "?limit=2")
	if !slices.Equal(ids(page), []string{third, second}) || page.Cursor == "" {
		t.Fatalf("first page %+v", page)
	}
	page = x.inbox(alice.Token, "?limit=2&cursor="+url.QueryEscape(page.Cursor))
	if !slices.Equal(ids(page), []string{first}) || page.Cursor != "" {
		t.Fatalf("last page %+v", page)
	}

	mark := func(tok tokenJSON, id, what, want string) {
		t.Helper()
		var item struct{ ID, Status string }
		rec := x.do("POST", "/v1/inbox/"+id+"/"+what, "", as(tok)...)
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &item) != nil || item.ID != id || item.Status != want {
			t.Fatalf("mark %s: %d %s, want status %s", what, rec.Code, rec.Body, want)
		}
	}
	mark(alice, first, "delivered", "delivered")
	mark(alice, first, "read", "read")
	mark(alice, first, "delivered", "read") // never backwards
	mark(alice, second, "delivered", "delivered")
	if unseen(alice) != 2 || unseen(bob) != 3 {
		t.Fatalf("unseen after alice read one: alice %d bob %d", unseen(alice), unseen(bob))
	}
	if got := ids(x.inbox(alice.Token, "?status=seen")); !slices.Equal(got, []string{first}) {
		t.Fatalf("seen: %v", got)
	}
	if got := ids(x.inbox(alice.Token, "?status=unseen")); !slices.Equal(got, []string{third, second}) {
		t.Fatalf("unseen: %v", got)
	}
	var item struct{ ID, Title, Status string }
	rec := x.do("GET", "/v1/inbox/"+second, "", as(alice)...)
	if json.Unmarshal(rec.Body.Bytes(), &item); rec.Code != 200 || item.Title != "second" || item.Status != "delivered" {
		t.Fatalf("GET /v1/inbox/{id}: %d %s", rec.Code, rec.Body)
	}

	// Bob's own notification is not in alice's inbox, whatever she does.
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/inbox/" + bobs}, {"POST", "/v1/inbox/" + bobs + "/delivered"},
		{"POST", "/v1/inbox/" + bobs + "/read"}, {"DELETE", "/v1/inbox/" + bobs},
	} {
		wantError(t, "alice: "+r.method+" bob's", x.do(r.method, r.path, "", as(alice)...), 404, pushgate.ENOTFOUND)
	}
	if unseen(bob) != 3 {
		t.Fatalf("alice's tries changed bob's inbox: unseen %d", unseen(bob))
	}

	var readAll struct{ Read *int }
	rec = x.do("POST", "/v1/inbox/read-all", "", as(alice)...)
	if json.Unmarshal(rec.Body.Bytes(), &readAll); rec.Code != 200 || readAll.Read == nil || *readAll.Read != 2 || unseen(alice) != 0 || unseen(bob) != 3 {
		t.Fatalf("read-all: %d %s", rec.Code, rec.Body)
	}

	if rec := x.do("DELETE", "/v1/inbox/"+third, "", as(alice)...); rec.Code != 204 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	wantError(t, "delete twice", x.do("DELETE", "/v1/inbox/"+third, "", as(alice)...), 404, pushgate.ENOTFOUND)
	wantError(t, "get a deleted one", x.do("GET", "/v1/inbox/"+third, "", as(alice)...), 404, pushgate.ENOTFOUND)
	wantError(t, "read a deleted one", x.do("POST", "/v1/inbox/"+third+"/read", "", as(alice)...), 404, pushgate.ENOTFOUND)
	if got := ids(x.inbox(bob.Token, "")); !slices.Contains(got, third) {
		t.Fatalf("alice's delete took it out of bob's inbox: %v", got)
	}
	wantError(t, "a malformed id", x.do("GET", "/v1/inbox/x", "", as(alice)...), 404, pushgate.ENOTFOUND)
	wantError(t, "an unknown id", x.do("POST", "/v1/inbox/"+pushgate.NewID()+"/read", "", as(alice)...), 404, pushgate.ENOTFOUND)
}

func TestInboxQuery(t *testing.T) {
	x := newInboxAPI(t)
	alice := x.token(x.a, "alice")
	old, _ := x.send(`{"title":"old"}`, "x-token", x.a)
	recent, _ := x.send(`{"title":"recent"}`, "x-token", x.a)
	var at struct{ CreatedAt string }
	json.Unmarshal(x.do("GET", "/v1/inbox/"+recent, "", "Authorization", "Bearer "+alice.Token).Body.Bytes(), &at)
	if got := ids(x.inbox(alice.Token, "?status=all&since="+url.QueryEscape(at.CreatedAt))); !slices.Equal(got, []string{recent}) {
		t.Fatalf("since %s: %v, want only the recent one (not %s)", at.CreatedAt, got, old)
	}
	for _, q := range []string{"status=read", "status=UNSEEN", "since=yesterday", "since=2026-12-03", "limit=0", "limit=101", "limit=1e2",
		"cursor=" + strings.Repeat("c", 600), "cursor=nope"} {
		field, _, _ := strings.Cut(q, "=")
		wantError(t, "?"+q[:min(len(q), 24)], x.do("GET", "/v1/inbox?"+q, "", "Authorization", "Bearer "+alice.Token), 400, pushgate.EINVALID, field)
	}
	rec := x.do("GET", "/v1/inbox?status=x&limit=0&since=x", "", "Authorization", "Bearer "+alice.Token)
	wantError(t, "three bad parameters", rec, 400, pushgate.EINVALID, "status", "limit", "since")
}

// The inbox takes a client token and nothing else, in the error shape.
func TestInboxAuthentication(t *testing.T) {
	x := newInboxAPI(t)
	alice := x.token(x.a, "alice")
	x.send(`{"title":"hi"}`, "x-token", x.a)
	for _, h := range [][]string{
		{"Authorization", "Bearer " + alice.Token},
		{"Authorization", "bearer  " + alice.Token},
	} {
		if rec := x.do("GET", "/v1/inbox/unseen-count", "", h...); rec.Code != 200 {
			t.Errorf("%q: %d %s", h, rec.Code, rec.Body)
		}
	}
	if rec := x.do("GET", "/v1/inbox/unseen-count?token="+url.QueryEscape(alice.Token), ""); rec.Code != 200 {
		t.Errorf("?token=: %d %s", rec.Code, rec.Body)
	}
	refused := []struct {
		what   string
		query  string
		header []string
		msg    string
	}{
		{"no credential", "", nil, "missing client token"},
		{"an API key as bearer", "", []string{"Authorization", "Bearer " + x.a}, "not an API key"},
		{"an API key as x-token", "", []string{"x-token", x.a}, "not an API key"},
		{"an API key as token=", "", []string{"Authorization", "token=" + x.a}, "not an API key"},
		{"an API key in the query", "?token=" + x.a, nil, "not an API key"},
		{"an API key beside a client token", "?token=" + url.QueryEscape(alice.Token), []string{"x-token", x.a}, "not an API key"},
		{"an unknown token", "", []string{"Authorization", "Bearer pgt_" + strings.Repeat("A", 43)}, "invalid"},
		{"a token with a byte changed", "", []string{"Authorization", "Bearer " + alice.Token[:len(alice.Token)-1] + "!"}, "invalid"},
		{"a token in upper case", "", []string{"Authorization", "Bearer " + strings.ToUpper(alice.Token)}, "invalid"},
		{"10 KiB token", "", []string{"Authorization", "Bearer pgt_" + strings.Repeat("A", 10<<10)}, "invalid"},
		{"Basic credentials", "", []string{"Authorization", "Basic " + alice.Token}, "invalid"},
		{"an empty bearer", "", []string{"Authorization", "Bearer "}, "invalid"},
		{"an empty query token", "?token=", nil, "missing client token"},
		{"the token without a scheme", "", []string{"Authorization", alice.Token}, ""},
	}
	for _, r := range refused {
		for _, path := range []string{"/v1/inbox", "/v1/inbox/unseen-count"} {
			rec := x.do("GET", path+r.query, "", r.header...)
			wantError(t, r.what+" on "+path, rec, 401, pushgate.EUNAUTHORIZED)
			if e := decodeError(t, rec); r.msg != "" && !strings.Contains(e.Message, r.msg) {
				t.Errorf("%s: message %q does not say %q", r.what, e.Message, r.msg)
			}
		}
	}
	for _, r := range []struct{ method, path string }{
		{"POST", "/v1/inbox/read-all"}, {"GET", "/v1/inbox/" + pushgate.NewID()}, {"DELETE", "/v1/inbox/" + pushgate.NewID()},
		{"POST", "/v1/inbox/" + pushgate.NewID() + "/read"}, {"POST", "/v1/inbox/" + pushgate.NewID() + "/delivered"},
	} {
		wantError(t, "API key on "+r.method+" "+r.path, x.do(r.method, r.path, "", "x-token", x.a), 401, pushgate.EUNAUTHORIZED)
		wantError(t, "nothing on "+r.method+" "+r.path, x.do(r.method, r.path, ""), 401, pushgate.EUNAUTHORIZED)
	}
	if !strings.HasPrefix(x.a, apps.APIKeyPrefix) {
		t.Fatalf("API keys no longer start with %q: the credentials are told apart by prefix", apps.APIKeyPrefix)
	}
}

// The inbox's fixed paths and its ids share a level of the route tree;
// the API-key and client-token routes share /v1.
func TestInboxRouteTree(t *testing.T) {
	x := newInboxAPI(t)
	alice := x.token(x.a, "alice")
	id, _ := x.send(`{"title":"hi"}`, "x-token", x.a)
	bearer := []string{"Authorization", "Bearer " + alice.Token}
	cases := []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/inbox/unseen-count", 200},
		{"POST", "/v1/inbox/read-all", 200},
		{"GET", "/v1/inbox/read-all", 404},        // an id that is no id
		{"DELETE", "/v1/inbox/unseen-count", 404}, // likewise
		{"POST", "/v1/inbox/unseen-count", 405},
		{"PUT", "/v1/inbox/" + id, 405},
		{"POST", "/v1/inbox", 405},
		{"GET", "/v1/inbox/" + id + "/read", 405},
		{"POST", "/v1/inbox/" + id + "/seen", 404},
		{"GET", "/v1/inbox/", 404},
		{"GET", "/v1/inbox/" + id, 200},
		{"PUT", "/v1/notifications", 405},
		{"PATCH", "/v1/tokens", 405},
	}
	for _, c := range cases {
		rec := x.do(c.method, c.path, "", bearer...)
		if rec.Code != c.status {
			t.Errorf("%s %s = %d %s, want %d", c.method, c.path, rec.Code, rec.Body, c.status)
		} else if c.status >= 400 {
			decodeError(t, rec)
		}
	}
	// The same path, two credentials: POST takes a client token, GET an
	// API key only.
	if rec := x.do("POST", "/v1/notifications", `{"title":"t"}`, bearer...); rec.Code != 201 {
		t.Errorf("POST /v1/notifications with a client token: %d", rec.Code)
	}
	if rec := x.do("GET", "/v1/notifications", "", bearer...); rec.Code != 401 {
		t.Errorf("GET /v1/notifications with a client token: %d", rec.Code)
	}
	if rec := x.do("GET", "/v1/notifications", "", "x-token", x.a); rec.Code != 200 {
		t.Errorf("GET /v1/notifications with an API key: %d", rec.Code)
	}
}

// Bodies on the inbox's routes are bounded like every request's.
func TestInboxBodyLimits(t *testing.T) {
	x := newInboxAPI(t)
	alice := x.token(x.a, "alice")
	big := `{"name":"` + strings.Repeat("n", int(x.maxLen)) + `","userId":"u"}`
	wantError(t, "token body over the limit", x.do("POST", "/v1/tokens", big, "x-token", x.a), 413, pushgate.ETOOLARGE)
	wantError(t, "a stray body over the limit", x.do("POST", "/v1/inbox/read-all", big, "Authorization", "Bearer "+alice.Token), 413, pushgate.ETOOLARGE)
	wantError(t, "token name with invalid UTF-8", x.do("POST", "/v1/tokens", "{\"name\":\"\xff\",\"userId\":\"u\"}", "x-token", x.a), 400, pushgate.EINVALID, "name")
	wantError(t, "userId with a NUL", x.do("POST", "/v1/tokens", `{"name":"n","userId":"u\u0000"}`, "x-token", x.a), 400, pushgate.EINVALID, "userId")
	wantError(t, "a NUL in the query", x.do("GET", "/v1/tokens?userId=a%00", "", "x-token", x.a), 400, pushgate.EINVALID, "userId")
}

// A page on any origin may call the client-token routes with a token: the
// answers carry no credentials.
func TestInboxCORS(t *testing.T) {
	x := newInboxAPI(t)
	alice := x.token(x.a, "alice")
	id := pushgate.NewID()
	for _, p := range []string{"/v1/notifications", "/v1/inbox", "/v1/inbox/unseen-count", "/v1/inbox/read-all",
		"/v1/inbox/" + id, "/v1/inbox/" + id + "/delivered", "/v1/inbox/" + id + "/read"} {
		rec := x.do("OPTIONS", p, "", "Origin", "https://app.example", "Access-Control-Request-Method", "DELETE",
			"Access-Control-Request-Headers", "authorization, content-type")
		h := rec.Header()
		// The origin itself and credentials: a request with the app's
		// cookies (delegated authentication) is checked against the app's
		// allowedOrigins when it comes, as a preflight names no app.
		if rec.Code != 204 || h.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "X-Pushgate-App") ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "DELETE") || h.Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("preflight of %s: %d %v", p, rec.Code, h)
		}
	}
	for _, r := range []struct {
		what   string
		status int
		header []string
	}{
		{"with a token", 200, []string{"Authorization", "Bearer " + alice.Token}},
		{"without one", 401, nil},
	} {
		rec := x.do("GET", "/v1/inbox", "", append(r.header, "Origin", "https://app.example")...)
		if rec.Code != r.status || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("GET /v1/inbox %s from another origin: %d %v", r.what, rec.Code, rec.Header())
		}
	}
	if rec := x.do("GET", "/v1/tokens", "", "x-token", x.a, "Origin", "https://app.example"); rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("an API-key route allows other origins: %v", rec.Header())
	}
}
