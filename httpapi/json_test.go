package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
)

// countRows counts the rows of a table, to show that a refused request
// stored nothing.
func countRows(t *testing.T, db *sqlstore.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A NUL character (U+0000) cannot be stored by PostgreSQL (text or jsonb)
// though SQLite takes it, so every JSON body that holds one is refused at
// the door with a 400 naming the field, alike on both backends.
func TestNULIsRefusedAtTheDoor(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		c, _ := newCore(t, db)
		bucket, ctxID, ids := sentMessages(t, c, `{"type":"none"}`, 1)
		_, b := c.get("/v1/bucket/" + bucket)
		cred := b["credentials"].([]any)[0].(map[string]any)["id"].(string)
		messages := countRows(t, db, "messages")
		contexts := countRows(t, db, "contexts")
		keys := countRows(t, db, "api_keys")

		receiver := func(foreignID string) string {
			return fmt.Sprintf(`{"credentialId":%q,"foreignId":"%s","endpoint":"https://fcm.googleapis.com/fcm/send/x","p256dh":"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4","auth":"BTBZMqHH6r4Tts7J_aSIgg"}`, cred, foreignID)
		}
		cases := []struct {
			name, method, path, body string
			field                    string // the field the error must name
		}{
			{"foreignId of a receiver", "POST", "/v1/bucket/" + bucket + "/context/" + ctxID + "/send",
				`{"receivers":[` + receiver("ok") + `,` + receiver(`user\u00001`) + `]}`, "receivers[1].foreignId"},
			{"NUL after an escaped backslash", "POST", "/v1/bucket/" + bucket + "/context/" + ctxID + "/send",
				`{"receivers":[` + receiver(`a\\\u0000`) + `]}`, "receivers[0].foreignId"},
			{"an object key", "POST", "/v1/bucket/" + bucket + "/context/" + ctxID + "/send",
				`{"receivers":[{"credentialId":"x","a\u0000":1}]}`, "receivers[0]"},
			{"transactional send", "POST", "/v1/bucket/" + bucket + "/send",
				`{"receiver":` + receiver(`\u0000`) + `,"metadata":{"title":"Hi"}}`, "receiver.foreignId"},
			{"context title", "POST", "/v1/bucket/" + bucket + "/context/data", `{"title":"Sale\u0000","body":"x"}`, "title"},
			{"bucket callback header", "POST", "/v1/bucket", `{"providerCredentials":[{"type":"vapid","payload":` + vapidPayload(t) + `}],
				"callbackConfig":{"type":"http","payload":{"url":"https://hooks.example.com/","headers":{"x-secret":"a\u0000"}}}}`, `callbackConfig.payload.headers["x-secret"]`},
			{"API key name", "POST", "/v1/app/keys", `{"name":"ci\u0000"}`, "name"},
			{"client event action", "POST", "/v1/context/" + ctxID + "/events/clicked",
				fmt.Sprintf(`{"messageId":%q,"action":"buy\u0000"}`, ids[0]), "action"},
		}
		for _, tc := range cases {
			c.sc.badRequests = true
			rec := c.do(tc.method, tc.path, tc.body, "x-token", c.key)
			c.sc.badRequests = false
			if rec.Code != 400 {
				t.Errorf("%s: %d %s, want 400", tc.name, rec.Code, rec.Body)
				continue
			}
			e := decodeError(t, rec)
			if e.Code != pushgate.EINVALID || len(e.Errors) != 1 || !strings.HasPrefix(e.Errors[0], tc.field+": ") || !strings.Contains(e.Errors[0], "NUL") {
				t.Errorf("%s: %+v, want one error naming %s and the NUL character", tc.name, e, tc.field)
			}
		}
		if n := countRows(t, db, "messages"); n != messages {
			t.Errorf("refused sends stored %d messages", n-messages)
		}
		if n := countRows(t, db, "contexts"); n != contexts {
			t.Errorf("refused requests stored %d contexts", n-contexts)
		}
		if n := countRows(t, db, "api_keys"); n != keys {
			t.Errorf("refused requests stored %d API keys", n-keys)
		}

		// An escaped backslash followed by "u0000" is text, not a NUL.
		rec := c.do("POST", "/v1/app/keys", `{"name":"C:\\u0000"}`, "x-token", c.key)
		if rec.Code != 201 || !strings.Contains(rec.Body.String(), `"name":"C:\\u0000"`) {
			t.Errorf("a backslash and text: %d %s", rec.Code, rec.Body)
		}
	})
}

// Bytes that are not UTF-8 are refused at the door too: JSON requires
// UTF-8, and the raw vendor sections of a context reach PostgreSQL
// verbatim, which refuses them (SQLite does not).
func TestInvalidUTF8IsRefusedAtTheDoor(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		c, _ := newCore(t, db)
		bucket, _, _ := sentMessages(t, c, `{"type":"none"}`, 1)
		contexts := countRows(t, db, "contexts")
		for _, tc := range []struct{ name, path, body, field string }{
			{"raw ios section", "/v1/bucket/" + bucket + "/context/raw",
				"{\"ios\":{\"aps\":{\"alert\":{\"title\":\"Sale \xff\xfe\"}}}}", "ios.aps.alert.title"},
			{"raw android data key", "/v1/bucket/" + bucket + "/context/raw",
				"{\"android\":{\"data\":{\"k\xc3\":\"v\"}}}", "android.data"},
			{"data context body", "/v1/bucket/" + bucket + "/context/data", "{\"title\":\"Hi\",\"body\":\"\xe2\x82\"}", "body"},
		} {
			c.sc.badRequests = true
			rec := c.do("POST", tc.path, tc.body, "x-token", c.key)
			c.sc.badRequests = false
			e := decodeError(t, rec)
			if rec.Code != 400 || e.Code != pushgate.EINVALID || len(e.Errors) != 1 || !strings.HasPrefix(e.Errors[0], tc.field+": ") || !strings.Contains(e.Errors[0], "UTF-8") {
				t.Errorf("%s: %d %+v, want 400 naming %s and UTF-8", tc.name, rec.Code, e, tc.field)
			}
		}
		if n := countRows(t, db, "contexts"); n != contexts {
			t.Errorf("refused requests stored %d contexts", n-contexts)
		}
	})
}

// A NUL in the path or the query is refused before any handler sees it, so
// routes whose path holds free text (user ids, channel names) are covered.
func TestNULInPathOrQueryIsRefused(t *testing.T) {
	h, _ := newTestAPI(t)
	h.HandleForTest("GET", "/test/users/:user", func(c *gin.Context) { c.String(200, c.Param("user")+c.Query("q")) })
	for _, target := range []string{"/test/users/a%00b", "/test/users/a?q=%00", "/test/users/a?x%00=1"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		if rec.Code != 400 {
			t.Errorf("GET %s = %d %q, want 400", target, rec.Code, rec.Body)
			continue
		}
		if e := decodeError(t, rec); e.Code != pushgate.EINVALID || !strings.Contains(strings.Join(e.Errors, " "), "NUL") {
			t.Errorf("GET %s: %+v", target, e)
		}
	}
	for _, target := range []string{"/test/users/a%2500b", "/test/users/a?q=%2500"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		if rec.Code != 200 {
			t.Errorf("GET %s (text, no NUL) = %d %q", target, rec.Code, rec.Body)
		}
	}
}

// A value of the wrong JSON type is named by its field and the JSON type
// it must have, as the contexts parser words it: never a Go type
// ("recipients.Receiver", "struct", "int64").
func TestTypeErrorsNameFieldAndJSONType(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	c, _ := newCore(t, db)
	bucket, ctxID, _ := sentMessages(t, c, `{"type":"none"}`, 1)
	send := "/v1/bucket/" + bucket + "/context/" + ctxID + "/send"
	goWords := []string{"Go ", "recipients.", "struct", "int64", "json:", "unmarshal", "RawMessage", "[]"}
	check := func(name string, got []string, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: errors %q, want %q", name, got, want)
			return
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: error %q, want %q", name, got[i], want[i])
			}
			for _, w := range goWords {
				if strings.Contains(got[i], w) {
					t.Errorf("%s: error %q speaks Go (%q)", name, got[i], w)
				}
			}
		}
	}

	// Per receiver: each result names the field within its receiver.
	c.sc.badRequests = true
	code, res := c.post(send, `{"receivers":["x",{"credentialId":5},{"credentialId":"c","foreignId":["a"]},7,{"credentialId":{}}]}`)
	c.sc.badRequests = false
	if code != 200 {
		t.Fatalf("send: %d %v", code, res)
	}
	results := res["results"].([]any)
	errsOf := func(i int) []string {
		var out []string
		for _, e := range results[i].(map[string]any)["errors"].([]any) {
			out = append(out, e.(string))
		}
		return out
	}
	check("receiver that is a string", errsOf(0), "receiver: expected object, got string")
	check("credentialId that is a number", errsOf(1), "credentialId: expected string, got number")
	check("foreignId that is an array", errsOf(2), "foreignId: expected string, got array")
	check("receiver that is a number", errsOf(3), "receiver: expected object, got number")
	check("credentialId that is an object", errsOf(4), "credentialId: expected string, got object")

	c.sc.badRequests = true
	defer func() { c.sc.badRequests = false }()
	for _, tc := range []struct {
		name, path, body, want string
	}{
		{"receivers that is a string", send, `{"receivers":"x"}`, "receivers: expected array, got string"},
		{"a body that is an array", "/v1/app/keys", `[1]`, "body: expected object, got array"},
		{"a key name that is true", "/v1/app/keys", `{"name":true}`, "name: expected string, got boolean"},
		{"a message id that is a number", "/v1/context/" + ctxID + "/events/clicked", `{"messageId":1.5}`, "messageId: expected string, got number"},
		{"transactional receiver that is a string", "/v1/bucket/" + bucket + "/send", `{"receiver":"x","metadata":{"title":"Hi"}}`, ""},
	} {
		rec := c.do("POST", tc.path, tc.body, "x-token", c.key)
		if tc.want == "" { // answered per receiver
			var one struct{ Errors []string }
			if err := json.Unmarshal(rec.Body.Bytes(), &one); err != nil {
				t.Fatalf("%s: %d %s", tc.name, rec.Code, rec.Body)
			}
			check(tc.name, one.Errors, "receiver: expected object, got string")
			continue
		}
		if rec.Code != 400 {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body)
			continue
		}
		check(tc.name, decodeError(t, rec).Errors, tc.want)
	}
}
