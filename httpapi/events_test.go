package httpapi_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

// sentMessages makes a bucket (with an http callback, or none), a data
// context and n messages to Web Push subscribers, and returns their ids.
func sentMessages(t *testing.T, c *coreClient, callback string, n int) (bucket, contextID string, ids []string) {
	t.Helper()
	code, b := c.post("/v1/bucket", `{"providerCredentials":[{"type":"vapid","payload":`+vapidPayload(t)+`}],"callbackConfig":`+callback+`}`)
	if code != 200 {
		t.Fatalf("create bucket: %d %v", code, b)
	}
	bucket = b["bucketId"].(string)
	cred := b["credentials"].([]any)[0].(map[string]any)["id"].(string)
	code, ctx := c.post("/v1/bucket/"+bucket+"/context/data", `{"title":"Hi","body":"there","behaviour":"https://shop.example/"}`)
	if code != 200 {
		t.Fatalf("create context: %d %v", code, ctx)
	}
	contextID = ctx["contextId"].(string)
	var receivers []string
	for i := range n {
		sub, _ := ecdh.P256().GenerateKey(rand.Reader)
		receivers = append(receivers, fmt.Sprintf(`{"credentialId":%q,"foreignId":"user-%d","endpoint":"https://fcm.googleapis.com/fcm/send/%d","p256dh":%q,"auth":%q}`,
			cred, i, i, base64.RawURLEncoding.EncodeToString(sub.PublicKey().Bytes()), base64.RawURLEncoding.EncodeToString(make([]byte, 16))))
	}
	code, res := c.post("/v1/bucket/"+bucket+"/context/"+contextID+"/send", `{"receivers":[`+strings.Join(receivers, ",")+`]}`)
	if code != 200 {
		t.Fatalf("send: %d %v", code, res)
	}
	for _, r := range res["results"].([]any) {
		ids = append(ids, r.(map[string]any)["messageId"].(string))
	}
	return bucket, contextID, ids
}

func TestClientEvents(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		c, _ := newCore(t, db)
		bucket, ctxID, ids := sentMessages(t, c, `{"type":"http","payload":{"url":"https://hooks.example.com/ppg"}}`, 2)
		_, otherCtx, otherIDs := sentMessages(t, c, `{"type":"none"}`, 1)
		event := func(kind, contextID, body string, header ...string) *httptest.ResponseRecorder {
			t.Helper()
			return c.do("POST", "/v1/context/"+contextID+"/events/"+kind, body, append([]string{"Origin", "https://shop.example"}, header...)...)
		}

		// A service worker reports, from another origin and without a key.
		for _, kind := range []string{"delivered", "delivered", "clicked", "closed"} {
			rec := event(kind, ctxID, fmt.Sprintf(`{"messageId":%q,"foreignId":"user-0","action":"buy"}`, ids[0]))
			if rec.Code != 201 || rec.Body.Len() != 0 || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("%s: %d %q, CORS %q; want 201, an empty body and any origin allowed", kind, rec.Code, rec.Body, rec.Header().Get("Access-Control-Allow-Origin"))
			}
		}
		if rec := event("clicked", otherCtx, fmt.Sprintf(`{"messageId":%q}`, otherIDs[0])); rec.Code != 201 {
			t.Fatalf("clicked on a bucket without a callback: %d %s", rec.Code, rec.Body)
		}

		code, m := c.get("/v1/bucket/" + bucket + "/message/" + ids[0])
		if code != 200 || m["deliveredAt"] == nil || m["clickedAt"] == nil || m["closedAt"] == nil {
			t.Fatalf("message after delivered, clicked and closed: %d %v", code, m)
		}
		if _, m := c.get("/v1/bucket/" + bucket + "/message/" + ids[1]); m["deliveredAt"] != nil {
			t.Fatalf("an unreported message has deliveredAt: %v", m)
		}

		// Only the first report of each kind becomes a webhook event, and
		// only for the bucket that has a callback.
		pending, err := db.Webhooks().PendingBuckets(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != 1 || pending[0].BucketID != bucket || pending[0].Events != 3 {
			t.Fatalf("pending webhook events = %+v, want 3 (delivered, clicked, close) of bucket %s", pending, bucket)
		}

		for _, tc := range []struct {
			name, kind, ctx, body string
			status                int
			code                  string
		}{
			{"message of another context", "delivered", ctxID, fmt.Sprintf(`{"messageId":%q}`, otherIDs[0]), 404, pushgate.ENOTFOUND},
			{"context of another message", "delivered", otherCtx, fmt.Sprintf(`{"messageId":%q}`, ids[1]), 404, pushgate.ENOTFOUND},
			{"unknown message", "clicked", ctxID, fmt.Sprintf(`{"messageId":%q}`, pushgate.NewID()), 404, pushgate.ENOTFOUND},
			{"message id that is no id", "clicked", ctxID, `{"messageId":"1; DROP TABLE messages"}`, 404, pushgate.ENOTFOUND},
			{"context id that is no id", "closed", "ctx", fmt.Sprintf(`{"messageId":%q}`, ids[1]), 404, pushgate.ENOTFOUND},
			{"no message id", "delivered", ctxID, `{"foreignId":"user-1"}`, 400, pushgate.EINVALID},
			{"message id of the wrong type", "delivered", ctxID, `{"messageId":5}`, 400, pushgate.EINVALID},
			{"not JSON", "delivered", ctxID, `messageId=x`, 400, pushgate.EINVALID},
			{"action too long", "clicked", ctxID, fmt.Sprintf(`{"messageId":%q,"action":%q}`, ids[1], strings.Repeat("a", 257)), 400, pushgate.EINVALID},
			{"foreign id too long", "clicked", ctxID, fmt.Sprintf(`{"messageId":%q,"foreignId":%q}`, ids[1], strings.Repeat("f", 1025)), 400, pushgate.EINVALID},
			{"body too large", "delivered", ctxID, fmt.Sprintf(`{"messageId":%q,"x":%q}`, ids[1], strings.Repeat("x", 9000)), 413, pushgate.ETOOLARGE},
		} {
			c.sc.badRequests = tc.status == 400 || tc.status == 413
			rec := event(tc.kind, tc.ctx, tc.body)
			c.sc.badRequests = false
			if rec.Code != tc.status || decodeError(t, rec).Code != tc.code {
				t.Errorf("%s: %d %s, want %d %s", tc.name, rec.Code, rec.Body, tc.status, tc.code)
			}
		}
		if _, m := c.get("/v1/bucket/" + bucket + "/message/" + ids[1]); m["deliveredAt"] != nil || m["clickedAt"] != nil || m["closedAt"] != nil {
			t.Fatalf("refused reports changed the message: %v", m)
		}

		// The browser's preflight.
		rec := c.do("OPTIONS", "/v1/context/"+ctxID+"/events/clicked", "", "Origin", "https://shop.example",
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
		if rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(rec.Header().Get("Access-Control-Allow-Methods"), "POST") ||
			!strings.Contains(strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers")), "content-type") {
			t.Fatalf("preflight: %d %v", rec.Code, rec.Header())
		}
	})
}

func TestClientEventsAreRateLimitedPerAddress(t *testing.T) {
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	h, svc := newTestAPIOn(t, db, httpapi.Options{Events: httpapi.EventOptions{
		Recorder: webhooks.NewRecorder(db.Webhooks(), webhooks.RecorderOptions{}), RatePerIP: 1, Burst: 3}})
	a, _ := svc.Create(context.Background(), "a")
	c := &coreClient{newClient(t, h), a.APIKey}
	_, ctxID, ids := sentMessages(t, c, `{"type":"none"}`, 1)
	post := func(remote string, header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/v1/context/"+ctxID+"/events/delivered", strings.NewReader(fmt.Sprintf(`{"messageId":%q}`, ids[0])))
		req.RemoteAddr = remote
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i := range 3 {
		if rec := post("198.51.100.7:4000"); rec.Code != 201 {
			t.Fatalf("request %d within the burst: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	// X-Forwarded-For is not trusted without trusted proxies: it cannot
	// buy a client a fresh bucket.
	rec := post("198.51.100.7:4001", "X-Forwarded-For", "203.0.113.9")
	if rec.Code != 429 || decodeError(t, rec).Code != pushgate.ERATELIMITED || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("request over the burst: %d %s (Retry-After %q), want 429 with Retry-After", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	if rec := post("198.51.100.8:4000"); rec.Code != 201 {
		t.Fatalf("another address is limited too: %d", rec.Code)
	}
}

func TestWebhookBatchesAPI(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		c, other := newCore(t, db)
		bucket, ctxID, ids := sentMessages(t, c, `{"type":"http","payload":{"url":"https://hooks.example.com/ppg"}}`, 2)
		for _, id := range ids {
			if rec := c.do("POST", "/v1/context/"+ctxID+"/events/delivered", fmt.Sprintf(`{"messageId":%q}`, id)); rec.Code != 201 {
				t.Fatalf("delivered: %d", rec.Code)
			}
		}
		store := db.Webhooks()
		code, got := c.get("/v1/bucket/" + bucket + "/webhooks")
		if code != 200 || len(got["batches"].([]any)) != 0 {
			t.Fatalf("batches before any flush: %d %v", code, got)
		}
		// Two batches: the first ends dead, the second stays pending.
		appID := func() string {
			p, _ := store.PendingBuckets(ctx, 1)
			return p[0].AppID
		}()
		first, second := pushgate.NewID(), pushgate.NewID()
		now := time.Now().UTC()
		for _, id := range []string{first, second} {
			if n, err := store.CreateBatch(ctx, webhooks.NewBatch{ID: id, AppID: appID, BucketID: bucket, Max: 1, CreatedAt: now}); err != nil || n != 1 {
				t.Fatalf("CreateBatch = %d, %v", n, err)
			}
		}
		claimed, err := store.ClaimBatches(ctx, now, now.Add(time.Minute), 1)
		if err != nil || len(claimed) != 1 || claimed[0].ID != first {
			t.Fatalf("ClaimBatches = %v, %v", claimed, err)
		}
		if err := store.FinishAttempt(ctx, webhooks.Outcome{BatchID: first, Attempt: claimed[0].Attempts, Status: webhooks.StatusDead,
			StatusCode: 500, Error: "HTTP 500: down", At: now}); err != nil {
			t.Fatal(err)
		}

		code, got = c.get("/v1/bucket/" + bucket + "/webhooks")
		list := got["batches"].([]any)
		if code != 200 || len(list) != 2 || list[0].(map[string]any)["batchId"] != second || list[1].(map[string]any)["batchId"] != first {
			t.Fatalf("batches: %d %v, want the pending one, then the dead one", code, got)
		}
		dead := list[1].(map[string]any)
		if dead["status"] != "dead" || dead["attempts"] != 1.0 || dead["lastStatusCode"] != 500.0 || dead["lastError"] != "HTTP 500: down" || dead["events"] != 1.0 {
			t.Fatalf("dead batch = %v", dead)
		}
		if _, got := c.get("/v1/bucket/" + bucket + "/webhooks?status=dead"); len(got["batches"].([]any)) != 1 {
			t.Fatalf("status=dead: %v", got)
		}
		if _, got := c.get("/v1/bucket/" + bucket + "/webhooks?before=" + second); len(got["batches"].([]any)) != 1 {
			t.Fatalf("before=%s: %v", second, got)
		}
		c.sc.badRequests = true
		for _, q := range []string{"status=lost", "limit=0", "limit=x", "before=nope"} {
			if code, _ := c.get("/v1/bucket/" + bucket + "/webhooks?" + q); code != 400 {
				t.Errorf("?%s: %d, want 400", q, code)
			}
		}
		c.sc.badRequests = false
		if code, _ := other.get("/v1/bucket/" + bucket + "/webhooks"); code != 404 {
			t.Fatalf("another app lists the batches: %d", code)
		}

		if code, b := c.post("/v1/bucket/"+bucket+"/webhooks/"+second+"/redeliver", ""); code != 409 {
			t.Fatalf("redeliver of a pending batch: %d %v, want 409", code, b)
		}
		code, b := c.post("/v1/bucket/"+bucket+"/webhooks/"+first+"/redeliver", "")
		if code != 200 || b["status"] != "pending" || b["batchId"] != first || b["nextAttemptAt"] == nil {
			t.Fatalf("redeliver of a dead batch: %d %v", code, b)
		}
		for _, id := range []string{pushgate.NewID(), "nope"} {
			if code, _ := c.post("/v1/bucket/"+bucket+"/webhooks/"+id+"/redeliver", ""); code != 404 {
				t.Fatalf("redeliver of an unknown batch: %d", code)
			}
		}
		if code, _ := other.post("/v1/bucket/"+bucket+"/webhooks/"+first+"/redeliver", ""); code != 404 {
			t.Fatalf("another app redelivers: %d", code)
		}
	})
}
