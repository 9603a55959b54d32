package httpapi_test

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/providers/apns"
	"github.com/pushgate/pushgate/providers/fcm"
	"github.com/pushgate/pushgate/providers/webpush"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

// coreOptions wires the CORE API to real services: stores, the bucket
// service, the providers' context checks and a sender on a queue nobody
// works (these tests look at answers, not deliveries).
func coreOptions(t testing.TB, db *sqlstore.DB, kr *pushgate.Keyring) httpapi.CoreOptions {
	registry := providers.NewRegistry()
	apns.Register(registry, apns.Options{})
	fcm.Register(registry, fcm.Options{})
	webpush.Register(registry, webpush.Options{})
	opt, err := asynq.ParseRedisURI(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := delivery.NewQueue(delivery.QueueOptions{Redis: opt, Namespace: testenv.Namespace(t)})
	t.Cleanup(func() { q.Close() })
	return httpapi.CoreOptions{
		Buckets:  buckets.NewService(db.Buckets(), kr, buckets.ServiceOptions{Supported: registry.Has}),
		Contexts: db.Buckets(),
		Checker:  registry,
		Sender:   delivery.NewSender(db.Messages(), q, delivery.Options{}),
		Messages: db.Messages(),
		Webhooks: newDispatcher(t, db),
		Images:   newTestImages(t),
	}
}

// newDispatcher serves batch listings and redelivery; it is never started,
// so batches stay as a test leaves them.
func newDispatcher(t testing.TB, db *sqlstore.DB) *webhooks.Dispatcher {
	d, err := webhooks.NewDispatcher(db.Webhooks(), webhooks.TargetsFunc(func(context.Context, string, string) (*webhooks.Target, error) {
		return nil, pushgate.NotFound("callback")
	}), http.DefaultClient, webhooks.DispatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// vapidPayload returns a valid vapid credential payload.
func vapidPayload(t testing.TB) string {
	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	return fmt.Sprintf(`{"publicKey":%q,"privateKey":%q,"subject":"mailto:ops@example.com"}`,
		base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), base64.RawURLEncoding.EncodeToString(k.Bytes()))
}

func apnsTokenPayload(t *testing.T) string {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	p8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return fmt.Sprintf(`{"key":%q,"keyId":"ABCDE12345","teamId":"TEAM123456","appBundleId":"com.example.app","production":"false"}`, p8)
}

type coreClient struct {
	*client
	key string
}

func (c *coreClient) post(path, body string) (int, map[string]any) {
	c.t.Helper()
	rec := c.do("POST", path, body, "x-token", c.key)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func (c *coreClient) get(path string) (int, map[string]any) {
	c.t.Helper()
	rec := c.do("GET", path, "", "x-token", c.key)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func newCore(t *testing.T, db *sqlstore.DB) (*coreClient, *coreClient) {
	h, svc := newTestAPIOn(t, db, httpapi.Options{})
	a, _ := svc.Create(context.Background(), "a")
	b, _ := svc.Create(context.Background(), "b")
	c := newClient(t, h)
	return &coreClient{c, a.APIKey}, &coreClient{c, b.APIKey}
}

func TestCoreBucketsContextsAndSends(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		c, other := newCore(t, db)
		code, b := c.post("/v1/bucket", `{"providerCredentials":[{"type":"vapid","payload":`+vapidPayload(t)+`},{"type":"apns_token","payload":`+apnsTokenPayload(t)+`}],
			"callbackConfig":{"type":"http","payload":{"url":"https://hooks.example.com/ppg","headers":{"x-secret":"keyboard cat"}}}}`)
		if code != 200 {
			t.Fatalf("create bucket: %d %v", code, b)
		}
		bucket := b["bucketId"].(string)
		creds := b["credentials"].([]any)
		if len(creds) != 2 || creds[0].(map[string]any)["type"] != "vapid" || creds[1].(map[string]any)["type"] != "apns_token" {
			t.Fatalf("credentials out of order: %v", creds)
		}
		if !strings.HasPrefix(b["webhookSecret"].(string), "whsec_") {
			t.Fatalf("webhookSecret %v", b["webhookSecret"])
		}
		webCred, iosCred := creds[0].(map[string]any)["id"].(string), creds[1].(map[string]any)["id"].(string)

		code, got := c.get("/v1/bucket/" + bucket)
		raw, _ := json.Marshal(got)
		if code != 200 || strings.Contains(string(raw), "keyboard cat") || strings.Contains(string(raw), "privateKey") || strings.Contains(string(raw), "PRIVATE KEY") {
			t.Fatalf("GET bucket leaks or fails: %d %s", code, raw)
		}
		if code, _ := other.get("/v1/bucket/" + bucket); code != 404 {
			t.Fatalf("another app sees the bucket: %d", code)
		}

		code, ctx := c.post("/v1/bucket/"+bucket+"/context/data", `{"title":"Sale","body":"50% off","behaviour":"https://shop.example/sale","ttl":3600,
			"actions":[{"action":"buy","title":"Buy","behaviour":"https://shop.example/cart"}]}`)
		if code != 200 {
			t.Fatalf("create context: %d %v", code, ctx)
		}
		contextID := ctx["contextId"].(string)
		if code, got := c.get("/v1/bucket/" + bucket + "/context/" + contextID); code != 200 || got["kind"] != "data" || got["expiresAt"] == nil {
			t.Fatalf("GET context: %d %v", code, got)
		}
		if code, _ := other.post("/v1/bucket/"+bucket+"/context/"+contextID+"/send", `{"receivers":[]}`); code != 404 {
			t.Fatalf("another app sends through the bucket: %d", code)
		}

		sub, _ := ecdh.P256().GenerateKey(rand.Reader)
		p256dh := base64.RawURLEncoding.EncodeToString(sub.PublicKey().Bytes())
		auth := base64.RawURLEncoding.EncodeToString(make([]byte, 16))
		receivers := fmt.Sprintf(`[
			{"credentialId":%q,"foreignId":"web-1","endpoint":"https://fcm.googleapis.com/fcm/send/abc","p256dh":%q,"auth":%q},
			{"credentialId":%q,"foreignId":"ios-1","token":"%s"},
			{"credentialId":%q,"foreignId":"bad-1","token":"not-hex"},
			{"credentialId":"nope","foreignId":"bad-2","token":"x"},
			{"credentialId":%q,"foreignId":5}
		]`, webCred, p256dh, auth, iosCred, strings.Repeat("ab", 32), iosCred, iosCred)
		c.sc.badRequests = true // receiver 4 has a number for a foreignId, on purpose
		code, res := c.post("/v1/bucket/"+bucket+"/context/"+contextID+"/send", `{"receivers":`+receivers+`}`)
		c.sc.badRequests = false
		if code != 200 {
			t.Fatalf("send: %d %v", code, res)
		}
		results := res["results"].([]any)
		if len(results) != 5 {
			t.Fatalf("%d results for 5 receivers", len(results))
		}
		for i, r := range results {
			m := r.(map[string]any)
			ok := m["messageId"] != nil
			if ok != (i < 2) {
				t.Errorf("receiver %d: %v", i, m)
			}
			if !ok && len(m["errors"].([]any)) == 0 {
				t.Errorf("receiver %d refused without a reason: %v", i, m)
			}
		}
		if errs := results[4].(map[string]any)["errors"].([]any); !strings.Contains(errs[0].(string), "foreignId") {
			t.Errorf("type error does not name the field: %v", errs)
		}
		msgID := results[0].(map[string]any)["messageId"].(string)
		if code, m := c.get("/v1/bucket/" + bucket + "/message/" + msgID); code != 200 || m["status"] != "queued" || m["foreignId"] != "web-1" || m["provider"] != "vapid" {
			t.Fatalf("message status: %d %v", code, m)
		}
		if code, _ := other.get("/v1/bucket/" + bucket + "/message/" + msgID); code != 404 {
			t.Fatalf("another app reads the message: %d", code)
		}

		// Transactional sends create their context inline.
		code, one := c.post("/v1/bucket/"+bucket+"/send", fmt.Sprintf(`{"receiver":{"credentialId":%q,"token":"%s"},"metadata":{"title":"Hi"}}`, iosCred, strings.Repeat("cd", 32)))
		if code != 200 || one["messageId"] == nil || len(one["errors"].([]any)) != 0 {
			t.Fatalf("send one: %d %v", code, one)
		}
		code, one = c.post("/v1/bucket/"+bucket+"/send/silent", fmt.Sprintf(`{"receiver":{"credentialId":%q,"token":"%s"}}`, iosCred, strings.Repeat("ef", 32)))
		if code != 200 || one["messageId"] == nil {
			t.Fatalf("send silent: %d %v", code, one)
		}
		code, one = c.post("/v1/bucket/"+bucket+"/send/raw", fmt.Sprintf(`{"receiver":{"credentialId":%q,"token":"zz"},"metadata":{"common":{"title":"x"}}}`, iosCred))
		if code != 200 || one["messageId"] != nil || len(one["errors"].([]any)) == 0 {
			t.Fatalf("send raw to a bad token: %d %v", code, one)
		}

		// Deleting the bucket takes everything with it.
		if rec := c.do("DELETE", "/v1/bucket/"+bucket, "", "x-token", c.key); rec.Code != 204 {
			t.Fatalf("delete: %d", rec.Code)
		}
		if code, _ := c.get("/v1/bucket/" + bucket + "/message/" + msgID); code != 404 {
			t.Fatalf("message outlived its bucket: %d", code)
		}
	})
}

func TestCoreRefusals(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	c, _ := newCore(t, db)
	cases := []struct {
		name, path, body string
		status           int
		want             string
	}{
		{"no credentials", "/v1/bucket", `{"providerCredentials":[],"callbackConfig":{"type":"none"}}`, 400, "providerCredentials"},
		{"bad vapid pair", "/v1/bucket", `{"providerCredentials":[{"type":"vapid","payload":{"publicKey":"BAAA","privateKey":"AAAA","subject":"mailto:a@b.c"}}],"callbackConfig":{"type":"none"}}`, 400, "providerCredentials[0]"},
		{"bad callback", "/v1/bucket", `{"providerCredentials":[{"type":"vapid","payload":` + vapidPayload(t) + `}],"callbackConfig":{"type":"http","payload":{"url":"ftp://x"}}}`, 400, "callbackConfig"},
		{"not json", "/v1/bucket", `{`, 400, ""},
		{"unknown bucket", "/v1/bucket/" + pushgate.NewID() + "/context/data", `{"title":"x"}`, 404, "bucket"},
	}
	for _, tc := range cases {
		rec := c.do("POST", tc.path, tc.body, "x-token", c.key)
		e := decodeError(t, rec)
		if rec.Code != tc.status || !strings.Contains(strings.Join(e.Errors, " ")+e.Message, tc.want) {
			t.Errorf("%s: %d %+v", tc.name, rec.Code, e)
		}
	}

	_, b := c.post("/v1/bucket", `{"providerCredentials":[{"type":"vapid","payload":`+vapidPayload(t)+`}],"callbackConfig":{"type":"none"}}`)
	bucket := b["bucketId"].(string)
	for name, tc := range map[string]struct {
		path, body string
		status     int
		want       string
	}{
		"context without title or body": {"/context/data", `{"icon":"https://x.example/i.png"}`, 400, "title"},
		"context too big for web push":  {"/context/data", `{"title":"x","body":"` + strings.Repeat("é", 3900) + `"}`, 400, ""},
		"unknown context":               {"/context/" + pushgate.NewID() + "/send", `{"receivers":[{"credentialId":"x"}]}`, 404, "context"},
		"no receivers":                  {"/context/" + pushgate.NewID() + "/send", `{"receivers":[]}`, 400, "receivers"},
		"1001 receivers":                {"/context/" + pushgate.NewID() + "/send", `{"receivers":[` + strings.Repeat(`{"credentialId":"x"},`, 1000) + `{"credentialId":"x"}]}`, 413, "1000"},
		"send without receiver":         {"/send", `{"metadata":{"title":"x"}}`, 400, "receiver"},
	} {
		rec := c.do("POST", "/v1/bucket/"+bucket+tc.path, tc.body, "x-token", c.key)
		e := decodeError(t, rec)
		if rec.Code != tc.status || !strings.Contains(strings.Join(e.Errors, " ")+e.Message, tc.want) {
			t.Errorf("%s: %d %+v", name, rec.Code, e)
		}
	}
}

// A callback URL's user-info, query and fragment often carry secrets: a
// bucket's answers show where callbacks go, never those.
func TestBucketCallbackURLIsRedacted(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	c, _ := newCore(t, db)
	code, b := c.post("/v1/bucket", `{"providerCredentials":[{"type":"vapid","payload":`+vapidPayload(t)+`}],
		"callbackConfig":{"type":"http","payload":{"url":"https://hookuser:pa55word@hooks.example.com/ppg/in?token=s3cr3t&tenant=acme#frag-secret"}}}`)
	if code != 200 {
		t.Fatalf("create bucket: %d %v", code, b)
	}
	code, got := c.get("/v1/bucket/" + b["bucketId"].(string))
	if code != 200 {
		t.Fatalf("GET bucket: %d %v", code, got)
	}
	u, _ := got["callbackConfig"].(map[string]any)["url"].(string)
	for _, secret := range []string{"hookuser", "pa55word", "s3cr3t", "acme", "frag-secret"} {
		if strings.Contains(u, secret) {
			t.Errorf("callback url %q shows %q", u, secret)
		}
	}
	if !strings.HasPrefix(u, "https://") || !strings.Contains(u, "hooks.example.com/ppg/in") || !strings.Contains(u, "token=") {
		t.Errorf("callback url %q no longer says where callbacks go", u)
	}
}

// One request's work is bounded: a .p12 asking for more key derivations
// than any exporter does, and more credentials than a bucket may hold, are
// refused naming the field; and each app may create only so many buckets a
// second, however many keys it mints.
func TestBucketCreationIsBounded(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	h, svc := newTestAPIOn(t, db, httpapi.Options{Core: httpapi.CoreOptions{BucketCreateRate: 0.1}})
	c := newClient(t, h)
	// Each check below gets an app of its own, since the limit is the app's.
	newApp := func() (appID, key string) {
		creds, err := svc.Create(context.Background(), "a")
		if err != nil {
			t.Fatal(err)
		}
		return creds.AppID, creds.APIKey
	}
	keyOf := func(appID string) string {
		_, plain, err := svc.CreateKey(context.Background(), appID, "k", "")
		if err != nil {
			t.Fatal(err)
		}
		return plain
	}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "c"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	certDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	cert, _ := x509.ParseCertificate(certDER)
	p12, err := pkcs12.Modern.WithIterations(20_000).Encode(key, cert, nil, "pw")
	if err != nil {
		t.Fatal(err)
	}
	_, p12Key := newApp()
	rec := c.do("POST", "/v1/bucket", fmt.Sprintf(`{"providerCredentials":[{"type":"apns_cert","payload":{"p12":%q,"passphrase":"pw","appBundleId":"com.example.app"}}],"callbackConfig":{"type":"none"}}`,
		base64.StdEncoding.EncodeToString(p12)), "x-token", p12Key)
	if e := decodeError(t, rec); rec.Code != 400 || len(e.Errors) != 1 || !strings.HasPrefix(e.Errors[0], "providerCredentials[0].payload.p12: asks for 20000 key-derivation iterations") {
		t.Fatalf("p12 over the iteration cap: %d %+v", rec.Code, e)
	}

	_, manyKey := newApp()
	many := strings.TrimSuffix(strings.Repeat(`{"type":"websocket"},`, buckets.MaxCredentials+1), ",")
	rec = c.do("POST", "/v1/bucket", `{"providerCredentials":[`+many+`],"callbackConfig":{"type":"none"}}`, "x-token", manyKey)
	if e := decodeError(t, rec); rec.Code != 400 || len(e.Errors) != 1 || !strings.HasPrefix(e.Errors[0], fmt.Sprintf("providerCredentials: at most %d credentials", buckets.MaxCredentials)) {
		t.Fatalf("%d credentials: %d %+v", buckets.MaxCredentials+1, rec.Code, e)
	}

	// 0.1 a second lets one through, then none for ten seconds.
	app, _ := newApp()
	limited := keyOf(app)
	bucket := `{"providerCredentials":[{"type":"vapid","payload":` + vapidPayload(t) + `}],"callbackConfig":{"type":"none"}}`
	if rec := c.do("POST", "/v1/bucket", bucket, "x-token", limited); rec.Code != 200 {
		t.Fatalf("first bucket: %d %s", rec.Code, rec.Body)
	}
	rec = c.do("POST", "/v1/bucket", bucket, "x-token", limited)
	if e := decodeError(t, rec); rec.Code != 429 || e.Code != pushgate.ERATELIMITED || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("second bucket at once: %d %+v, Retry-After %q; want 429 with Retry-After", rec.Code, e, rec.Header().Get("Retry-After"))
	}
	if ra, _ := strconv.Atoi(rec.Header().Get("Retry-After")); ra < 1 || ra > 10 {
		t.Errorf("Retry-After %q, want 1 to 10 seconds", rec.Header().Get("Retry-After"))
	}
	// The limit is the app's: a fresh key of the same app (an admin key
	// can mint any number) is held back as well, another app is not, and
	// the limited key still does everything else.
	rec = c.do("POST", "/v1/bucket", bucket, "x-token", keyOf(app))
	if e := decodeError(t, rec); rec.Code != 429 || e.Code != pushgate.ERATELIMITED {
		t.Fatalf("another key of the limited app: %d %+v; want 429", rec.Code, e)
	}
	_, other := newApp()
	if rec := c.do("POST", "/v1/bucket", bucket, "x-token", other); rec.Code != 200 {
		t.Fatalf("another app: %d %s", rec.Code, rec.Body)
	}
	if rec := c.do("GET", "/v1/app", "", "x-token", limited); rec.Code != 200 {
		t.Fatalf("limited key on another route: %d", rec.Code)
	}
}

// A transactional send stores its context only with its message: a
// receiver that is refused (or does not decode) answers its errors and
// leaves nothing behind.
func TestTransactionalSendWithRefusedReceiverStoresNothing(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		c, _ := newCore(t, db)
		code, b := c.post("/v1/bucket", `{"providerCredentials":[{"type":"apns_token","payload":`+apnsTokenPayload(t)+`}],"callbackConfig":{"type":"none"}}`)
		if code != 200 {
			t.Fatalf("create bucket: %d %v", code, b)
		}
		bucket := b["bucketId"].(string)
		cred := b["credentials"].([]any)[0].(map[string]any)["id"].(string)
		stored := func() (contexts, msgs int) {
			t.Helper()
			// Both dialects keep accepted chunks in the outbox.
			q := `SELECT (SELECT count(*) FROM contexts), (SELECT count(*) FROM messages) + (SELECT coalesce(sum(size), 0) FROM outbox)`
			if err := db.QueryRowContext(context.Background(), q).Scan(&contexts, &msgs); err != nil {
				t.Fatal(err)
			}
			return contexts, msgs
		}
		for _, path := range []string{"/send", "/send/silent", "/send/raw"} {
			for name, receiver := range map[string]string{
				"bad token":          fmt.Sprintf(`{"credentialId":%q,"token":"zz"}`, cred),
				"unknown credential": fmt.Sprintf(`{"credentialId":%q,"token":"%s"}`, pushgate.NewID(), strings.Repeat("cd", 32)),
				"wrong shape":        `{"credentialId":5}`,
			} {
				metadata := `{"title":"Hi"}`
				if path == "/send/raw" {
					metadata = `{"common":{"title":"x"}}`
				}
				c.sc.badRequests = name == "wrong shape" // on purpose
				code, one := c.post("/v1/bucket/"+bucket+path, `{"receiver":`+receiver+`,"metadata":`+metadata+`}`)
				c.sc.badRequests = false
				if code != 200 || one["messageId"] != nil || len(one["errors"].([]any)) == 0 {
					t.Fatalf("%s, %s: %d %v", path, name, code, one)
				}
				if ctxs, msgs := stored(); ctxs != 0 || msgs != 0 {
					t.Fatalf("%s, %s: %d contexts and %d messages stored for a refused receiver", path, name, ctxs, msgs)
				}
			}
		}
		code, one := c.post("/v1/bucket/"+bucket+"/send", fmt.Sprintf(`{"receiver":{"credentialId":%q,"token":"%s"},"metadata":{"title":"Hi"}}`, cred, strings.Repeat("cd", 32)))
		if code != 200 || one["messageId"] == nil {
			t.Fatalf("send one: %d %v", code, one)
		}
		if ctxs, msgs := stored(); ctxs != 1 || msgs != 1 {
			t.Fatalf("an accepted transactional send stored %d contexts and %d messages, want 1 and 1", ctxs, msgs)
		}
	})
}
