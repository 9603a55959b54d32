package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/internal/fuzzcheck"
	"github.com/pushgate/pushgate/internal/testenv"
)

// The send routes: to a stored context, and CORE's transactional sends
// with the receiver and the context inline.
var sendRoutes = []string{"/context/$CTX/send", "/send", "/send/silent", "/send/raw"}

// FuzzSend sends bodies to CORE's send routes of a bucket holding a Web
// Push, an APNS and an FCM credential, through the whole handler and a
// real store (PostgreSQL when PUSHGATE_TEST_DATABASE_URL is set). No
// answer is a 5xx; a refusal is in the one error shape; each receiver's
// result has a message id or its own problems, naming its fields in words
// a client reads. $VAPID, $APNS and $FCM stand for the credentials' ids,
// $CTX for a data context of the bucket. Seeds:
// testdata/fuzz/FuzzSend (CORE's documented bodies) and below.
func FuzzSend(f *testing.F) {
	dbURL, ok := testenv.PostgresURL(f)
	if !ok {
		dbURL = testenv.SQLiteURL(f)
	}
	h, svc := newTestAPIOn(f, testenv.OpenDB(f, dbURL), httpapi.Options{})
	app, err := svc.Create(context.Background(), "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	post := func(path, body string) (int, []byte) {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-token", app.APIKey)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.Bytes()
	}
	code, out := post("/v1/bucket", sendFuzzBucket(f))
	var b struct {
		BucketID    string
		Credentials []struct{ ID, Type string }
	}
	if err := json.Unmarshal(out, &b); err != nil || code != 200 || len(b.Credentials) != 3 {
		f.Fatalf("create bucket: %d %s", code, out)
	}
	code, out = post("/v1/bucket/"+b.BucketID+"/context/data", `{"title":"Order shipped","body":"On its way","behaviour":"https://shop.example.com/orders/1"}`)
	var c struct{ ContextID string }
	if err := json.Unmarshal(out, &c); err != nil || code != 200 {
		f.Fatalf("create context: %d %s", code, out)
	}
	expand := strings.NewReplacer("$VAPID", b.Credentials[0].ID, "$APNS", b.Credentials[1].ID, "$FCM", b.Credentials[2].ID, "$CTX", c.ContextID)

	web := `{"credentialId":"$VAPID","foreignId":"subscriber-123","endpoint":"https://fcm.googleapis.com/fcm/send/eHtJ3mS0n8E:APA91bGk","p256dh":"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4","auth":"BTBZMqHH6r4Tts7J_aSIgg"}`
	ios := `{"credentialId":"$APNS","foreignId":"ios-7","token":"740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad"}`
	android := `{"credentialId":"$FCM","token":"cV2rFq0hRZ6g3nVb8wJdJx:APA91bEDu3P2yHk0c7vZbDq1lZk6sG9QfR1oQnq0bq0Y5lC1wq3xC6bN4zW5xV7yU8iT9oP0aS1dF2gH3jK4l"}`
	for _, s := range []struct {
		route uint8
		body  string
	}{
		{0, `{"receivers":[` + web + `,` + ios + `,` + android + `]}`},
		{0, `{"receivers":[` + web + `,` + web + `,{"credentialId":"$APNS","token":"xyz"},{"credentialId":"$VAPID","token":"t"},5,{"credentialId":7}]}`},
		{0, `{"receivers":[{"credentialId":"$FCM","foreignId":"a\u0000b","token":"t"},{"credentialId":"nope"}]}`},
		{0, `{"receivers":[]}`}, {0, `{"receivers":{}}`}, {0, `{}`}, {0, `[]`}, {0, ``},
		{1, `{"receiver":` + web + `,"metadata":{"title":"Hi","body":"there","icon":"https://shop.example.com/i.png"}}`},
		{1, `{"receiver":` + ios + `,"metadata":{"title":5}}`},
		{1, `{"receiver":{"credentialId":"$APNS"},"metadata":{"title":"Hi"}}`},
		{1, `{"receiver":[` + ios + `],"metadata":{"title":"Hi"}}`},
		{2, `{"receiver":` + android + `}`},
		{2, `{"receiver":` + android + `,"metadata":{"externalData":"{\"sync\":true}","ttl":60}}`},
		{3, `{"receiver":` + android + `,"metadata":{"common":{"title":"Hi","body":"raw"},"android":{"priority":"high"}}}`},
		{3, `{"receiver":null,"metadata":null}`},
	} {
		f.Add(s.route, []byte(s.body))
	}
	fields := []string{"receiver", "receivers", "credentialId", "foreignId", "token", "endpoint", "p256dh", "auth"}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := "/v1/bucket/" + b.BucketID + expand.Replace(sendRoutes[int(route)%len(sendRoutes)])
		body = []byte(expand.Replace(string(body)))
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-token", app.APIKey)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("%s %q: %d %s", path, body, rec.Code, rec.Body)
		case rec.Code != http.StatusOK:
			if s := errorShape(rec); s != "" {
				t.Fatalf("%s %q: %s", path, body, s)
			}
			return
		}
		type result struct {
			MessageID string   `json:"messageId"`
			Errors    []string `json:"errors"`
		}
		var results []result
		if strings.HasSuffix(path, "/context/"+c.ContextID+"/send") {
			var many struct{ Results []result }
			if err := json.Unmarshal(rec.Body.Bytes(), &many); err != nil || len(many.Results) == 0 {
				t.Fatalf("%s %q: answer %s", path, body, rec.Body)
			}
			results = many.Results
		} else {
			var one result
			if err := json.Unmarshal(rec.Body.Bytes(), &one); err != nil {
				t.Fatalf("%s %q: answer %s", path, body, rec.Body)
			}
			results = []result{one}
		}
		for i, r := range results {
			if (r.MessageID == "") == (len(r.Errors) == 0) || r.Errors == nil {
				t.Fatalf("%s %q: result %d is %+v: a message id or problems, never both or neither", path, body, i, r)
			}
			for _, p := range r.Errors {
				if s := fuzzcheck.Problem(p, fields...); s != "" {
					t.Fatalf("%s %q: result %d: %s", path, body, i, s)
				}
			}
		}
	})
}

// sendFuzzBucket is a create-bucket body with a vapid, an apns_token and an
// fcm_v1 credential, in that order.
func sendFuzzBucket(tb testing.TB) string {
	vapid, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p8, _ := x509.MarshalPKCS8PrivateKey(ec)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	sa, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "shop-app", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "fcm@shop-app.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token",
	})
	return fmt.Sprintf(`{"providerCredentials":[
		{"type":"vapid","payload":{"publicKey":%q,"privateKey":%q,"subject":"mailto:ops@example.com"}},
		{"type":"apns_token","payload":{"key":%q,"keyId":"ABCDE12345","teamId":"TEAM123456","appBundleId":"com.example.shop"}},
		{"type":"fcm_v1","payload":%s}],
		"callbackConfig":{"type":"http","payload":{"url":"https://hooks.example.com/ppg"}}}`,
		enc(vapid.PublicKey().Bytes()), enc(vapid.Bytes()), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), sa)
}
