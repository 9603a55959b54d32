package server

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

// fakes are the three push services, and credentials they trust.
type fakes struct {
	apns       *providertest.APNSFake
	apnsKey    *providertest.APNSKey
	apnsCert   *providertest.APNSCert
	fcm        *providertest.FCMFake
	fcmAccount []byte
	hms        *providertest.HMSFake
	hmsApp     string
	hmsSecret  string
	web        *providertest.WebPushFake
	vapidPub   string
	vapidPriv  string
	images     *imageOrigin
}

const topic = "com.example.shop"

func newFakes(t *testing.T) *fakes {
	f := &fakes{apns: providertest.NewAPNS(t), fcm: providertest.NewFCM(t), web: providertest.NewWebPush(t), images: newImageOrigin(t)}
	f.apnsKey = providertest.APNSTestKey(t)
	f.apns.TrustKey(f.apnsKey.KeyID, f.apnsKey.TeamID, f.apnsKey.Public())
	f.apnsCert = providertest.APNSTestCert(t, topic)
	f.apns.TrustClientCert(f.apnsCert.Cert)
	f.fcmAccount = documentedServiceAccount(t, f.fcm.ServiceAccountJSON("shop-project"))
	f.hms = providertest.NewHMS(t)
	f.hmsApp, f.hmsSecret = f.hms.NewApp()
	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	f.vapidPub = base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes())
	f.vapidPriv = base64.RawURLEncoding.EncodeToString(k.Bytes())
	return f
}

// config points a node at the fakes, on the given storage.
func (f *fakes) config(t *testing.T, dbURL string) Config {
	cfg := Defaults()
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DatabaseURL = dbURL
	if strings.HasPrefix(dbURL, "postgres") {
		cfg.MasterKey = pushgate.NewMasterKey()
	}
	cfg.RedisURL = testenv.RedisURL(t)
	cfg.QueueNamespace = testenv.Namespace(t)
	cfg.APNSHost = f.apns.URL
	cfg.APNSRootCAs = f.apns.CertPool()
	cfg.FCMEndpoint = f.fcm.URL + "/v1"
	cfg.WebPushAllowHTTP = true
	cfg.HMSAllowHTTP = true
	cfg.SSRFAllow = "127.0.0.0/8"
	// No vapid_subject: CORE's clients send vapid credentials without a
	// subject, and a fresh install must take them.
	cfg.AccessLog = false
	return cfg
}

// documentedServiceAccount completes the fake's service account to the
// key file Google issues, every member CORE's documentation lists for the
// fcm_v1 payload.
func documentedServiceAccount(t *testing.T, sa []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(sa, &m); err != nil {
		t.Fatal(err)
	}
	m["auth_uri"] = "https://accounts.google.com/o/oauth2/auth"
	m["auth_provider_x509_cert_url"] = "https://www.googleapis.com/oauth2/v1/certs"
	m["client_x509_cert_url"] = "https://www.googleapis.com/robot/v1/metadata/x509/" + m["client_email"].(string)
	for _, k := range []string{"type", "project_id", "private_key_id", "private_key", "client_email", "client_id", "token_uri"} {
		if m[k] == nil {
			t.Fatalf("the fake's service account has no %s", k)
		}
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return b
}

// bucketBody is a create-bucket request with each credential type exactly
// as CORE documents its payload (reference/ppg-core-openapi.json and the
// CORE SDK's README): apns_token's production as a string, apns_cert's as
// a boolean, fcm_v1 as the service account file, vapid as the two keys.
func (f *fakes) bucketBody() string {
	return fmt.Sprintf(`{"providerCredentials":[
		{"type":"apns_token","payload":{"key":%q,"keyId":%q,"teamId":%q,"appBundleId":%q,"production":"false"}},
		{"type":"apns_cert","payload":{"cert":%q,"key":%q,"appBundleId":%q,"production":false}},
		{"type":"fcm_v1","payload":%s},
		{"type":"vapid","payload":{"publicKey":%q,"privateKey":%q}},
		{"type":"hms","payload":{"appId":%q,"appSecret":%q,"pushUrl":%q,"authUrl":%q}}],
		"callbackConfig":{"type":"none"}}`,
		f.apnsKey.P8, f.apnsKey.KeyID, f.apnsKey.TeamID, topic, f.apnsCert.CertPEM, f.apnsCert.KeyPEM, topic, f.fcmAccount, f.vapidPub, f.vapidPriv,
		f.hmsApp, f.hmsSecret, f.hms.PushURL, f.hms.AuthURL)
}

// api is a client of a running node.
type api struct {
	t    *testing.T
	base string
	key  string
}

func (a *api) call(method, path string, body any, out any) int {
	a.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	req.Header.Set("authorization", "token="+a.key) // as CORE's SDKs send it
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
		}
	}
	return res.StatusCode
}

func startNode(t *testing.T, cfg Config) (*Server, *api) {
	ctx := context.Background()
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	creds, _ := s.FirstApp()
	return s, &api{t: t, base: "http://" + s.Addr(), key: creds.APIKey}
}

// TestCoreEndToEnd: a bucket with all four credential kinds, a data
// context, and one bulk send of 1000 mixed receivers; every message reaches
// its fake with the right payload, unregistered devices fail as such, and a
// storm of 429s is retried until everything is sent.
func TestCoreEndToEnd(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			f := newFakes(t)
			srv, a := startNode(t, f.config(t, d.URL))

			var bucket struct {
				BucketID    string
				Credentials []struct{ ID, Type string }
			}
			if code := a.call("POST", "/v1/bucket", f.bucketBody(), &bucket); code != 200 || len(bucket.Credentials) != 5 {
				t.Fatalf("create bucket: %d %+v", code, bucket)
			}
			var ctxAnswer struct{ ContextID string }
			code := a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Spring sale","body":"Everything -30%",
				"image":"`+f.images.URL+`/sale.jpg","icon":"`+f.images.URL+`/icon.png","behaviour":"https://shop.example/sale","tag":"sale","externalData":"{\"campaign\":7}",
				"actions":[{"action":"buy","title":"Buy now","behaviour":"https://shop.example/cart"}],"ttl":86400}`, &ctxAnswer)
			if code != 200 {
				t.Fatalf("create context: %d", code)
			}

			var receivers []recipients.Receiver
			var unregistered []string
			for i := 0; i < 250; i++ {
				cred := bucket.Credentials[i%2].ID // token and certificate auth, alternately
				tok := providertest.APNSTestDeviceToken(t)
				receivers = append(receivers, recipients.Receiver{CredentialID: cred, ForeignID: fmt.Sprintf("ios-%d", i), Token: tok})
				if i < 5 {
					f.apns.Unregister(tok)
					unregistered = append(unregistered, fmt.Sprintf("ios-%d", i))
				}
			}
			for i := 0; i < 150; i++ {
				tok := fmt.Sprintf("fcm-token-%d:%s", i, pushgate.RandomToken(40))
				receivers = append(receivers, recipients.Receiver{CredentialID: bucket.Credentials[2].ID, ForeignID: fmt.Sprintf("android-%d", i), Token: tok})
				if i < 5 {
					f.fcm.Unregister(tok)
					unregistered = append(unregistered, fmt.Sprintf("android-%d", i))
				}
			}
			hmsReceivers := f.hmsReceivers(bucket.Credentials[4].ID, &receivers, &unregistered)
			for i := 0; i < 500; i++ {
				sub := f.web.NewSubscriptionFor(f.vapidPub)
				r := sub.Receiver(bucket.Credentials[3].ID)
				r.ForeignID = fmt.Sprintf("web-%d", i)
				receivers = append(receivers, r)
				if i < 5 {
					f.web.Unregister(sub)
					unregistered = append(unregistered, fmt.Sprintf("web-%d", i))
				}
			}
			// A 429 storm on every service, asking for a second's pause.
			f.apns.FailNext(60, providertest.APNSReply{Status: 429, Reason: "TooManyRequests", RetryAfter: time.Second})
			f.fcm.FailNext(60, providertest.FCMQuotaExceeded(time.Second))
			f.web.FailNext(60, providertest.WebPushReply{Status: 429, RetryAfter: "1"})
			f.hms.FailNext(30, providertest.HMSReply{Status: 503, Code: "80300013", Msg: "flow control", RetryAfter: "1"})

			body := make([]any, len(receivers))
			for i, r := range receivers {
				body[i] = r
				if h, ok := hmsReceivers[i]; ok {
					body[i] = h
				}
			}
			var sent struct{ Results []messages.SendResult }
			if code := a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/"+ctxAnswer.ContextID+"/send", map[string]any{"receivers": body}, &sent); code != 200 || len(sent.Results) != 1000 {
				t.Fatalf("send: %d, %d results", code, len(sent.Results))
			}
			byForeign := map[string]string{}
			for i, r := range sent.Results {
				if r.MessageID == "" {
					t.Fatalf("receiver %d refused: %v", i, r.Errors)
				}
				byForeign[receivers[i].ForeignID] = r.MessageID
			}

			final := waitFinal(t, srv, bucket.BucketID, sent.Results, 120*time.Second)
			isUnregistered := map[string]bool{}
			for _, fid := range unregistered {
				isUnregistered[byForeign[fid]] = true
			}
			retried := 0
			for _, m := range final {
				want, reason := messages.Sent, ""
				if isUnregistered[m.ID] {
					want, reason = messages.Failed, "unregistered"
				}
				if m.Status != want || (reason != "" && m.Reason != reason) {
					t.Errorf("%s (%s): %s/%s after %d attempts: %s", m.ForeignID, m.Provider, m.Status, m.Reason, m.Attempts, m.LastError)
				}
				if m.Attempts > 1 {
					retried++
				}
			}
			if retried < 100 {
				t.Errorf("only %d messages were retried after the 429 storm of 210", retried)
			}

			// What arrived where.
			if n := len(f.apns.Delivered()); n != 245 {
				t.Errorf("APNS fake accepted %d, want 245", n)
			}
			for _, req := range f.apns.Delivered()[:3] {
				var p map[string]any
				json.Unmarshal(req.Payload, &p)
				aps := p["aps"].(map[string]any)
				alert := aps["alert"].(map[string]any)
				if req.Topic != topic || req.PushType != "alert" || alert["title"] != "Spring sale" || aps["mutable-content"] != 1.0 ||
					p["messageId"] == nil || p["contextId"] != ctxAnswer.ContextID || p["externalData"] != `{"campaign":7}` {
					t.Errorf("APNS request %+v payload %s", req, req.Payload)
				}
			}
			var apnsPayload struct{ Image string }
			json.Unmarshal(f.apns.Delivered()[0].Payload, &apnsPayload)
			cdnImage(t, a, apnsPayload.Image, "ios")
			certAuth := 0
			for _, req := range f.apns.Delivered() {
				if req.CertSubject != "" {
					certAuth++
				}
			}
			if certAuth < 100 || certAuth > 145 {
				t.Errorf("%d APNS deliveries used certificate auth, want about half", certAuth)
			}
			checkFCMDelivered(t, a, f, ctxAnswer.ContextID)
			checkHMSDelivered(t, a, f, ctxAnswer.ContextID)
			deliveries := f.web.Delivered()
			if len(deliveries) != 495 {
				t.Errorf("Web Push fake accepted %d, want 495", len(deliveries))
			}
			var wp struct {
				Title   string
				Body    string
				Image   string
				Icon    string
				Actions []map[string]string
				Data    map[string]any
			}
			if err := json.Unmarshal(deliveries[0].Payload, &wp); err != nil {
				t.Fatal(err)
			}
			am, _ := wp.Data["actionsMap"].(map[string]any)
			if wp.Title != "Spring sale" || wp.Body != "Everything -30%" || len(wp.Actions) != 1 || wp.Data["messageId"] == nil ||
				wp.Data["contextId"] != ctxAnswer.ContextID || am["default"] != "https://shop.example/sale" || am["buy"] != "https://shop.example/cart" {
				t.Errorf("Web Push payload %s", deliveries[0].Payload)
			}
			cdnImage(t, a, wp.Image, "large")
			cdnImage(t, a, wp.Icon, "icon")
			if n := f.images.requests.Load(); n != 2 {
				t.Errorf("the shop's server was asked %d times for its 2 images", n)
			}
			var ctxState struct {
				Status string
				Images map[string]map[string]string
			}
			a.call("GET", "/v1/bucket/"+bucket.BucketID+"/context/"+ctxAnswer.ContextID, nil, &ctxState)
			if ctxState.Status != "ready" || ctxState.Images[f.images.URL+"/sale.jpg"]["large"] != wp.Image {
				t.Errorf("context after processing: %+v", ctxState)
			}
			if d := deliveries[0]; d.VAPIDKey != f.vapidPub || d.Subject != fallbackVAPIDSubject || d.TTL <= 0 || d.TTL > 86400 || d.Urgency != "high" || d.Topic != "sale" {
				t.Errorf("Web Push headers: key %s, sub %s, TTL %d, urgency %q, topic %q", d.VAPIDKey, d.Subject, d.TTL, d.Urgency, d.Topic)
			}

			// The status API says the same.
			var st map[string]any
			a.call("GET", "/v1/bucket/"+bucket.BucketID+"/message/"+byForeign["web-0"], nil, &st)
			if st["status"] != "failed" || st["reason"] != "unregistered" || st["provider"] != "vapid" {
				t.Errorf("status of an unregistered message: %v", st)
			}
			a.call("GET", "/v1/bucket/"+bucket.BucketID+"/message/"+byForeign["android-9"], nil, &st)
			if st["status"] != "sent" || st["sentAt"] == nil {
				t.Errorf("status of a sent message: %v", st)
			}

			// A bucket without a callback costs no event writes.
			var events int
			if err := srv.DB.QueryRow(`SELECT count(*) FROM webhook_events`).Scan(&events); err != nil || events != 0 {
				t.Errorf("%d webhook events stored for a bucket without a callback (%v)", events, err)
			}
		})
	}
}

// checkFCMDelivered checks what the FCM fake accepted of the bulk send: 145
// of 150 (5 unregistered), with CORE's payload.
func checkFCMDelivered(t *testing.T, a *api, f *fakes, contextID string) {
	t.Helper()
	fcmMsgs := f.fcm.Delivered()
	if len(fcmMsgs) != 145 {
		t.Errorf("FCM fake accepted %d, want 145", len(fcmMsgs))
		return
	}
	if m := fcmMsgs[0]; m.Project != "shop-project" || m.Notification == nil || m.Notification.Title != "Spring sale" ||
		m.Data["messageId"] == "" || m.Data["contextId"] != contextID || !strings.Contains(m.Data["actionsMap"], "shop.example/cart") {
		t.Errorf("FCM message %+v", m)
	} else {
		cdnImage(t, a, m.Notification.Image, "large")
	}
}

// hmsReceivers adds 100 Huawei receivers to receivers, the first 5 of them
// unregistered, and returns them by index as CORE's SDK sends them (with
// type and project).
func (f *fakes) hmsReceivers(credID string, receivers *[]recipients.Receiver, unregistered *[]string) map[int]any {
	out := map[int]any{}
	for i := 0; i < 100; i++ {
		tok, fid := "IQAAAACy0"+pushgate.RandomToken(60), fmt.Sprintf("huawei-%d", i)
		out[len(*receivers)] = map[string]string{"credentialId": credID, "foreignId": fid, "type": "hms/android", "token": tok, "project": "736430079245"}
		*receivers = append(*receivers, recipients.Receiver{CredentialID: credID, ForeignID: fid, Token: tok})
		if i < 5 {
			f.hms.Unregister(tok)
			*unregistered = append(*unregistered, fid)
		}
	}
	return out
}

// checkHMSDelivered checks what the Push Kit fake accepted of the bulk send:
// 95 of 100 (5 tokens refused by a partial success), with CORE's payload.
func checkHMSDelivered(t *testing.T, a *api, f *fakes, contextID string) {
	t.Helper()
	msgs := f.hms.Delivered()
	if len(msgs) != 95 {
		t.Errorf("Push Kit fake accepted %d, want 95", len(msgs))
		return
	}
	if f.hms.TokensIssued() != 1 {
		t.Errorf("the credential fetched %d access tokens, want 1 shared by every send", f.hms.TokensIssued())
	}
	var data map[string]string
	json.Unmarshal([]byte(msgs[0].Data), &data)
	n, _ := msgs[0].Android["notification"].(map[string]any)
	click, _ := n["click_action"].(map[string]any)
	if m := msgs[0]; m.AppID != f.hmsApp || data["messageId"] == "" || data["contextId"] != contextID || !strings.HasPrefix(data["foreignId"], "huawei-") ||
		!strings.Contains(data["actionsMap"], "shop.example/cart") || n["title"] != "Spring sale" || click["url"] != "https://shop.example/sale" {
		t.Errorf("Push Kit message %+v", m)
		return
	}
	image, _ := n["image"].(string)
	cdnImage(t, a, image, "large")
}

func waitFinal(t *testing.T, srv *Server, bucketID string, results []messages.SendResult, timeout time.Duration) []*messages.Message {
	t.Helper()
	creds, _ := srv.FirstApp()
	deadline := time.Now().Add(timeout)
	for {
		var out []*messages.Message
		pending := 0
		for _, r := range results {
			m, err := srv.DB.Messages().Get(context.Background(), creds.AppID, bucketID, r.MessageID)
			if err != nil {
				t.Fatal(err)
			}
			if !m.Status.Final() {
				pending++
			}
			out = append(out, m)
		}
		if pending == 0 {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still unfinished after %v", pending, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
