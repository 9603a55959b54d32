package providertest_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/errorutils"
	"firebase.google.com/go/v4/messaging"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	oauthjwt "golang.org/x/oauth2/jwt"
	"google.golang.org/api/option"

	"github.com/pushgate/pushgate/providers/providertest"
)

type fcmServiceAccount struct {
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

func fcmParseAccount(t *testing.T, b []byte) fcmServiceAccount {
	t.Helper()
	var sa fcmServiceAccount
	if err := json.Unmarshal(b, &sa); err != nil {
		t.Fatal(err)
	}
	return sa
}

// fcmAccessToken gets an access token the way Google's client libraries do.
func fcmAccessToken(t *testing.T, saJSON []byte) (*oauth2.Token, error) {
	t.Helper()
	sa := fcmParseAccount(t, saJSON)
	conf := &oauthjwt.Config{
		Email: sa.ClientEmail, PrivateKey: []byte(sa.PrivateKey), PrivateKeyID: sa.PrivateKeyID,
		Scopes: []string{"https://www.googleapis.com/auth/firebase.messaging"}, TokenURL: sa.TokenURI,
	}
	return conf.TokenSource(context.Background()).Token()
}

type fcmAnswer struct {
	status int
	header http.Header
	body   map[string]any
}

func fcmPost(t *testing.T, ctx context.Context, fake *providertest.FCMFake, project, bearer, body string) (fcmAnswer, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fake.URL+"/v1/projects/"+project+"/messages:send", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fcmAnswer{}, err
	}
	defer resp.Body.Close()
	a := fcmAnswer{status: resp.StatusCode, header: resp.Header}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &a.body); err != nil {
		t.Fatalf("answer %d is not JSON: %s", resp.StatusCode, b)
	}
	return a, nil
}

// fcmErrorOf returns the google.rpc status and the FcmError code of an
// error answer.
func fcmErrorOf(a fcmAnswer) (status, errorCode string) {
	e, _ := a.body["error"].(map[string]any)
	status, _ = e["status"].(string)
	details, _ := e["details"].([]any)
	for _, d := range details {
		d, _ := d.(map[string]any)
		if d["@type"] == "type.googleapis.com/google.firebase.fcm.v1.FcmError" {
			errorCode, _ = d["errorCode"].(string)
		}
	}
	return status, errorCode
}

func fcmSilent(token string) string {
	return `{"message":{"token":"` + token + `","data":{"k":"v"},"android":{"priority":"high","ttl":"60s"}}}`
}

func TestFCMTokenEndpoint(t *testing.T) {
	fake := providertest.NewFCM(t)
	saJSON := fake.ServiceAccountJSON("shop-app")
	tok, err := fcmAccessToken(t, saJSON)
	if err != nil {
		t.Fatalf("a trusted service account got no token: %v", err)
	}
	if tok.AccessToken == "" || tok.Type() != "Bearer" || time.Until(tok.Expiry) < 50*time.Minute {
		t.Errorf("token %+v, want a bearer token valid for an hour", tok)
	}

	sa := fcmParseAccount(t, saJSON)
	block, _ := pem.Decode([]byte(sa.PrivateKey))
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	other := fcmParseAccount(t, fake.UntrustedServiceAccountJSON("shop-app"))
	otherBlock, _ := pem.Decode([]byte(other.PrivateKey))
	otherKey, _ := x509.ParsePKCS8PrivateKey(otherBlock.Bytes)

	now := time.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": sa.ClientEmail, "aud": sa.TokenURI, "scope": "https://www.googleapis.com/auth/cloud-platform",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	sign := func(claims jwt.MapClaims, kid string, k any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name      string
		grantType string
		assertion string
		want      string // "" when the token must be issued
	}{
		{"cloud-platform scope", "", sign(good(), sa.PrivateKeyID, key), ""},
		{"no kid, found by iss", "", sign(good(), "", key), ""},
		{"wrong grant type", "client_credentials", sign(good(), sa.PrivateKeyID, key), "unsupported_grant_type"},
		{"no assertion", "", "", "invalid_grant"},
		{"signed by another key", "", sign(good(), sa.PrivateKeyID, otherKey), "invalid_grant"},
		{"unknown key", "", sign(with("iss", other.ClientEmail), other.PrivateKeyID, otherKey), "invalid_grant"},
		{"iss of another account", "", sign(with("iss", "someone@else.iam.gserviceaccount.com"), sa.PrivateKeyID, key), "invalid_grant"},
		{"wrong audience", "", sign(with("aud", "https://oauth2.googleapis.com/token"), sa.PrivateKeyID, key), "invalid_grant"},
		{"no FCM scope", "", sign(with("scope", "https://www.googleapis.com/auth/devstorage.read_only"), sa.PrivateKeyID, key), "invalid_grant"},
		{"expired", "", sign(with("exp", now.Add(-time.Hour).Unix()), sa.PrivateKeyID, key), "invalid_grant"},
		{"no exp", "", sign(with("exp", nil), sa.PrivateKeyID, key), "invalid_grant"},
		{"longer than an hour", "", sign(with("exp", now.Add(3*time.Hour).Unix()), sa.PrivateKeyID, key), "invalid_grant"},
		{"HS256", "", func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, good()).SignedString([]byte("secret"))
			return s
		}(), "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {tt.assertion}}
			if tt.grantType != "" {
				form.Set("grant_type", tt.grantType)
			}
			resp, err := http.PostForm(fake.URL+"/token", form)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if tt.want == "" {
				if resp.StatusCode != 200 || body["access_token"] == "" || body["token_type"] != "Bearer" || body["expires_in"] != 3600.0 {
					t.Errorf("answer %d %v, want a bearer token for 3600 s", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != 400 || body["error"] != tt.want {
				t.Errorf("answer %d %v, want 400 %s", resp.StatusCode, body, tt.want)
			}
		})
	}
}

func TestFCMSendNeedsAnAccessTokenOfTheProject(t *testing.T) {
	fake := providertest.NewFCM(t)
	tok, err := fcmAccessToken(t, fake.ServiceAccountJSON("shop-app"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name, project, bearer string
		status                int
		code                  string
	}{
		{"no token", "shop-app", "", 401, "UNAUTHENTICATED"},
		{"unknown token", "shop-app", "ya29.made-up", 401, "UNAUTHENTICATED"},
		{"another project", "other-app", tok.AccessToken, 403, "PERMISSION_DENIED"},
		{"its project", "shop-app", tok.AccessToken, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := fcmPost(t, ctx, fake, tt.project, tt.bearer, fcmSilent("tok-1"))
			if err != nil {
				t.Fatal(err)
			}
			if status, _ := fcmErrorOf(a); a.status != tt.status || status != tt.code {
				t.Fatalf("answer %d %v, want %d %s", a.status, a.body, tt.status, tt.code)
			}
			if tt.status == 200 && !strings.HasPrefix(fmt.Sprint(a.body["name"]), "projects/shop-app/messages/") {
				t.Errorf("name %v, want projects/shop-app/messages/...", a.body["name"])
			}
		})
	}
	if n := len(fake.Delivered()); n != 1 {
		t.Errorf("%d messages recorded, want only the authorized one", n)
	}
}

func TestFCMSendChecksTheMessage(t *testing.T) {
	fake := providertest.NewFCM(t)
	tok, err := fcmAccessToken(t, fake.ServiceAccountJSON("shop-app"))
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 4100)
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"full message", `{"message":{"token":"t1","notification":{"title":"T","body":"B","image":"https://i.example/a.png"},` +
			`"data":{"a":"1"},"android":{"collapse_key":"c","priority":"normal","ttl":"3.5s",` +
			`"notification":{"channel_id":"ch","icon":"ic","sound":"s","tag":"t","notification_count":2,"color":"#aabbcc"}}}}`, true},
		{"topic", `{"message":{"topic":"news","data":{"a":"1"}}}`, true},
		{"validate only", `{"validate_only":true,"message":{"token":"t2"}}`, true},
		{"not JSON", `{"message":`, false},
		{"no message", `{}`, false},
		{"no target", `{"message":{"data":{"a":"1"}}}`, false},
		{"two targets", `{"message":{"token":"t","topic":"news"}}`, false},
		{"malformed token", `{"message":{"token":"not a token"}}`, false},
		{"unknown field", `{"message":{"token":"t","priority":"high"}}`, false},
		{"unknown android field", `{"message":{"token":"t","android":{"time_to_live":60}}}`, false},
		{"number in data", `{"message":{"token":"t","data":{"n":1}}}`, false},
		{"object in android.data", `{"message":{"token":"t","android":{"data":{"o":{}}}}}`, false},
		{"reserved data key", `{"message":{"token":"t","data":{"google.x":"1"}}}`, false},
		{"ttl without unit", `{"message":{"token":"t","android":{"ttl":"3600"}}}`, false},
		{"ttl as a number", `{"message":{"token":"t","android":{"ttl":3600}}}`, false},
		{"ttl over four weeks", `{"message":{"token":"t","android":{"ttl":"2419201s"}}}`, false},
		{"bad priority", `{"message":{"token":"t","android":{"priority":"urgent"}}}`, false},
		{"too big", `{"message":{"token":"t","data":{"blob":"` + big + `"}}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := fcmPost(t, context.Background(), fake, "shop-app", tok.AccessToken, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			status, code := fcmErrorOf(a)
			if tt.ok {
				if a.status != 200 {
					t.Errorf("answer %d %v, want 200", a.status, a.body)
				}
				return
			}
			if a.status != 400 || status != "INVALID_ARGUMENT" || code != "INVALID_ARGUMENT" {
				t.Errorf("answer %d %v, want 400 INVALID_ARGUMENT with an FcmError detail", a.status, a.body)
			}
		})
	}
	msgs := fake.DeliveredTo("t1")
	if len(msgs) != 1 {
		t.Fatalf("%d messages to t1, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Android == nil || m.Android.TTL != "3.5s" || m.Android.Notification == nil || *m.Android.Notification.NotificationCount != 2 || m.Data["a"] != "1" {
		t.Errorf("recorded %+v", m)
	}
	var raw map[string]any
	if err := json.Unmarshal(m.JSON, &raw); err != nil || raw["token"] != "t1" {
		t.Errorf("recorded JSON %s", m.JSON)
	}
	if c := fake.Counts(); c.Accepted != 2 {
		t.Errorf("accepted %d, want 2: validate_only sends are checked, not accepted", c.Accepted)
	}
}

// TestFCMAnswersSuitTheAdminSDK sends with the Admin SDK, authenticating
// from the service-account JSON by itself, and checks that its error
// predicates recognize each scripted answer.
func TestFCMAnswersSuitTheAdminSDK(t *testing.T) {
	fake := providertest.NewFCM(t)
	ctx := context.Background()
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: "shop-app"},
		option.WithAuthCredentialsJSON(option.ServiceAccount, fake.ServiceAccountJSON("shop-app")),
		option.WithEndpoint(fake.URL+"/v1"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := app.Messaging(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := func(tok string) error {
		_, err := client.Send(ctx, &messaging.Message{Token: tok, Data: map[string]string{"k": "v"}})
		return err
	}
	if err := send("healthy"); err != nil {
		t.Fatalf("the SDK could not send: %v", err)
	}
	tests := []struct {
		answer *providertest.FCMError
		is     func(error) bool
		name   string
	}{
		{providertest.FCMUnregistered(), messaging.IsUnregistered, "IsUnregistered"},
		{providertest.FCMInvalidRegistration(), messaging.IsInvalidArgument, "IsInvalidArgument"},
		{providertest.FCMSenderIDMismatch(), messaging.IsSenderIDMismatch, "IsSenderIDMismatch"},
		{providertest.FCMQuotaExceeded(7 * time.Second), messaging.IsQuotaExceeded, "IsQuotaExceeded"},
		{providertest.FCMInternal(), messaging.IsInternal, "IsInternal"},
		{providertest.FCMThirdPartyAuthError(), messaging.IsThirdPartyAuthError, "IsThirdPartyAuthError"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := fmt.Sprintf("scripted-%d", i)
			fake.FailToken(tok, tt.answer)
			err := send(tok)
			if !tt.is(err) {
				t.Fatalf("%s(%v) is false", tt.name, err)
			}
			resp := errorutils.HTTPResponse(err)
			if resp == nil || resp.StatusCode != tt.answer.Status {
				t.Fatalf("HTTP response %v, want status %d", resp, tt.answer.Status)
			}
			if want := tt.answer.RetryAfter; want > 0 && resp.Header.Get("Retry-After") != fmt.Sprint(int(want.Seconds())) {
				t.Errorf("Retry-After %q, want %v", resp.Header.Get("Retry-After"), want)
			}
			fake.ClearToken(tok)
			if err := send(tok); err != nil {
				t.Errorf("after ClearToken: %v", err)
			}
		})
	}
}

func TestFCMFailNextQueues(t *testing.T) {
	fake := providertest.NewFCM(t)
	tok, err := fcmAccessToken(t, fake.ServiceAccountJSON("shop-app"))
	if err != nil {
		t.Fatal(err)
	}
	fake.FailNext(1, providertest.FCMInternal())
	fake.FailNext(2, providertest.FCMQuotaExceeded(3*time.Second))
	want := []struct {
		status     int
		retryAfter string
	}{{500, ""}, {429, "3"}, {429, "3"}, {200, ""}}
	for i, w := range want {
		a, err := fcmPost(t, context.Background(), fake, "shop-app", tok.AccessToken, fcmSilent(fmt.Sprint("tok-", i)))
		if err != nil {
			t.Fatal(err)
		}
		if a.status != w.status || a.header.Get("Retry-After") != w.retryAfter {
			t.Errorf("send %d: %d Retry-After %q, want %d %q", i, a.status, a.header.Get("Retry-After"), w.status, w.retryAfter)
		}
	}
	if c := fake.Counts(); c.Requests != 4 || c.Accepted != 1 || c.Rejected != 3 {
		t.Errorf("counts %+v", c)
	}
}

func TestFCMRecordsConcurrentSends(t *testing.T) {
	fake := providertest.NewFCM(t)
	tok, err := fcmAccessToken(t, fake.ServiceAccountJSON("shop-app"))
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 20, 25
	run := func(prefix string) {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					a, err := fcmPost(t, context.Background(), fake, "shop-app", tok.AccessToken, fcmSilent(fmt.Sprintf("%s-%d-%d", prefix, w, i)))
					if err != nil || a.status != 200 {
						t.Errorf("send: %v %v", err, a.body)
					}
				}
			})
		}
		wg.Wait()
	}
	run("rec")
	if n := len(fake.Delivered()); n != workers*each {
		t.Fatalf("%d messages recorded, want %d", n, workers*each)
	}
	if got := fake.DeliveredTo("rec-3-7"); len(got) != 1 || got[0].Data["k"] != "v" || got[0].Project != "shop-app" {
		t.Errorf("DeliveredTo = %+v", got)
	}

	fake.SetCountOnly(true)
	run("count")
	if n := len(fake.Delivered()); n != workers*each {
		t.Errorf("%d messages recorded while counting only, want still %d", n, workers*each)
	}
	if c := fake.Counts(); c.Accepted != 2*workers*each || c.Requests != 2*workers*each {
		t.Errorf("counts %+v, want %d accepted", c, 2*workers*each)
	}
}

func TestFCMLatency(t *testing.T) {
	fake := providertest.NewFCM(t)
	tok, err := fcmAccessToken(t, fake.ServiceAccountJSON("shop-app"))
	if err != nil {
		t.Fatal(err)
	}
	fake.SetLatency(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := fcmPost(t, ctx, fake, "shop-app", tok.AccessToken, fcmSilent("slow")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a send under a minute of latency returned %v before a 100 ms deadline", err)
	}
	fake.SetLatency(0)
	if a, err := fcmPost(t, context.Background(), fake, "shop-app", tok.AccessToken, fcmSilent("fast")); err != nil || a.status != 200 {
		t.Errorf("without latency: %v %v", err, a.body)
	}
	if len(fake.DeliveredTo("slow")) != 0 {
		t.Error("the abandoned send was recorded")
	}
}

// BenchmarkFCMFakeSend measures the fake alone, answering checked sends
// while counting only, as a load test would use it.
func BenchmarkFCMFakeSend(b *testing.B) {
	fake := providertest.NewFCM(b)
	fake.SetCountOnly(true)
	var sa fcmServiceAccount
	if err := json.Unmarshal(fake.ServiceAccountJSON("bench-app"), &sa); err != nil {
		b.Fatal(err)
	}
	tok, err := (&oauthjwt.Config{Email: sa.ClientEmail, PrivateKey: []byte(sa.PrivateKey), PrivateKeyID: sa.PrivateKeyID,
		Scopes: []string{"https://www.googleapis.com/auth/firebase.messaging"}, TokenURL: sa.TokenURI}).TokenSource(context.Background()).Token()
	if err != nil {
		b.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	body := `{"message":{"token":"bench-token","notification":{"title":"Sale","body":"50% off"},` +
		`"data":{"messageId":"0192f0c4-7a1e-7cc2-9d1a-1b2c3d4e5f60","contextId":"0192f0c4-7a1e-7cc2-9d1a-1b2c3d4e5f61"},` +
		`"android":{"priority":"high","ttl":"2419200s","notification":{"channel_id":"promo"}}}}`
	endpoint := fake.URL + "/v1/projects/bench-app/messages:send"
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	if got := fake.Counts().Accepted; got < int64(b.N) {
		b.Errorf("accepted %d of %d", got, b.N)
	}
}
