package providertest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

type apnsAnswer struct {
	status     int
	reason     string
	timestamp  int64
	apnsID     string
	retryAfter string
	proto      string
}

// apnsPost sends one notification the way an APNS client does; bearer ""
// sends no authorization header.
func apnsPost(t *testing.T, c *http.Client, url, bearer string, header map[string]string, body string) apnsAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("authorization", "bearer "+bearer)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := apnsAnswer{status: resp.StatusCode, apnsID: resp.Header.Get("apns-id"), retryAfter: resp.Header.Get("Retry-After"), proto: resp.Proto}
	if resp.StatusCode != http.StatusOK {
		var b struct {
			Reason    string `json:"reason"`
			Timestamp int64  `json:"timestamp"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
			t.Fatalf("error answer %d is not JSON: %v", resp.StatusCode, err)
		}
		a.reason, a.timestamp = b.Reason, b.Timestamp
	}
	return a
}

func apnsAlertHeaders() map[string]string {
	return map[string]string{"apns-topic": "com.example.app", "apns-push-type": "alert", "apns-priority": "10"}
}

const apnsAlertBody = `{"aps":{"alert":{"title":"Hi"}},"messageId":"m1"}`

func apnsSignedFake(t *testing.T) (*APNSFake, *APNSKey, string) {
	t.Helper()
	f := NewAPNS(t)
	k := APNSTestKey(t)
	f.TrustKey(k.KeyID, k.TeamID, k.Public())
	bearer, err := k.Token(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return f, k, bearer
}

func TestAPNSAcceptsSignedTokenAndRecords(t *testing.T) {
	f, k, bearer := apnsSignedFake(t)
	token := APNSTestDeviceToken(t)
	h := apnsAlertHeaders()
	h["apns-collapse-id"] = "sale"
	h["apns-expiration"] = "1900000000"
	h["apns-id"] = "123E4567-E89B-12D3-A456-426655440000"

	a := apnsPost(t, f.Client(), f.URL+"/3/device/"+token, bearer, h, apnsAlertBody)
	if a.status != http.StatusOK {
		t.Fatalf("status %d %s, want 200", a.status, a.reason)
	}
	if a.proto != "HTTP/2.0" {
		t.Errorf("answered over %s, want HTTP/2.0", a.proto)
	}
	if a.apnsID != h["apns-id"] {
		t.Errorf("apns-id %q, want the request's %q", a.apnsID, h["apns-id"])
	}
	got := f.Delivered()
	if len(got) != 1 {
		t.Fatalf("delivered %d requests, want 1", len(got))
	}
	r := got[0]
	if r.DeviceToken != token || r.Topic != "com.example.app" || r.PushType != "alert" || r.Priority != 10 ||
		r.CollapseID != "sale" || r.Expiration.Unix() != 1900000000 || r.KeyID != k.KeyID || r.TeamID != k.TeamID ||
		string(r.Payload) != apnsAlertBody {
		t.Errorf("recorded %+v", r)
	}
	if f.Counts().Accepted != 1 || f.Counts().Rejected != 0 || f.Counts().Connections != 1 {
		t.Errorf("accepted %d rejected %d over %d connections, want 1, 0, 1", f.Counts().Accepted, f.Counts().Rejected, f.Counts().Connections)
	}
}

func TestAPNSGeneratesID(t *testing.T) {
	f, _, bearer := apnsSignedFake(t)
	a := apnsPost(t, f.Client(), f.URL+"/3/device/"+APNSTestDeviceToken(t), bearer, apnsAlertHeaders(), apnsAlertBody)
	if a.status != http.StatusOK || !apnsIsUUID(a.apnsID) {
		t.Errorf("status %d apns-id %q, want 200 and a UUID", a.status, a.apnsID)
	}
}

func TestAPNSRefusesWhatAppleRefuses(t *testing.T) {
	f, k, bearer := apnsSignedFake(t)
	token := APNSTestDeviceToken(t)
	url := f.URL + "/3/device/" + token

	sign := func(k *APNSKey, iat time.Time) string {
		s, err := k.Token(iat)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	stranger := APNSTestKey(t)
	impostor := APNSTestKey(t) // signs with a trusted key id but the wrong key
	impostor.KeyID, impostor.TeamID = k.KeyID, k.TeamID
	otherTeam := *k
	otherTeam.TeamID = "OTHERTEAM1"
	with := func(name, value string) map[string]string {
		h := apnsAlertHeaders()
		if value == "" {
			delete(h, name)
		} else {
			h[name] = value
		}
		return h
	}

	tests := []struct {
		name   string
		url    string
		bearer string
		header map[string]string
		body   string
		status int
		reason string
	}{
		{"no token and no certificate", url, "", apnsAlertHeaders(), apnsAlertBody, 403, "MissingProviderToken"},
		{"unknown key id", url, sign(stranger, time.Now()), apnsAlertHeaders(), apnsAlertBody, 403, "InvalidProviderToken"},
		{"signature by another key", url, sign(impostor, time.Now()), apnsAlertHeaders(), apnsAlertBody, 403, "InvalidProviderToken"},
		{"wrong team", url, sign(&otherTeam, time.Now()), apnsAlertHeaders(), apnsAlertBody, 403, "InvalidProviderToken"},
		{"token older than an hour", url, sign(k, time.Now().Add(-61*time.Minute)), apnsAlertHeaders(), apnsAlertBody, 403, "ExpiredProviderToken"},
		{"token issued in the future", url, sign(k, time.Now().Add(time.Hour)), apnsAlertHeaders(), apnsAlertBody, 403, "InvalidProviderToken"},
		{"not a JWT", url, "garbage", apnsAlertHeaders(), apnsAlertBody, 403, "InvalidProviderToken"},
		{"missing topic", url, bearer, with("apns-topic", ""), apnsAlertBody, 400, "MissingTopic"},
		{"missing push type", url, bearer, with("apns-push-type", ""), apnsAlertBody, 400, "InvalidPushType"},
		{"unknown push type", url, bearer, with("apns-push-type", "shout"), apnsAlertBody, 400, "InvalidPushType"},
		{"background at priority 10", url, bearer, with("apns-push-type", "background"), `{"aps":{"content-available":1}}`, 400, "BadPriority"},
		{"bad priority", url, bearer, with("apns-priority", "7"), apnsAlertBody, 400, "BadPriority"},
		{"bad expiration", url, bearer, with("apns-expiration", "tomorrow"), apnsAlertBody, 400, "BadExpirationDate"},
		{"long collapse id", url, bearer, with("apns-collapse-id", strings.Repeat("x", 65)), apnsAlertBody, 400, "BadCollapseId"},
		{"bad apns-id", url, bearer, with("apns-id", "42"), apnsAlertBody, 400, "BadMessageId"},
		{"empty body", url, bearer, apnsAlertHeaders(), "", 400, "PayloadEmpty"},
		{"body without aps", url, bearer, apnsAlertHeaders(), `{"messageId":"m1"}`, 400, "BadPayload"},
		{"body not an object", url, bearer, apnsAlertHeaders(), `["aps"]`, 400, "BadPayload"},
		{"body over 4096 bytes", url, bearer, apnsAlertHeaders(), `{"aps":{},"x":"` + strings.Repeat("a", 4096) + `"}`, 413, "PayloadTooLarge"},
		{"device token not hex", f.URL + "/3/device/" + strings.Repeat("z", 64), bearer, apnsAlertHeaders(), apnsAlertBody, 400, "BadDeviceToken"},
		{"device token too short", f.URL + "/3/device/abcdef", bearer, apnsAlertHeaders(), apnsAlertBody, 400, "BadDeviceToken"},
		{"no device token", f.URL + "/3/device/", bearer, apnsAlertHeaders(), apnsAlertBody, 400, "MissingDeviceToken"},
		{"wrong path", f.URL + "/2/device/" + token, bearer, apnsAlertHeaders(), apnsAlertBody, 404, "BadPath"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := apnsPost(t, f.Client(), tt.url, tt.bearer, tt.header, tt.body)
			if a.status != tt.status || a.reason != tt.reason {
				t.Errorf("got %d %q, want %d %q", a.status, a.reason, tt.status, tt.reason)
			}
			if a.apnsID == "" {
				t.Error("error answer without apns-id")
			}
		})
	}
	if n := f.Counts().Accepted; n != 0 {
		t.Errorf("accepted %d refused requests", n)
	}
	if got, want := f.Counts().Rejected, int64(len(tests)); got != want {
		t.Errorf("counted %d rejections, want %d", got, want)
	}
	if got := f.Counts().ByReason["InvalidProviderToken"]; got != 5 {
		t.Errorf("counted %d InvalidProviderToken, want 5", got)
	}
	if len(f.Delivered()) != 0 {
		t.Error("refused requests were recorded as delivered")
	}
}

func TestAPNSRefusesOtherMethods(t *testing.T) {
	f, _, bearer := apnsSignedFake(t)
	req, _ := http.NewRequest(http.MethodGet, f.URL+"/3/device/"+APNSTestDeviceToken(t), nil)
	req.Header.Set("authorization", "bearer "+bearer)
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET answered %d, want 405", resp.StatusCode)
	}
}

func TestAPNSScriptedTokenReplies(t *testing.T) {
	f, _, bearer := apnsSignedFake(t)
	gone, bad, fine := APNSTestDeviceToken(t), APNSTestDeviceToken(t), APNSTestDeviceToken(t)
	f.Unregister(gone)
	f.FailToken(bad, APNSReply{Status: 400, Reason: "BadDeviceToken"})

	before := time.Now().Add(-time.Second).UnixMilli()
	a := apnsPost(t, f.Client(), f.URL+"/3/device/"+gone, bearer, apnsAlertHeaders(), apnsAlertBody)
	if a.status != 410 || a.reason != "Unregistered" {
		t.Errorf("unregistered token: %d %q, want 410 Unregistered", a.status, a.reason)
	}
	if a.timestamp < before {
		t.Errorf("410 timestamp %d, want milliseconds since the epoch around now", a.timestamp)
	}
	a = apnsPost(t, f.Client(), f.URL+"/3/device/"+bad, bearer, apnsAlertHeaders(), apnsAlertBody)
	if a.status != 400 || a.reason != "BadDeviceToken" || a.timestamp != 0 {
		t.Errorf("bad token: %d %q timestamp %d, want 400 BadDeviceToken without timestamp", a.status, a.reason, a.timestamp)
	}
	a = apnsPost(t, f.Client(), f.URL+"/3/device/"+fine, bearer, apnsAlertHeaders(), apnsAlertBody)
	if a.status != 200 {
		t.Errorf("other token: %d %q, want 200", a.status, a.reason)
	}
	if f.Counts().ByReason["Unregistered"] != 1 || f.Counts().ByReason["BadDeviceToken"] != 1 || f.Counts().Accepted != 1 {
		t.Errorf("counts: unregistered %d bad %d accepted %d", f.Counts().ByReason["Unregistered"], f.Counts().ByReason["BadDeviceToken"], f.Counts().Accepted)
	}
}

func TestAPNSFailNext(t *testing.T) {
	f, _, bearer := apnsSignedFake(t)
	token := APNSTestDeviceToken(t)
	f.Unregister(token)
	f.FailNext(2, APNSReply{Status: 429, Reason: "TooManyRequests", RetryAfter: 2500 * time.Millisecond})

	for i := range 2 {
		a := apnsPost(t, f.Client(), f.URL+"/3/device/"+token, bearer, apnsAlertHeaders(), apnsAlertBody)
		if a.status != 429 || a.reason != "TooManyRequests" || a.retryAfter != "3" {
			t.Errorf("request %d: %d %q Retry-After %q, want 429 TooManyRequests Retry-After 3", i, a.status, a.reason, a.retryAfter)
		}
	}
	a := apnsPost(t, f.Client(), f.URL+"/3/device/"+token, bearer, apnsAlertHeaders(), apnsAlertBody)
	if a.status != 410 || a.retryAfter != "" {
		t.Errorf("after the burst: %d %q Retry-After %q, want the token's own 410 without Retry-After", a.status, a.reason, a.retryAfter)
	}
}

func TestAPNSFailNextOutage(t *testing.T) {
	f, _, bearer := apnsSignedFake(t)
	f.FailNext(1, APNSReply{Status: 503, Reason: "ServiceUnavailable"})
	a := apnsPost(t, f.Client(), f.URL+"/3/device/"+APNSTestDeviceToken(t), bearer, apnsAlertHeaders(), apnsAlertBody)
	if a.status != 503 || a.reason != "ServiceUnavailable" || a.retryAfter != "" {
		t.Errorf("got %d %q Retry-After %q, want 503 ServiceUnavailable and no Retry-After", a.status, a.reason, a.retryAfter)
	}
}

func TestAPNSFailAll(t *testing.T) {
	f, _, bearer := apnsSignedFake(t)
	token := APNSTestDeviceToken(t)
	f.FailAll(APNSReply{Status: 429, Reason: "TooManyRequests", RetryAfter: time.Second}, APNSReply{Status: 503, Reason: "ServiceUnavailable"})
	for i, want := range []int{429, 503, 429, 503} {
		if a := apnsPost(t, f.Client(), f.URL+"/3/device/"+token, bearer, apnsAlertHeaders(), apnsAlertBody); a.status != want {
			t.Errorf("request %d during the outage: %d %q, want %d", i, a.status, a.reason, want)
		}
	}
	f.FailAll()
	if a := apnsPost(t, f.Client(), f.URL+"/3/device/"+token, bearer, apnsAlertHeaders(), apnsAlertBody); a.status != 200 {
		t.Errorf("after the outage: %d %q, want 200", a.status, a.reason)
	}
	if c := f.Counts(); c.Accepted != 1 || c.ByReason["TooManyRequests"] != 2 || c.ByReason["ServiceUnavailable"] != 2 {
		t.Errorf("counts %+v", c)
	}
}

func TestAPNSClientCertificate(t *testing.T) {
	f := NewAPNS(t)
	trusted := APNSTestCert(t, "com.example.app")
	f.TrustClientCert(trusted.Cert)
	untrusted := APNSTestCert(t, "com.example.app")

	clientWith := func(c *APNSCert) *http.Client {
		pair, err := tls.X509KeyPair([]byte(c.CertPEM), []byte(c.KeyPEM))
		if err != nil {
			t.Fatal(err)
		}
		tr := &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: f.CertPool(), Certificates: []tls.Certificate{pair}},
			ForceAttemptHTTP2: true,
		}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	url := f.URL + "/3/device/" + APNSTestDeviceToken(t)

	a := apnsPost(t, clientWith(trusted), url, "", apnsAlertHeaders(), apnsAlertBody)
	if a.status != 200 {
		t.Fatalf("trusted certificate: %d %q, want 200", a.status, a.reason)
	}
	if d := f.Delivered(); len(d) != 1 || d[0].CertSubject != "Apple Push Services: com.example.app" || d[0].KeyID != "" {
		t.Errorf("recorded %+v, want the certificate's subject and no key id", d)
	}
	a = apnsPost(t, clientWith(untrusted), url, "", apnsAlertHeaders(), apnsAlertBody)
	if a.status != 403 || a.reason != "BadCertificate" {
		t.Errorf("untrusted certificate: %d %q, want 403 BadCertificate", a.status, a.reason)
	}
	a = apnsPost(t, f.Client(), url, "", apnsAlertHeaders(), apnsAlertBody)
	if a.status != 403 || a.reason != "MissingProviderToken" {
		t.Errorf("no certificate: %d %q, want 403 MissingProviderToken", a.status, a.reason)
	}
}

func TestAPNSTopics(t *testing.T) {
	f, _, bearer := apnsSignedFake(t)
	f.AllowTopics("com.example.app")
	url := f.URL + "/3/device/" + APNSTestDeviceToken(t)
	h := apnsAlertHeaders()
	h["apns-topic"] = "com.example.other"
	if a := apnsPost(t, f.Client(), url, bearer, h, apnsAlertBody); a.status != 400 || a.reason != "TopicDisallowed" {
		t.Errorf("other topic: %d %q, want 400 TopicDisallowed", a.status, a.reason)
	}
	if a := apnsPost(t, f.Client(), url, bearer, apnsAlertHeaders(), apnsAlertBody); a.status != 200 {
		t.Errorf("allowed topic: %d %q, want 200", a.status, a.reason)
	}
}

func TestAPNSCountsWithoutKeeping(t *testing.T) {
	f, _, bearer := apnsSignedFake(t)
	f.SetCountOnly(true)
	for range 3 {
		apnsPost(t, f.Client(), f.URL+"/3/device/"+APNSTestDeviceToken(t), bearer, apnsAlertHeaders(), apnsAlertBody)
	}
	if f.Counts().Accepted != 3 {
		t.Errorf("accepted %d, want 3", f.Counts().Accepted)
	}
	if n := len(f.Delivered()); n != 0 {
		t.Errorf("kept %d requests with keeping off", n)
	}
}

func TestAPNSLatencyHoldsTheAnswer(t *testing.T) {
	f, _, bearer := apnsSignedFake(t)
	f.SetLatency(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.URL+"/3/device/"+APNSTestDeviceToken(t), strings.NewReader(apnsAlertBody))
	req.Header.Set("authorization", "bearer "+bearer)
	for k, v := range apnsAlertHeaders() {
		req.Header.Set(k, v)
	}
	resp, err := f.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d before an hour of latency passed", resp.StatusCode)
	}
	if f.Counts().Accepted != 0 {
		t.Error("counted a request whose client gave up as accepted")
	}
}
