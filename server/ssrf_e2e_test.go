package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/recipients"
)

type apiError struct {
	Message string
	Errors  []string
	Code    string
}

func (e apiError) has(field, words string) bool {
	for _, s := range e.Errors {
		if strings.HasPrefix(s, field+": ") && strings.Contains(s, words) {
			return true
		}
	}
	return false
}

// internalService stands for something on the node's network that a
// tenant must not reach; it counts who did.
func internalService(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"x","token_type":"Bearer","expires_in":3600}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestFCMTokenURIOnLoopbackIsRefused: with fcm_endpoint set, any token_uri
// used to be accepted and posted to, bypassing the SSRF guard. A service
// account naming an internal address is refused when the bucket is created;
// the fake FCM the operator configured still works, with no allow-list.
func TestFCMTokenURIOnLoopbackIsRefused(t *testing.T) {
	f := newFakes(t)
	cfg := f.config(t, testenv.SQLiteURL(t))
	cfg.SSRFAllow = "" // the configured FCM endpoint needs none
	srv, a := startNode(t, cfg)
	internal, hits := internalService(t)

	var sa map[string]any
	json.Unmarshal(f.fcmAccount, &sa)
	sa["token_uri"] = internal.URL + "/token"
	hostile, _ := json.Marshal(sa)
	var e apiError
	code := a.call("POST", "/v1/bucket", fmt.Sprintf(`{"providerCredentials":[{"type":"fcm_v1","payload":%s}],"callbackConfig":{"type":"none"}}`, hostile), &e)
	if code != 400 || !e.has("providerCredentials[0].payload.token_uri", "127.0.0.1 is a forbidden address (loopback)") {
		t.Fatalf("bucket with a loopback token_uri: %d %+v", code, e)
	}

	var bucket struct {
		BucketID    string
		Credentials []struct{ ID string }
	}
	if code := a.call("POST", "/v1/bucket", fmt.Sprintf(`{"providerCredentials":[{"type":"fcm_v1","payload":%s}],"callbackConfig":{"type":"none"}}`, f.fcmAccount), &bucket); code != 200 {
		t.Fatalf("bucket with the configured fake's token_uri: %d", code)
	}
	var ctx struct{ ContextID string }
	a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"t"}`, &ctx)
	var sent struct{ Results []messages.SendResult }
	a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/"+ctx.ContextID+"/send",
		map[string]any{"receivers": []recipients.Receiver{{CredentialID: bucket.Credentials[0].ID, Token: "fcm-token-1:abc"}}}, &sent)
	for _, m := range waitFinal(t, srv, bucket.BucketID, sent.Results, 30*time.Second) {
		if m.Status != messages.Sent {
			t.Errorf("through the configured FCM endpoint: %s/%s %s", m.Status, m.Reason, m.LastError)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the internal service got %d requests", n)
	}
}

// TestFCMEndpointIsTrustedForTokensOnly: the operator's fcm_endpoint is let
// through the guard for FCM's token requests, and for nothing else a tenant
// names: a callback or an image on its host and port is refused.
func TestFCMEndpointIsTrustedForTokensOnly(t *testing.T) {
	f := newFakes(t)
	cfg := f.config(t, testenv.SQLiteURL(t))
	cfg.SSRFAllow = ""
	_, a := startNode(t, cfg)
	at := f.fcm.URL + "/hook"
	var e apiError
	code := a.call("POST", "/v1/bucket", fmt.Sprintf(`{"providerCredentials":[{"type":"fcm_v1","payload":%s}],"callbackConfig":{"type":"http","payload":{"url":%q}}}`, f.fcmAccount, at), &e)
	if code != 400 || !e.has("callbackConfig.payload.url", "forbidden address") {
		t.Fatalf("callback on the FCM endpoint's host: %d %+v", code, e)
	}
	var bucket struct{ BucketID string }
	if code := a.call("POST", "/v1/bucket", fmt.Sprintf(`{"providerCredentials":[{"type":"fcm_v1","payload":%s}],"callbackConfig":{"type":"none"}}`, f.fcmAccount), &bucket); code != 200 {
		t.Fatalf("bucket: %d", code)
	}
	code = a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/data", fmt.Sprintf(`{"title":"t","image":%q}`, f.fcm.URL+"/image.png"), &e)
	if code != 400 || !e.has("image", "forbidden address") {
		t.Fatalf("image on the FCM endpoint's host: %d %+v", code, e)
	}
}

// TestLiteralInternalAddressesAreRefusedAtCreation: a callback, an image
// or a push endpoint at a literal internal address is refused with a 400
// (or, for a receiver, an error in the send's answer) naming the field,
// instead of being accepted and failing late with the wrong words.
func TestLiteralInternalAddressesAreRefusedAtCreation(t *testing.T) {
	f := newFakes(t)
	cfg := f.config(t, testenv.SQLiteURL(t))
	cfg.SSRFAllow = "127.0.0.1/32" // the fakes, and nothing else on loopback
	_, a := startNode(t, cfg)

	var e apiError
	body := fmt.Sprintf(`{"providerCredentials":[{"type":"vapid","payload":{"publicKey":%q,"privateKey":%q}}],
		"callbackConfig":{"type":"http","payload":{"url":"http://169.254.169.254/latest/meta-data/"}}}`, f.vapidPub, f.vapidPriv)
	if code := a.call("POST", "/v1/bucket", body, &e); code != 400 || !e.has("callbackConfig.payload.url", "169.254.169.254 is a forbidden address") {
		t.Fatalf("callback to the metadata service: %d %+v", code, e)
	}
	body = strings.Replace(body, "http://169.254.169.254/latest/meta-data/", "http://127.0.0.2:8080/hook", 1)
	if code := a.call("POST", "/v1/bucket", body, &e); code != 400 || !e.has("callbackConfig.payload.url", "127.0.0.2 is a forbidden address (loopback)") {
		t.Fatalf("callback to loopback outside the allow-list: %d %+v", code, e)
	}

	var bucket struct {
		BucketID    string
		Credentials []struct{ ID string }
	}
	if code := a.call("POST", "/v1/bucket", f.bucketBody(), &bucket); code != 200 {
		t.Fatalf("bucket: %d", code)
	}
	base := "/v1/bucket/" + bucket.BucketID
	if code := a.call("POST", base+"/context/data", `{"title":"t","image":"http://10.0.0.7/sale.jpg"}`, &e); code != 400 || !e.has("image", "10.0.0.7 is a forbidden address (private)") {
		t.Fatalf("data context with a private image: %d %+v", code, e)
	}
	if code := a.call("POST", base+"/context/raw", `{"common":{"title":"t","iconUrl":"http://[::ffff:169.254.169.254]/i.png"}}`, &e); code != 400 ||
		!e.has("common.iconUrl", "IPv4-mapped of 169.254.169.254") {
		t.Fatalf("raw context with a metadata icon: %d %+v", code, e)
	}
	if code := a.call("POST", base+"/send", map[string]any{"receiver": map[string]string{"credentialId": bucket.Credentials[2].ID, "token": "t:1"},
		"metadata": map[string]string{"title": "t", "icon": "http://192.168.1.10/i.png"}}, &e); code != 400 || !e.has("metadata.icon", "192.168.1.10 is a forbidden address (private)") {
		t.Fatalf("transactional send with a private icon: %d %+v", code, e)
	}

	var ctx struct{ ContextID string }
	a.call("POST", base+"/context/data", `{"title":"t"}`, &ctx)
	good := f.web.NewSubscriptionFor(f.vapidPub).Receiver(bucket.Credentials[3].ID)
	bad := f.web.NewSubscriptionFor(f.vapidPub).Receiver(bucket.Credentials[3].ID)
	bad.Endpoint = "http://127.0.0.3:9/push/x"
	var sent struct{ Results []messages.SendResult }
	if code := a.call("POST", base+"/context/"+ctx.ContextID+"/send", map[string]any{"receivers": []recipients.Receiver{good, bad}}, &sent); code != 200 || len(sent.Results) != 2 {
		t.Fatalf("send: %d %+v", code, sent)
	}
	if r := sent.Results[0]; r.MessageID == "" {
		t.Errorf("the allowed receiver was refused: %v", r.Errors)
	}
	if r := sent.Results[1]; r.MessageID != "" || len(r.Errors) != 1 || !strings.HasPrefix(r.Errors[0], "endpoint: 127.0.0.3 is a forbidden address (loopback)") {
		t.Errorf("receiver on loopback outside the allow-list: %+v", r)
	}
}

// TestImageRedirectedInwardFailsAsForbidden: an image whose server
// redirects to an internal address fails its context with a reason that
// says the address is forbidden.
func TestImageRedirectedInwardFailsAsForbidden(t *testing.T) {
	f := newFakes(t)
	cfg := f.config(t, testenv.SQLiteURL(t))
	cfg.SSRFAllow = "127.0.0.1/32"
	_, a := startNode(t, cfg)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(f.images.URL, "127.0.0.1", "127.0.0.9", 1)+"/x.jpg", http.StatusFound)
	}))
	t.Cleanup(redirect.Close)
	var bucket struct{ BucketID string }
	if code := a.call("POST", "/v1/bucket", f.bucketBody(), &bucket); code != 200 {
		t.Fatalf("bucket: %d", code)
	}
	var c struct{ ContextID string }
	if code := a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"t","image":"`+redirect.URL+`/sale.jpg"}`, &c); code != 200 {
		t.Fatalf("context: %d", code)
	}
	var st struct{ Status, Reason string }
	waitFor(t, 20*time.Second, "the context fails", func() bool {
		a.call("GET", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID, nil, &st)
		return st.Status == "failed"
	})
	if !strings.Contains(st.Reason, "127.0.0.9 is a forbidden address (loopback)") {
		t.Errorf("reason %q does not say the address is forbidden", st.Reason)
	}
	if n := f.images.requests.Load(); n != 0 {
		t.Errorf("the redirect reached the image server %d times", n)
	}
}
