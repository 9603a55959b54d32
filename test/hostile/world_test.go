package hostile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate/providers/providertest"
)

const topic = "com.example.shop"

// world is a node with two apps, A (the installation's first) and B, each
// with a bucket of every credential type and a callback, a data context,
// one sent message and a delivered webhook batch, and a delivered batch of
// its Pusher channel webhook; and the fakes they use.
type world struct {
	*node
	a, b     *tenant
	apns     *providertest.APNSFake
	apnsKey  *providertest.APNSKey
	apnsCert *providertest.APNSCert
	fcm      *providertest.FCMFake
	account  []byte // an FCM service account the fake trusts
	web      *providertest.WebPushFake
	vapidPub string
	vapidKey string
	origin   *httptest.Server // images: a PNG at any path
	hooks    *httptest.Server // callbacks: 200 to everything
	png      []byte
	cdnKey   string // a variant the CDN serves
	cdnSize  int    // its size in bytes
}

// tenant is one app and what it owns.
type tenant struct {
	name    string
	id, key string
	keyID   string            // its first API key
	bucket  string            // a bucket with every credential type
	cred    map[string]string // credential id by type
	context string            // a data context of bucket
	message string            // a message of context
	batch   string            // a delivered webhook batch of bucket
	// channelBatch is a delivered batch of the app's channel webhook.
	channelBatch string
	receiver     map[string]any // the Web Push receiver message went to
	inbox        *inboxTenant   // client tokens and a notification
}

func newWorld(t *testing.T, backend string) *world {
	t.Helper()
	w := &world{apns: providertest.NewAPNS(t), fcm: providertest.NewFCM(t), web: providertest.NewWebPush(t)}
	w.apnsKey = providertest.APNSTestKey(t)
	w.apns.TrustKey(w.apnsKey.KeyID, w.apnsKey.TeamID, w.apnsKey.Public())
	w.apnsCert = providertest.APNSTestCert(t, topic)
	w.apns.TrustClientCert(w.apnsCert.Cert)
	w.account = w.fcm.ServiceAccountJSON("shop-project")
	w.vapidPub, w.vapidKey = vapidKeys()
	w.png = testPNG(64, 64)
	w.origin = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "image/png")
		rw.Write(w.png)
	}))
	t.Cleanup(w.origin.Close)
	w.hooks = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(w.hooks.Close)

	cfg := nodeConfig(t, backend)
	cfg.APNSHost = w.apns.URL
	cfg.APNSRootCAs = w.apns.CertPool()
	cfg.FCMEndpoint = w.fcm.URL + "/v1"
	cfg.WebPushAllowHTTP = true
	// Every fake listens on 127.0.0.1; the SSRF suite runs its own nodes.
	cfg.SSRFAllow = "127.0.0.1/32"
	cfg.WebhookFlushInterval = 100 * time.Millisecond
	cfg.WebhookMinBackoff = 100 * time.Millisecond
	cfg.DeliveryMaxAttempts = 2
	w.node = startNode(t, cfg)

	w.a = &tenant{name: "A", id: w.appID, key: w.admin}
	w.b = &tenant{name: "B"}
	w.b.id, w.b.key = w.newApp("other")
	for _, tn := range []*tenant{w.a, w.b} {
		w.populate(tn)
		w.populateInbox(tn)
	}
	for _, tn := range []*tenant{w.a, w.b} {
		tn.batch = w.deliveredBatch(tn)
		tn.channelBatch = w.deliveredChannelBatch(tn)
	}
	var up struct {
		Variants []struct {
			URL  string
			Size int
		}
	}
	a := w.do(request{method: "POST", path: "/v1/images", key: w.a.key, body: w.png, header: http.Header{"Content-Type": {"image/png"}}})
	if a.status != 200 || json.Unmarshal(a.body, &up) != nil || len(up.Variants) == 0 {
		t.Fatalf("upload an image: %s", a)
	}
	w.cdnKey, w.cdnSize = path.Base(up.Variants[0].URL), up.Variants[0].Size
	return w
}

// populate gives tn its bucket, context, message and first key id.
func (w *world) populate(tn *tenant) {
	t := w.t
	var keys struct{ Keys []struct{ ID string } }
	w.must(200, tn.key, "GET", "/v1/app/keys", nil, &keys)
	if len(keys.Keys) != 1 {
		t.Fatalf("app %s has %d keys, want its first only", tn.name, len(keys.Keys))
	}
	tn.keyID = keys.Keys[0].ID
	var b struct {
		BucketID    string
		Credentials []struct{ ID, Type string }
	}
	w.must(200, tn.key, "POST", "/v1/bucket", w.bucketBody(w.hooks.URL+"/"+tn.name), &b)
	tn.bucket, tn.cred = b.BucketID, map[string]string{}
	for _, c := range b.Credentials {
		tn.cred[c.Type] = c.ID
	}
	var c struct{ ContextID string }
	w.must(200, tn.key, "POST", "/v1/bucket/"+tn.bucket+"/context/data", `{"title":"Sale","body":"Everything -30%"}`, &c)
	tn.context = c.ContextID
	sub := w.web.NewSubscriptionFor(w.vapidPub)
	tn.receiver = map[string]any{"credentialId": tn.cred["vapid"], "foreignId": "web-" + tn.name,
		"endpoint": sub.Endpoint, "p256dh": sub.P256dh, "auth": sub.Auth}
	var sent struct {
		Results []struct {
			MessageID string
			Errors    []string
		}
	}
	w.must(200, tn.key, "POST", "/v1/bucket/"+tn.bucket+"/context/"+tn.context+"/send",
		map[string]any{"receivers": []any{tn.receiver}}, &sent)
	if len(sent.Results) != 1 || sent.Results[0].MessageID == "" {
		t.Fatalf("send: %+v", sent)
	}
	tn.message = sent.Results[0].MessageID
}

// deliveredBatch waits for the webhook batch that reports tn's message.
func (w *world) deliveredBatch(tn *tenant) string {
	var id string
	ok := waitFor(30*time.Second, func() bool {
		var list struct {
			Batches []struct{ BatchID, Status string }
		}
		w.call(tn.key, "GET", "/v1/bucket/"+tn.bucket+"/webhooks?status=delivered", nil, &list)
		if len(list.Batches) > 0 {
			id = list.Batches[0].BatchID
		}
		return id != ""
	})
	if !ok {
		w.t.Fatalf("app %s: no webhook batch was delivered", tn.name)
	}
	return id
}

// bucketBody is a create-bucket request with every credential type and a
// callback, in the shapes CORE documents.
func (w *world) bucketBody(callback string) string {
	return fmt.Sprintf(`{"providerCredentials":[
		{"type":"apns_token","payload":{"key":%q,"keyId":%q,"teamId":%q,"appBundleId":%q,"production":false}},
		{"type":"apns_cert","payload":{"cert":%q,"key":%q,"appBundleId":%q,"production":false}},
		{"type":"fcm_v1","payload":%s},
		{"type":"vapid","payload":{"publicKey":%q,"privateKey":%q}},
		{"type":"websocket","payload":{}}],
		"callbackConfig":{"type":"http","payload":{"url":%q,"headers":{"X-Shop-Secret":"s3cr3t"},"batchSize":100,"flushIntervalMs":100}}}`,
		w.apnsKey.P8, w.apnsKey.KeyID, w.apnsKey.TeamID, topic, w.apnsCert.CertPEM, w.apnsCert.KeyPEM, topic,
		w.account, w.vapidPub, w.vapidKey, callback)
}

// image is the URL of an image on the local origin.
func (w *world) image(name string) string { return w.origin.URL + "/" + name + ".png" }

// dataContext is a data context with every field CORE documents.
func (w *world) dataContext() map[string]any {
	return map[string]any{
		"title": "Spring sale", "body": "Everything -30%", "subtitle": "Today only",
		"icon": w.image("icon"), "smallIcon": "ic_stat_sale", "image": w.image("sale"), "channelName": "offers",
		"badge": 3, "badgeMobile": 2,
		"actions": []any{map[string]any{"action": "buy", "title": "Buy now", "icon": w.image("cart"),
			"behaviour": "https://shop.example/cart", "behaviourAndroid": "https://shop.example/a",
			"behaviourHuawei": "https://shop.example/h", "behaviourIos": "https://shop.example/i",
			"behaviourWebPush": "https://shop.example/w"}},
		"behaviour": "https://shop.example/sale", "behaviourAndroid": "https://shop.example/a",
		"behaviourHuawei": "https://shop.example/h", "behaviourIos": "https://shop.example/i",
		"behaviourWebPush": "https://shop.example/w",
		"expiresAt":        time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339), "ttl": 3600,
		"lang": "en", "renotify": true, "requireInteraction": false, "silent": false, "tag": "sale",
		"externalData": `{"campaign":7}`, "vibrate": []any{100, 50, 100},
		"sound": "default", "soundIos": "default", "soundAndroid": "default",
	}
}

// rawContext is a raw context with every section.
func (w *world) rawContext() map[string]any {
	web := func() map[string]any {
		return map[string]any{"title": "Sale", "body": "Everything -30%", "badge": w.image("badge"),
			"image": w.image("sale"), "icon": w.image("icon"),
			"actions": []any{map[string]any{"action": "buy", "title": "Buy", "icon": w.image("cart")}},
			"data":    map[string]any{"campaign": "7"}, "defaultAction": "https://shop.example/sale",
			"dir": "auto", "lang": "en", "renotify": false, "requireInteraction": false, "silent": false,
			"tag": "sale", "ttl": 60, "vibrate": []any{100}}
	}
	return map[string]any{
		"common": map[string]any{"title": "Sale", "body": "Everything -30%", "collapseKey": "sale",
			"data": map[string]any{"campaign": "7"}, "expiresAt": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339),
			"iconUrl": w.image("icon"), "imageUrl": w.image("sale"), "ttl": 3600},
		"chromium": web(),
		"firefox":  map[string]any{"title": "Sale", "body": "Everything -30%"},
		"huawei":   map[string]any{"notification": map[string]any{"title": "Sale"}, "biTag": "sale", "data": "d", "receiptId": "r1", "ttl": 60},
		"ios":      map[string]any{"aps": map[string]any{"alert": map[string]any{"title": "Sale", "body": "Everything -30%"}}},
		"safari":   map[string]any{"aps": map[string]any{"alert": map[string]any{"title": "Sale"}}},
		"android":  map[string]any{"notification": map[string]any{"title": "Sale", "body": "Everything -30%"}, "data": map[string]any{"k": "v"}},
	}
}

// receivers are one receiver of each kind of tn's bucket.
func (w *world) receivers(tn *tenant) []any {
	sub := w.web.NewSubscriptionFor(w.vapidPub)
	return []any{
		map[string]any{"credentialId": tn.cred["vapid"], "foreignId": "web-1", "endpoint": sub.Endpoint, "p256dh": sub.P256dh, "auth": sub.Auth},
		map[string]any{"credentialId": tn.cred["fcm_v1"], "foreignId": "android-1", "token": "fcm-token:APA91b-hostile"},
		map[string]any{"credentialId": tn.cred["apns_token"], "foreignId": "ios-1", "token": strings.Repeat("ab", 32)},
		map[string]any{"credentialId": tn.cred["websocket"], "foreignId": "inbox-1", "userId": "hostile-user"},
	}
}

// testPNG encodes a w×h gradient.
func testPNG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 4), 90, 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}
