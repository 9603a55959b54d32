package server

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

func TestVAPIDSubjectDefault(t *testing.T) {
	tests := []struct {
		subject, publicURL string
		want, from         string
	}{
		{"mailto:ops@shop.com", "https://push.shop.com", "mailto:ops@shop.com", subjectFromSetting},
		{"", "https://push.shop.com", "https://push.shop.com", subjectFromPublicURL},
		{"", "https://Push.Shop.com:8443/base/", "https://push.shop.com:8443", subjectFromPublicURL},
		{"", "", fallbackVAPIDSubject, subjectFallback},
		{"", "http://push.shop.com", fallbackVAPIDSubject, subjectFallback},
		{"", "https://localhost:8443", fallbackVAPIDSubject, subjectFallback},
		{"", "https://push.localhost", fallbackVAPIDSubject, subjectFallback},
		{"", "https://203.0.113.7", fallbackVAPIDSubject, subjectFallback},
		{"", "https://[2001:db8::1]:8443", fallbackVAPIDSubject, subjectFallback},
		{"", "https://pushgate", fallbackVAPIDSubject, subjectFallback},
		{"", "https://pushgate.local", fallbackVAPIDSubject, subjectFallback},
		{"", "https://push.shop.internal", fallbackVAPIDSubject, subjectFallback},
		{"", "https://push.example.com", fallbackVAPIDSubject, subjectFallback},
	}
	for _, tt := range tests {
		cfg := Defaults()
		cfg.VAPIDSubject, cfg.PublicURL = tt.subject, tt.publicURL
		if got, from := cfg.vapidSubject(); got != tt.want || from != tt.from {
			t.Errorf("vapid_subject %q, public_url %q: %q from %s, want %q from %s", tt.subject, tt.publicURL, got, from, tt.want, tt.from)
		}
	}
}

// logBuffer collects a node's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the log records at level that mention word.
func (b *logBuffer) records(level, word string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(b.buf.String(), "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(line), &r) == nil && r["level"] == level && strings.Contains(line, word) {
			out = append(out, r)
		}
	}
	return out
}

// p12Of packs a fake's client certificate as the .p12 file CORE's SDK
// documents for apns_cert.
func p12Of(t *testing.T, c *providertest.APNSCert, passphrase string) string {
	block, _ := pem.Decode([]byte(c.KeyPEM))
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, err := pkcs12.Modern.Encode(key, c.Cert, nil, passphrase)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// TestCOREDocumentedCredentialsOnAFreshInstall: a CORE client that changes
// only its endpoint creates a bucket with every credential type exactly as
// CORE documents it (vapid without a subject, apns_cert as a .p12 file) on
// an installation with no vapid_subject, and each credential delivers. The
// start warned once that the fallback VAPID contact is in use.
func TestCOREDocumentedCredentialsOnAFreshInstall(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			f := newFakes(t)
			cfg := f.config(t, d.URL)
			logs := &logBuffer{}
			cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			srv, a := startNode(t, cfg)

			body := fmt.Sprintf(`{"providerCredentials":[
				{"type":"apns_token","payload":{"teamId":%q,"keyId":%q,"key":%q,"production":"false","appBundleId":%q}},
				{"type":"apns_cert","payload":{"p12":%q,"passphrase":"keyboard cat","production":false,"appBundleId":%q}},
				{"type":"fcm_v1","payload":%s},
				{"type":"vapid","payload":{"privateKey":%q,"publicKey":%q}}],
				"callbackConfig":{"type":"none"}}`,
				f.apnsKey.TeamID, f.apnsKey.KeyID, f.apnsKey.P8, topic, p12Of(t, f.apnsCert, "keyboard cat"), topic,
				f.fcmAccount, f.vapidPriv, f.vapidPub)
			var bucket struct {
				BucketID    string
				Credentials []struct{ ID, Type string }
			}
			if code := a.call("POST", "/v1/bucket", body, &bucket); code != 200 || len(bucket.Credentials) != 4 {
				t.Fatalf("create bucket: %d %+v", code, bucket)
			}
			var ctx struct{ ContextID string }
			if code := a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Hello","body":"from CORE"}`, &ctx); code != 200 {
				t.Fatalf("create context: %d", code)
			}
			sub := f.web.NewSubscriptionFor(f.vapidPub)
			receivers := []recipients.Receiver{
				{CredentialID: bucket.Credentials[0].ID, Token: providertest.APNSTestDeviceToken(t)},
				{CredentialID: bucket.Credentials[1].ID, Token: providertest.APNSTestDeviceToken(t)},
				{CredentialID: bucket.Credentials[2].ID, Token: "fcm-token-1:abc"},
				sub.Receiver(bucket.Credentials[3].ID),
			}
			var sent struct{ Results []messages.SendResult }
			if code := a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/"+ctx.ContextID+"/send", map[string]any{"receivers": receivers}, &sent); code != 200 {
				t.Fatalf("send: %d", code)
			}
			for i, r := range sent.Results {
				if r.MessageID == "" {
					t.Fatalf("receiver %d refused: %v", i, r.Errors)
				}
			}
			for _, m := range waitFinal(t, srv, bucket.BucketID, sent.Results, 60*time.Second) {
				if m.Status != messages.Sent {
					t.Errorf("%s: %s/%s: %s", m.Provider, m.Status, m.Reason, m.LastError)
				}
			}
			if n := len(f.apns.Delivered()); n != 2 {
				t.Errorf("APNS fake accepted %d, want 2 (token and certificate)", n)
			}
			if n := len(f.fcm.Delivered()); n != 1 {
				t.Errorf("FCM fake accepted %d, want 1", n)
			}
			if ds := f.web.Delivered(); len(ds) != 1 || ds[0].Subject != fallbackVAPIDSubject {
				t.Errorf("Web Push deliveries %+v, want one signed with %s", ds, fallbackVAPIDSubject)
			}
			if w := logs.records("WARN", "vapid_subject"); len(w) != 1 || w[0]["subject"] != fallbackVAPIDSubject {
				t.Errorf("warnings naming vapid_subject: %v, want one", w)
			}
		})
	}
}

func TestNoVAPIDWarningWhenTheSettingIsSet(t *testing.T) {
	f := newFakes(t)
	cfg := f.config(t, testenv.SQLiteURL(t))
	cfg.VAPIDSubject = "mailto:push@shop.com"
	logs := &logBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	startNode(t, cfg)
	if w := logs.records("WARN", "vapid"); len(w) != 0 {
		t.Errorf("warnings about the VAPID subject although vapid_subject is set: %v", w)
	}
}
