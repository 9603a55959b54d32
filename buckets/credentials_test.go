package buckets

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

func TestParseCreateRequestAcceptsEveryForm(t *testing.T) {
	f := mustFixtures(t)
	sa := f.serviceAccount(nil)
	saJSON, _ := json.Marshal(sa)
	saIndented, _ := json.MarshalIndent(sa, "", "  ")
	wrapped := func(lines string, width int) string {
		var b strings.Builder
		for len(lines) > width {
			b.WriteString(lines[:width] + "\n")
			lines = lines[width:]
		}
		return b.String() + lines
	}

	tests := []struct {
		name  string
		cred  obj
		opts  func(*ParseOptions)
		check func(t *testing.T, c *Credential)
	}{
		{
			name: "apns_token with PEM key",
			cred: f.apnsToken(nil),
			check: func(t *testing.T, c *Credential) {
				want := APNSTokenCredential{Key: f.p8PEM, KeyID: "ABC123DEFG", TeamID: "TEAM123456", Topic: testBundleID, Production: true}
				if c.APNSToken == nil || *c.APNSToken != want {
					t.Errorf("got %+v, want %+v", c.APNSToken, want)
				}
			},
		},
		{
			name:  "apns_token with base64 PEM key",
			cred:  f.apnsToken(obj{"key": b64(f.p8PEM)}),
			check: apnsTokenKey(f.p8PEM),
		},
		{
			name:  "apns_token with escaped newlines in the key",
			cred:  f.apnsToken(obj{"key": strings.ReplaceAll(f.p8PEM, "\n", `\n`)}),
			check: apnsTokenKey(f.p8PEM),
		},
		{name: "apns_token production bool true", cred: f.apnsToken(obj{"production": true}), check: production(true)},
		{name: "apns_token production string false", cred: f.apnsToken(obj{"production": "false"}), check: production(false)},
		{name: "apns_token production bool false", cred: f.apnsToken(obj{"production": false}), check: production(false)},
		{name: "apns_token production upper-case string", cred: f.apnsToken(obj{"production": "TRUE"}), check: production(true)},
		{name: "apns_token production absent", cred: f.apnsToken(obj{"production": nil}), check: production(false)},
		{
			name:  "apns_token for Safari",
			cred:  f.apnsToken(obj{"appBundleId": nil, "websitePushId": "web.com.example"}),
			check: topic("web.com.example"),
		},
		{
			name:  "apns_token with an empty websitePushId beside appBundleId",
			cred:  f.apnsToken(obj{"websitePushId": ""}),
			check: topic(testBundleID),
		},
		{
			name: "apns_cert p12 takes its topic from the certificate UID",
			cred: f.apnsP12(nil),
			check: func(t *testing.T, c *Credential) {
				checkCertPair(t, c, f.certPEM)
				if c.APNSCert.Topic != testBundleID || !c.APNSCert.Production {
					t.Errorf("topic %q production %v, want %q true", c.APNSCert.Topic, c.APNSCert.Production, testBundleID)
				}
			},
		},
		{
			name:  "apns_cert legacy 3DES p12",
			cred:  f.apnsP12(obj{"p12": b64bytes(f.p12Legacy)}),
			check: func(t *testing.T, c *Credential) { checkCertPair(t, c, f.certPEM) },
		},
		{
			name:  "apns_cert p12 in unpadded base64url",
			cred:  f.apnsP12(obj{"p12": base64.RawURLEncoding.EncodeToString(f.p12)}),
			check: func(t *testing.T, c *Credential) { checkCertPair(t, c, f.certPEM) },
		},
		{
			name:  "apns_cert p12 base64 wrapped at 64 columns",
			cred:  f.apnsP12(obj{"p12": wrapped(b64bytes(f.p12), 64)}),
			check: func(t *testing.T, c *Credential) { checkCertPair(t, c, f.certPEM) },
		},
		{
			name:  "apns_cert p12 with an explicit bundle id",
			cred:  f.apnsP12(obj{"appBundleId": "com.example.other"}),
			check: topic("com.example.other"),
		},
		{
			name:  "apns_cert p12 with a website push id",
			cred:  f.apnsP12(obj{"websitePushId": "web.com.example"}),
			check: topic("web.com.example"),
		},
		{
			name:  "apns_cert p12 without UID but with a bundle id",
			cred:  f.apnsP12(obj{"p12": b64bytes(f.p12NoUID), "appBundleId": "com.example.app2"}),
			check: topic("com.example.app2"),
		},
		{
			name: "apns_cert PEM with PKCS#1 key",
			cred: f.apnsPEM(nil),
			check: func(t *testing.T, c *Credential) {
				checkCertPair(t, c, f.certPEM)
				if c.APNSCert.Production {
					t.Error("production set, want false when absent")
				}
			},
		},
		{
			name:  "apns_cert PEM in base64",
			cred:  f.apnsPEM(obj{"cert": b64(f.certPEM), "key": b64(f.certKeyPEM)}),
			check: func(t *testing.T, c *Credential) { checkCertPair(t, c, f.certPEM) },
		},
		{
			name:  "apns_cert PEM with topic from UID and string production",
			cred:  f.apnsPEM(obj{"appBundleId": nil, "key": f.rsaPKCS8, "production": "true"}),
			check: func(t *testing.T, c *Credential) { topic(testBundleID)(t, c); production(true)(t, c) },
		},
		{
			name: "fcm_v1 service account as the payload",
			cred: cred("fcm_v1", sa),
			check: func(t *testing.T, c *Credential) {
				if c.FCM == nil || c.FCM.ProjectID != "pushgate-test" || c.FCM.ClientEmail != "fcm@pushgate-test.iam.gserviceaccount.com" {
					t.Fatalf("got %+v", c.FCM)
				}
				if string(c.FCM.ServiceAccountJSON) != string(saJSON) {
					t.Errorf("ServiceAccountJSON = %s, want the bytes sent", c.FCM.ServiceAccountJSON)
				}
			},
		},
		{
			name:  "fcm_v1 wrapped as an object",
			cred:  cred("fcm_v1", obj{"serviceAccount": sa}),
			check: serviceAccountJSON(string(saJSON)),
		},
		{
			name:  "fcm_v1 wrapped as a string",
			cred:  cred("fcm_v1", obj{"serviceAccount": string(saIndented)}),
			check: serviceAccountJSON(string(saIndented)),
		},
		{
			name:  "fcm_v1 with a PKCS#1 key",
			cred:  cred("fcm_v1", f.serviceAccount(obj{"private_key": f.rsaPKCS1})),
			check: func(t *testing.T, c *Credential) {},
		},
		{
			name:  "fcm_v1 with http token_uri when allowed",
			cred:  cred("fcm_v1", f.serviceAccount(obj{"token_uri": "http://127.0.0.1:8080/token"})),
			opts:  func(o *ParseOptions) { o.AllowHTTPTokenURI = true; o.Guard = guard(t, "127.0.0.0/8") },
			check: func(t *testing.T, c *Credential) {},
		},
		{
			name:  "vapid unpadded base64url",
			cred:  f.vapid(nil),
			check: vapid(f.vapidPub, f.vapidPriv, testSubject),
		},
		{
			name:  "vapid padded base64url",
			cred:  f.vapid(obj{"publicKey": f.vapidPub + "=", "privateKey": f.vapidPriv + "="}),
			check: vapid(f.vapidPub, f.vapidPriv, testSubject),
		},
		{
			name:  "vapid standard base64",
			cred:  f.vapid(obj{"publicKey": toStd(f.vapidPub), "privateKey": toStd(f.vapidPriv)}),
			check: vapid(f.vapidPub, f.vapidPriv, testSubject),
		},
		{
			name:  "vapid https subject",
			cred:  f.vapid(obj{"subject": "https://example.com/contact"}),
			check: vapid(f.vapidPub, f.vapidPriv, "https://example.com/contact"),
		},
		{
			name:  "vapid default subject",
			cred:  f.vapid(obj{"subject": nil}),
			opts:  func(o *ParseOptions) { o.DefaultVAPIDSubject = "mailto:push@pushgate.example" },
			check: vapid(f.vapidPub, f.vapidPriv, "mailto:push@pushgate.example"),
		},
		{
			name:  "vapid empty subject takes the default",
			cred:  f.vapid(obj{"subject": ""}),
			opts:  func(o *ParseOptions) { o.DefaultVAPIDSubject = "https://pushgate.example" },
			check: vapid(f.vapidPub, f.vapidPriv, "https://pushgate.example"),
		},
		{name: "websocket without payload", cred: obj{"type": "websocket"}, check: websocket},
		{name: "websocket with empty payload", cred: cred("websocket", obj{}), check: websocket},
		{name: "websocket with null payload", cred: cred("websocket", nil), check: websocket},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			creds, cb, err := ParseCreateRequest(body(t, noCallback, tc.cred), opts)
			if err != nil {
				t.Fatalf("ParseCreateRequest: %v", err)
			}
			if len(creds) != 1 {
				t.Fatalf("got %d credentials, want 1", len(creds))
			}
			c := creds[0]
			if string(c.Type) != tc.cred["type"] || c.ID != "" || c.BucketID != "" {
				t.Errorf("type %q id %q bucket %q, want type %q and no ids", c.Type, c.ID, c.BucketID, tc.cred["type"])
			}
			if n := payloads(c); n != 1 && c.Type != WebSocket || n != 0 && c.Type == WebSocket {
				t.Errorf("%d typed payloads set", n)
			}
			if cb.Type != "none" {
				t.Errorf("callback %+v, want none", cb)
			}
			tc.check(t, c)
		})
	}
}

func payloads(c *Credential) int {
	n := 0
	for _, set := range []bool{c.APNSToken != nil, c.APNSCert != nil, c.FCM != nil, c.HMS != nil, c.VAPID != nil} {
		if set {
			n++
		}
	}
	return n
}

func apnsTokenKey(want string) func(*testing.T, *Credential) {
	return func(t *testing.T, c *Credential) {
		if c.APNSToken.Key != want {
			t.Errorf("key = %q, want the canonical PEM %q", c.APNSToken.Key, want)
		}
	}
}

func production(want bool) func(*testing.T, *Credential) {
	return func(t *testing.T, c *Credential) {
		if got := *c.Public().Production; got != want {
			t.Errorf("production = %v, want %v", got, want)
		}
	}
}

func topic(want string) func(*testing.T, *Credential) {
	return func(t *testing.T, c *Credential) {
		if got := c.Public().Topic; got != want {
			t.Errorf("topic = %q, want %q", got, want)
		}
	}
}

func serviceAccountJSON(want string) func(*testing.T, *Credential) {
	return func(t *testing.T, c *Credential) {
		if string(c.FCM.ServiceAccountJSON) != want {
			t.Errorf("ServiceAccountJSON = %s, want %s", c.FCM.ServiceAccountJSON, want)
		}
		if c.FCM.ProjectID != "pushgate-test" {
			t.Errorf("project %q", c.FCM.ProjectID)
		}
	}
}

func vapid(pub, priv, subject string) func(*testing.T, *Credential) {
	return func(t *testing.T, c *Credential) {
		want := VAPIDCredential{PublicKey: pub, PrivateKey: priv, Subject: subject}
		if *c.VAPID != want {
			t.Errorf("got %+v, want %+v", *c.VAPID, want)
		}
	}
}

func websocket(t *testing.T, c *Credential) {
	if c.Type != WebSocket {
		t.Errorf("type %q", c.Type)
	}
}

func toStd(rawURL string) string {
	b, err := base64.RawURLEncoding.DecodeString(rawURL)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// checkCertPair checks the normalised form: the certificate as given, and
// a PKCS#8 key that belongs to it.
func checkCertPair(t *testing.T, c *Credential, wantCert string) {
	t.Helper()
	if c.APNSCert == nil {
		t.Fatal("no apns_cert payload")
	}
	if c.APNSCert.CertPEM != wantCert {
		t.Errorf("CertPEM = %q, want %q", c.APNSCert.CertPEM, wantCert)
	}
	block, _ := pem.Decode([]byte(c.APNSCert.KeyPEM))
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("KeyPEM is not a PKCS#8 PEM block: %q", c.APNSCert.KeyPEM)
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		t.Errorf("KeyPEM: %v", err)
	}
	if _, err := tls.X509KeyPair([]byte(c.APNSCert.CertPEM), []byte(c.APNSCert.KeyPEM)); err != nil {
		t.Errorf("normalised pair does not load: %v", err)
	}
}

func TestParseCreateRequestKeepsOrderAndEveryType(t *testing.T) {
	f := mustFixtures(t)
	b := body(t, obj{"type": "http", "payload": obj{
		"url":           "https://backend.example.com/hooks?x=1",
		"headers":       obj{"X-Secret": "keyboard cat", "Authorization": "Bearer t\tab"},
		"batchSize":     100,
		"flushInterval": "5s",
	}},
		f.vapid(nil), obj{"type": "websocket"}, f.apnsToken(nil), f.apnsP12(nil), cred("fcm_v1", f.serviceAccount(nil)), f.apnsPEM(nil),
	)
	creds, cb, err := ParseCreateRequest(b, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := []CredentialType{VAPID, WebSocket, APNSToken, APNSCert, FCMv1, APNSCert}
	if len(creds) != len(want) {
		t.Fatalf("got %d credentials, want %d", len(creds), len(want))
	}
	for i, c := range creds {
		if c.Type != want[i] {
			t.Errorf("credential %d is %s, want %s", i, c.Type, want[i])
		}
	}
	wantCB := Callback{Type: "http", URL: "https://backend.example.com/hooks?x=1", Headers: map[string]string{"X-Secret": "keyboard cat", "Authorization": "Bearer t\tab"}}
	if cb.Type != wantCB.Type || cb.URL != wantCB.URL || len(cb.Headers) != 2 || cb.Headers["X-Secret"] != "keyboard cat" || cb.Headers["Authorization"] != "Bearer t\tab" {
		t.Errorf("callback = %+v, want %+v", cb, wantCB)
	}

}

func TestParseOptionsNowDefaultsToTheClock(t *testing.T) {
	f := mustFixtures(t)
	// The fixture certificate expired at the start of 2026; with no Now
	// the real clock decides.
	_, _, err := ParseCreateRequest(body(t, noCallback, f.apnsP12(nil)), ParseOptions{})
	expired := err != nil && strings.Contains(err.Error(), "expired")
	if want := time.Now().After(notAfter); expired != want {
		t.Errorf("err = %v, want expired %v", err, want)
	}
}
