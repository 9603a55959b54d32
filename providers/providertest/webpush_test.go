package providertest

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/SherClockHolmes/webpush-go"
	"github.com/golang-jwt/jwt/v5"
)

// webPushTestKeys is a VAPID key pair in the encodings credentials use.
type webPushTestKeys struct {
	priv *ecdsa.PrivateKey
	pub  string // base64url
	d    string // base64url
}

func webPushNewKeys(t testing.TB) webPushTestKeys {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := k.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	d, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return webPushTestKeys{priv: k, pub: base64.RawURLEncoding.EncodeToString(pub), d: base64.RawURLEncoding.EncodeToString(d)}
}

// webPushRecorder is a webpush.HTTPClient that keeps the request instead of
// sending it, so tests can replay it with one thing changed.
type webPushRecorder struct {
	req  *http.Request
	body []byte
}

func (r *webPushRecorder) Do(req *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	r.req, r.body = req, b
	return &http.Response{StatusCode: http.StatusCreated, Body: io.NopCloser(strings.NewReader(""))}, nil
}

// webPushPrepare has webpush-go build a request to sub without sending it.
func webPushPrepare(t testing.TB, sub WebPushSubscription, keys webPushTestKeys, msg []byte) (*http.Request, []byte) {
	t.Helper()
	rec := &webPushRecorder{}
	resp, err := webpush.SendNotification(msg, &webpush.Subscription{Endpoint: sub.Endpoint, Keys: webpush.Keys{P256dh: sub.P256dh, Auth: sub.Auth}},
		&webpush.Options{HTTPClient: rec, Subscriber: "ops@pushgate.test", VAPIDPublicKey: keys.pub, VAPIDPrivateKey: keys.d, TTL: 60, Urgency: webpush.UrgencyHigh, Topic: "sale"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return rec.req, rec.body
}

// webPushReplay posts body with req's headers, after edit changes them.
func webPushReplay(t testing.TB, req *http.Request, body []byte, edit func(http.Header)) int {
	t.Helper()
	out, err := http.NewRequest(http.MethodPost, req.URL.String(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out.Header = req.Header.Clone()
	if edit != nil {
		edit(out.Header)
	}
	resp, err := http.DefaultClient.Do(out)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestWebPushDecryptsWhatWebpushGoSends(t *testing.T) {
	f := NewWebPush(t)
	keys := webPushNewKeys(t)
	a, b := f.NewSubscription(), f.NewSubscription()
	msg := []byte(`{"title":"Sale","body":"50% off"}`)
	for _, sub := range []WebPushSubscription{a, b} {
		resp, err := webpush.SendNotification(msg, &webpush.Subscription{Endpoint: sub.Endpoint, Keys: webpush.Keys{P256dh: sub.P256dh, Auth: sub.Auth}},
			&webpush.Options{Subscriber: "ops@pushgate.test", VAPIDPublicKey: keys.pub, VAPIDPrivateKey: keys.d, TTL: 3600, Urgency: webpush.UrgencyHigh, Topic: "sale"})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("status %d, want 201", resp.StatusCode)
		}
	}
	got := f.DeliveredTo(b)
	if len(got) != 1 {
		t.Fatalf("%d deliveries to b, want 1", len(got))
	}
	d := got[0]
	if !bytes.Equal(d.Payload, msg) {
		t.Errorf("payload %q, want %q", d.Payload, msg)
	}
	if d.TTL != 3600 || d.Urgency != "high" || d.Topic != "sale" || d.VAPIDKey != keys.pub || d.Subject != "mailto:ops@pushgate.test" {
		t.Errorf("delivery %+v: headers or VAPID not as sent", d)
	}
	if d.Subscription != b {
		t.Errorf("delivery names subscription %+v, want %+v", d.Subscription, b)
	}
	if len(d.Body) != 4096 {
		t.Errorf("encrypted body is %d bytes; webpush-go pads to 4096", len(d.Body))
	}
	if c := f.Counts(); c.Requests != 2 || c.Accepted != 2 {
		t.Errorf("counts %+v, want 2 requests, 2 delivered", c)
	}
}

func TestWebPushRefusesBadVAPID(t *testing.T) {
	f := NewWebPush(t)
	keys, other := webPushNewKeys(t), webPushNewKeys(t)
	sub := f.NewSubscription()
	req, body := webPushPrepare(t, sub, keys, []byte("hello"))

	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"aud": f.URL, "exp": time.Now().Add(time.Hour).Unix(), "sub": "mailto:ops@pushgate.test"}
	}
	with := func(k, v string) jwt.MapClaims {
		c := good()
		if v == "" {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	header := func(token, k string) func(http.Header) {
		return func(h http.Header) { h.Set("Authorization", "vapid t="+token+", k="+k) }
	}
	tests := []struct {
		name string
		edit func(http.Header)
		want int
	}{
		{"as webpush-go signed it", nil, http.StatusCreated},
		{"own token", header(sign(jwt.SigningMethodES256, keys.priv, good()), keys.pub), http.StatusCreated},
		{"no Authorization", func(h http.Header) { h.Del("Authorization") }, http.StatusUnauthorized},
		{"another scheme", func(h http.Header) { h.Set("Authorization", "Bearer x") }, http.StatusUnauthorized},
		{"no k", func(h http.Header) {
			h.Set("Authorization", "vapid t="+sign(jwt.SigningMethodES256, keys.priv, good()))
		}, http.StatusUnauthorized},
		{"signed by another key", header(sign(jwt.SigningMethodES256, other.priv, good()), keys.pub), http.StatusForbidden},
		{"k of another key", header(sign(jwt.SigningMethodES256, keys.priv, good()), other.pub), http.StatusForbidden},
		{"HS256", header(sign(jwt.SigningMethodHS256, []byte("secret"), good()), keys.pub), http.StatusForbidden},
		{"aud of another origin", header(sign(jwt.SigningMethodES256, keys.priv, with("aud", "https://fcm.googleapis.com")), keys.pub), http.StatusForbidden},
		{"no exp", header(sign(jwt.SigningMethodES256, keys.priv, with("exp", "")), keys.pub), http.StatusForbidden},
		{"expired", header(sign(jwt.SigningMethodES256, keys.priv, jwt.MapClaims{"aud": f.URL, "exp": time.Now().Add(-time.Minute).Unix(), "sub": "mailto:a@b.c"}), keys.pub), http.StatusForbidden},
		{"exp past 24 h", header(sign(jwt.SigningMethodES256, keys.priv, jwt.MapClaims{"aud": f.URL, "exp": time.Now().Add(25 * time.Hour).Unix(), "sub": "mailto:a@b.c"}), keys.pub), http.StatusForbidden},
		{"no sub", header(sign(jwt.SigningMethodES256, keys.priv, with("sub", "")), keys.pub), http.StatusForbidden},
		{"sub mailto:mailto:", header(sign(jwt.SigningMethodES256, keys.priv, with("sub", "mailto:mailto:ops@pushgate.test")), keys.pub), http.StatusForbidden},
		{"sub https", header(sign(jwt.SigningMethodES256, keys.priv, with("sub", "https://pushgate.test/contact")), keys.pub), http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := webPushReplay(t, req, body, tt.edit); got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
		})
	}
}

func TestWebPushRefusesBadMessages(t *testing.T) {
	f := NewWebPush(t)
	keys := webPushNewKeys(t)
	sub := f.NewSubscription()
	req, body := webPushPrepare(t, sub, keys, []byte("hello"))
	tampered := bytes.Clone(body)
	tampered[len(tampered)-1] ^= 1
	otherSub := f.NewSubscription()
	_, forOther := webPushPrepare(t, otherSub, keys, []byte("hello"))

	tests := []struct {
		name string
		body []byte
		edit func(http.Header)
		want int
	}{
		{"unchanged", body, nil, http.StatusCreated},
		{"no TTL", body, func(h http.Header) { h.Del("TTL") }, http.StatusBadRequest},
		{"negative TTL", body, func(h http.Header) { h.Set("TTL", "-1") }, http.StatusBadRequest},
		{"aesgcm encoding", body, func(h http.Header) { h.Set("Content-Encoding", "aesgcm") }, http.StatusBadRequest},
		{"bad Urgency", body, func(h http.Header) { h.Set("Urgency", "urgent") }, http.StatusBadRequest},
		{"bad Topic", body, func(h http.Header) { h.Set("Topic", "has spaces") }, http.StatusBadRequest},
		{"empty Topic", body, func(h http.Header) { h.Set("Topic", "") }, http.StatusBadRequest},
		{"Topic of 33 characters", body, func(h http.Header) { h.Set("Topic", strings.Repeat("a", 33)) }, http.StatusBadRequest},
		{"two Topics", body, func(h http.Header) { h.Add("Topic", "other") }, http.StatusBadRequest},
		{"tampered body", tampered, nil, http.StatusBadRequest},
		{"encrypted for another subscriber", forOther, nil, http.StatusBadRequest},
		{"body over 4096 bytes", append(bytes.Clone(body), 0), nil, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := webPushReplay(t, req, tt.body, tt.edit); got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
		})
	}
	if n := len(f.Delivered()); n != 1 {
		t.Errorf("%d deliveries recorded, want only the unchanged one", n)
	}
}

func TestWebPushScriptedAnswers(t *testing.T) {
	f := NewWebPush(t)
	keys := webPushNewKeys(t)
	gone, forgotten, alive := f.NewSubscription(), f.NewSubscription(), f.NewSubscription()
	restricted := f.NewSubscriptionFor(webPushNewKeys(t).pub)
	f.Unregister(gone)
	f.Forget(forgotten)

	send := func(sub WebPushSubscription) (int, string) {
		resp, err := webpush.SendNotification([]byte("x"), &webpush.Subscription{Endpoint: sub.Endpoint, Keys: webpush.Keys{P256dh: sub.P256dh, Auth: sub.Auth}},
			&webpush.Options{Subscriber: "ops@pushgate.test", VAPIDPublicKey: keys.pub, VAPIDPrivateKey: keys.d, TTL: 60})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	if got, _ := send(gone); got != http.StatusGone {
		t.Errorf("gone subscription: %d, want 410", got)
	}
	if got, _ := send(forgotten); got != http.StatusNotFound {
		t.Errorf("forgotten subscription: %d, want 404", got)
	}
	if got, _ := send(restricted); got != http.StatusForbidden {
		t.Errorf("subscription of another applicationServerKey: %d, want 403", got)
	}
	unknown := alive
	unknown.Endpoint = f.URL + "/push/nobody"
	if got, _ := send(unknown); got != http.StatusNotFound {
		t.Errorf("unknown subscription: %d, want 404", got)
	}

	f.FailNext(2, WebPushReply{Status: http.StatusTooManyRequests, RetryAfter: "7"})
	f.FailNext(1, WebPushReply{Status: http.StatusServiceUnavailable})
	for i, want := range []struct {
		status     int
		retryAfter string
	}{{429, "7"}, {429, "7"}, {503, ""}, {201, ""}} {
		status, ra := send(alive)
		if status != want.status || ra != want.retryAfter {
			t.Errorf("push %d: %d Retry-After %q, want %d %q", i, status, ra, want.status, want.retryAfter)
		}
	}
	c := f.Counts()
	if c.ByStatus[429] != 2 || c.ByStatus[503] != 1 || c.ByStatus[410] != 1 || c.ByStatus[404] != 2 || c.Accepted != 1 {
		t.Errorf("counts by status %v", c.ByStatus)
	}
}

func TestWebPushCountOnlyUnderLoad(t *testing.T) {
	f := NewWebPush(t)
	f.SetCountOnly(true)
	keys := webPushNewKeys(t)
	subs := []WebPushSubscription{f.NewSubscription(), f.NewSubscription()}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			sub := subs[i%2]
			resp, err := webpush.SendNotification([]byte("load"), &webpush.Subscription{Endpoint: sub.Endpoint, Keys: webpush.Keys{P256dh: sub.P256dh, Auth: sub.Auth}},
				&webpush.Options{Subscriber: "ops@pushgate.test", VAPIDPublicKey: keys.pub, VAPIDPrivateKey: keys.d, TTL: 60})
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	if c := f.Counts(); c.Accepted != 40 || c.Requests != 40 {
		t.Errorf("counts %+v, want 40 delivered", c)
	}
	if n := len(f.Delivered()); n != 0 {
		t.Errorf("%d deliveries kept in counts-only mode", n)
	}
}

// TestWebPushCapturesDecryptElsewhere decrypts written captures with only
// what the files hold, as the npm http_ece test does.
func TestWebPushCapturesDecryptElsewhere(t *testing.T) {
	f := NewWebPush(t)
	keys := webPushNewKeys(t)
	sub := f.NewSubscription()
	req, body := webPushPrepare(t, sub, keys, []byte(`{"title":"captured"}`))
	if got := webPushReplay(t, req, body, nil); got != http.StatusCreated {
		t.Fatalf("status %d", got)
	}
	paths, err := f.WriteCaptures(t.TempDir())
	if err != nil || len(paths) != 1 {
		t.Fatalf("WriteCaptures: %v, %d files", err, len(paths))
	}
	raw, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	var c WebPushCapture
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	d, _ := base64.RawURLEncoding.DecodeString(c.PrivateKey)
	priv, err := ecdh.P256().NewPrivateKey(d)
	if err != nil {
		t.Fatalf("privateKey is not a raw P-256 scalar: %v", err)
	}
	if got := base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()); got != c.PublicKey || got != sub.P256dh {
		t.Errorf("publicKey %q does not match the private key", c.PublicKey)
	}
	auth, _ := base64.RawURLEncoding.DecodeString(c.AuthSecret)
	enc, _ := base64.StdEncoding.DecodeString(c.Body)
	plain, err := webPushDecrypt(enc, &webPushSubscriber{priv: priv, pub: priv.PublicKey().Bytes(), auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := base64.StdEncoding.DecodeString(c.Payload)
	if string(plain) != `{"title":"captured"}` || !bytes.Equal(plain, want) {
		t.Errorf("decrypted %q, payload field %q", plain, want)
	}
}

func FuzzWebPushDecrypt(f *testing.F) {
	fake := NewWebPush(f)
	sub := fake.NewSubscription()
	_, body := webPushPrepare(f, sub, webPushNewKeys(f), []byte("seed"))
	f.Add(body)
	f.Add(body[:100])
	f.Add([]byte{})
	fake.mu.Lock()
	s := fake.subs[sub.ID]
	fake.mu.Unlock()
	f.Fuzz(func(t *testing.T, b []byte) {
		plain, err := webPushDecrypt(b, s)
		if err == nil && bytes.Equal(b, body) && string(plain) != "seed" {
			t.Errorf("seed decrypted to %q", plain)
		}
	})
}

// BenchmarkWebPushFake is the fake's own cost per push (VAPID verification,
// decryption, counting), replaying one request webpush-go built; its
// pushes/s is the most a load test through it can reach on this machine.
func BenchmarkWebPushFake(b *testing.B) {
	f := NewWebPush(b)
	f.SetCountOnly(true)
	req, body := webPushPrepare(b, f.NewSubscription(), webPushNewKeys(b), []byte(`{"title":"load"}`))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			out, _ := http.NewRequest(http.MethodPost, req.URL.String(), bytes.NewReader(body))
			out.Header = req.Header.Clone()
			resp, err := client.Do(out)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pushes/s")
	if c := f.Counts(); c.Accepted != int64(b.N) {
		b.Errorf("%d of %d pushes delivered", c.Accepted, b.N)
	}
}
