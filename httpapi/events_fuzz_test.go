package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/internal/fuzzcheck"
	"github.com/pushgate/pushgate/internal/testenv"
)

var eventKinds = []string{"delivered", "clicked", "closed"}

// FuzzClientEvent sends what a service worker (or anyone: the routes take
// no key) may send to CORE's client event routes, through the whole
// handler and a real store (PostgreSQL when PUSHGATE_TEST_DATABASE_URL is
// set, which refuses more than SQLite does). No answer is a 5xx; every
// refusal is in the one error shape, naming fields in words a client
// reads; an event is accepted only for a message of the context it names.
// In the path and the body, $CTX and $MSG stand for a context and one of
// its messages, $OTHER and $MSG2 for another context's. Seeds:
// testdata/fuzz/FuzzClientEvent (CORE's documented bodies) and below.
func FuzzClientEvent(f *testing.F) {
	dbURL, ok := testenv.PostgresURL(f)
	if !ok {
		dbURL = testenv.SQLiteURL(f)
	}
	h, svc := newTestAPIOn(f, testenv.OpenDB(f, dbURL), httpapi.Options{})
	app, err := svc.Create(context.Background(), "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	ctx1, msg1 := fuzzSend(f, h, app.APIKey)
	ctx2, msg2 := fuzzSend(f, h, app.APIKey)
	expand := strings.NewReplacer("$CTX", ctx1, "$MSG2", msg2, "$MSG", msg1, "$OTHER", ctx2)

	for _, s := range [][2]string{
		{"$CTX", `{"messageId":"$MSG","foreignId":"subscriber-123","action":"buy"}`},
		{"$CTX", `{"messageId":"$MSG"}`},
		{"$OTHER", `{"messageId":"$MSG2","action":"` + strings.Repeat("a", 256) + `"}`},
		{"$OTHER", `{"messageId":"$MSG"}`},
		{"$CTX", `{"messageId":"$MSG","action":"a\u0000b","foreignId":"f\u0000"}`},
		{"$CTX", `{"messageId":"$MSG","action":"` + strings.Repeat("a", 257) + `"}`},
		{"$CTX", `{"messageId":"$MSG","foreignId":"` + strings.Repeat("f", 1025) + `"}`},
		{"$CTX", `{"messageId":"$MSG","x":"` + strings.Repeat("x", 9000) + `"}`},
		{"$CTX", `{"messageId":"$MSG\u0000"}`},
		{"$CTX", `{"messageId":5,"action":[]}`},
		{"$CTX", `{"messageId":null}`},
		{"$CTX", `{"messageId":"$MSG"} {}`},
		{"$CTX", `messageId=$MSG`},
		{"$CTX", ``},
		{"ctx\x00", `{"messageId":"$MSG"}`},
		{"../../v1/app", `{"messageId":"$MSG"}`},
		{"", `{}`},
	} {
		for k := range eventKinds {
			f.Add(uint8(k), s[0], []byte(s[1]))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, contextID string, body []byte) {
		contextID = expand.Replace(contextID)
		body = []byte(expand.Replace(string(body)))
		path := "/v1/context/" + url.PathEscape(contextID) + "/events/" + eventKinds[int(kind)%len(eventKinds)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "https://shop.example.com")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", path, body, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusCreated {
			var in struct{ MessageID string }
			_ = json.Unmarshal(body, &in)
			if !(contextID == ctx1 && in.MessageID == msg1 || contextID == ctx2 && in.MessageID == msg2) {
				t.Fatalf("%s %q accepted: it names no message of that context", path, body)
			}
			if rec.Body.Len() != 0 || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("accepted with %q, CORS %q", rec.Body, rec.Header().Get("Access-Control-Allow-Origin"))
			}
			return
		}
		if s := errorShape(rec); s != "" {
			t.Fatalf("%s %q: %s", path, body, s)
		}
		// A context id with a slash (or a dot segment) makes another path,
		// which is no client event route and owes no CORS.
		route := contextID != "" && contextID != "." && contextID != ".." && !strings.Contains(contextID, "/")
		if route && rec.Code != http.StatusNotFound && rec.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%s %q: %d without CORS: a browser would not see why", path, body, rec.Code)
		}
	})
}

// errorShape returns what is wrong with an error answer, or "": it must be
// exactly {"message","errors","code"}, with a code that goes with its
// status and problems a client can read.
func errorShape(rec *httptest.ResponseRecorder) string {
	statusOf := map[string]int{
		pushgate.EINVALID: 400, pushgate.EUNAUTHORIZED: 401, pushgate.EFORBIDDEN: 403, pushgate.ENOTFOUND: 404,
		"method_not_allowed": 405, pushgate.ECONFLICT: 409, pushgate.ETOOLARGE: 413, pushgate.EUNPROCESSABLE: 422,
		pushgate.ERATELIMITED: 429, pushgate.EUNAVAILABLE: 503,
	}
	var e map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || len(e) != 3 {
		return fmt.Sprintf("answer %d %q is not in the error shape", rec.Code, rec.Body)
	}
	var body httpapi.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Message == "" || body.Errors == nil || statusOf[body.Code] != rec.Code {
		return fmt.Sprintf("answer %d %q is not in the error shape", rec.Code, rec.Body)
	}
	if s := fuzzcheck.GoSpelling(body.Message); s != "" {
		return fmt.Sprintf("message %q shows Go's %q", body.Message, s)
	}
	for _, p := range body.Errors {
		if s := fuzzcheck.Problem(p); s != "" {
			return s
		}
	}
	return ""
}

// fuzzSend makes a bucket with a Web Push credential and an http callback,
// a data context, and one message of it; it returns their ids.
func fuzzSend(tb testing.TB, h http.Handler, key string) (contextID, messageID string) {
	tb.Helper()
	post := func(path, body string) map[string]any {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-token", key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != 200 {
			tb.Fatalf("POST %s: %d %s", path, rec.Code, rec.Body)
		}
		return out
	}
	vapid, _ := ecdh.P256().GenerateKey(rand.Reader)
	sub, _ := ecdh.P256().GenerateKey(rand.Reader)
	enc := base64.RawURLEncoding.EncodeToString
	b := post("/v1/bucket", fmt.Sprintf(`{"providerCredentials":[{"type":"vapid","payload":{"publicKey":%q,"privateKey":%q,"subject":"mailto:ops@example.com"}}],
		"callbackConfig":{"type":"http","payload":{"url":"https://hooks.example.com/ppg"}}}`, enc(vapid.PublicKey().Bytes()), enc(vapid.Bytes())))
	bucket := b["bucketId"].(string)
	cred := b["credentials"].([]any)[0].(map[string]any)["id"].(string)
	contextID = post("/v1/bucket/"+bucket+"/context/data", `{"title":"Hi","body":"there","behaviour":"https://shop.example.com/"}`)["contextId"].(string)
	res := post("/v1/bucket/"+bucket+"/context/"+contextID+"/send", fmt.Sprintf(`{"receivers":[{"credentialId":%q,"foreignId":"subscriber-123","endpoint":"https://fcm.googleapis.com/fcm/send/x","p256dh":%q,"auth":%q}]}`,
		cred, enc(sub.PublicKey().Bytes()), enc(make([]byte, 16))))
	return contextID, res["results"].([]any)[0].(map[string]any)["messageId"].(string)
}
