package buckets

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"software.sslmate.com/src/go-pkcs12"
)

// problemsOf returns the field problems of an EINVALID error.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var e *pushgate.Error
	if !errors.As(err, &e) || e.Code != pushgate.EINVALID {
		t.Fatalf("err = %v, want a *pushgate.Error with code %s", err, pushgate.EINVALID)
	}
	return e.Fields
}

// wantProblems checks that err lists exactly len(want) problems and that
// each of want is part of a different one.
func wantProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	got := problemsOf(t, err)
	used := make([]bool, len(got))
next:
	for _, w := range want {
		for i, g := range got {
			if !used[i] && strings.Contains(g, w) {
				used[i] = true
				continue next
			}
		}
		t.Errorf("no problem contains %q", w)
	}
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d", len(got), len(want))
	}
	if t.Failed() {
		t.Logf("problems:\n  %s", strings.Join(got, "\n  "))
	}
}

func TestParseCreateRequestRefuses(t *testing.T) {
	f := mustFixtures(t)
	const (
		p0 = "providerCredentials[0].payload"
		cb = "callbackConfig"
	)
	many := make([]any, MaxCredentials+1)
	for i := range many {
		many[i] = obj{"type": "websocket"}
	}
	twentyOne := obj{}
	for i := range MaxCallbackHeaders + 1 {
		twentyOne[fmt.Sprintf("X-H%d", i)] = "v"
	}
	rawPub := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	offCurve := append([]byte{4}, make([]byte, 64)...)
	encrypted := "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"

	tests := []struct {
		name string
		body []byte
		opts func(*ParseOptions)
		want []string
	}{
		// The request as a whole.
		{name: "no credentials member", body: []byte(`{"callbackConfig":{"type":"none"}}`),
			want: []string{"providerCredentials: at least one credential is required"}},
		{name: "empty credentials", body: body(t, noCallback),
			want: []string{"providerCredentials: at least one credential is required"}},
		{name: "credentials not an array", body: []byte(`{"providerCredentials":{"type":"vapid"},"callbackConfig":{"type":"none"}}`),
			want: []string{"providerCredentials: must be an array"}},
		{name: "too many credentials", body: body(t, noCallback, many...),
			want: []string{"providerCredentials: at most 20 credentials are allowed, got 21"}},
		{name: "credential not an object", body: body(t, noCallback, 5),
			want: []string{"providerCredentials[0]: must be an object"}},
		{name: "type not a string", body: body(t, noCallback, obj{"type": 1, "payload": obj{}}),
			want: []string{"providerCredentials[0].type: must be a string"}},
		{name: "type missing", body: body(t, noCallback, obj{"payload": obj{}}),
			want: []string{"providerCredentials[0].type: is required (one of apns_token, apns_cert, fcm_v1, hms, vapid, websocket)"}},
		{name: "unknown type", body: body(t, noCallback, cred("huawei", obj{})),
			want: []string{`providerCredentials[0].type: unknown credential type "huawei" (allowed: apns_token, apns_cert, fcm_v1, hms, vapid, websocket)`}},
		{name: "payload missing", body: body(t, noCallback, obj{"type": "vapid"}),
			want: []string{p0 + ": is required"}},
		{name: "payload not an object", body: body(t, noCallback, cred("apns_token", "key")),
			want: []string{p0 + ": must be an object"}},
		{name: "websocket payload not an object", body: body(t, noCallback, cred("websocket", []int{1})),
			want: []string{p0 + ": must be an object"}},
		{name: "websocket payload with a member", body: body(t, noCallback, cred("websocket", obj{"userId": "u"})),
			want: []string{p0 + ".userId: is not a websocket credential setting (its payload is {})"}},
		{name: "websocket payload with odd members", body: body(t, noCallback, cred("websocket", obj{"a b": 1, "z": 2})),
			want: []string{p0 + `["a b"]: is not a websocket credential setting (its payload is {})`,
				p0 + ".z: is not a websocket credential setting (its payload is {})"}},
		{name: "websocket payload with many members", body: body(t, noCallback, cred("websocket", obj{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1, "g": 1})),
			want: []string{p0 + ".a: is not a websocket credential setting (its payload is {})", p0 + ".b: is not a websocket credential setting (its payload is {})",
				p0 + ".c: is not a websocket credential setting (its payload is {})", p0 + ".d: is not a websocket credential setting (its payload is {})",
				p0 + ".e: is not a websocket credential setting (its payload is {})", p0 + ": has 2 more members; it must be {}"}},
		{name: "problems name their index", body: body(t, noCallback, f.vapid(nil), obj{"type": "websocket"}, f.apnsToken(obj{"key": f.rsaPKCS8})),
			want: []string{"providerCredentials[2].payload.key: is not a PKCS#8 P-256 private key"}},
		{name: "every problem is listed", body: body(t, nil, f.apnsToken(obj{"keyId": "x"}), f.vapid(nil), f.vapid(obj{"subject": "x"})),
			want: []string{"providerCredentials[0].payload.keyId: must be 10 letters or digits", "providerCredentials[2].payload.subject: must be", "callbackConfig: is required"}},

		// apns_token
		{name: "apns_token RSA key", body: body(t, noCallback, f.apnsToken(obj{"key": f.rsaPKCS8})),
			want: []string{p0 + ".key: is not a PKCS#8 P-256 private key (it is an RSA key)"}},
		{name: "apns_token P-384 key", body: body(t, noCallback, f.apnsToken(obj{"key": f.p384PEM})),
			want: []string{p0 + ".key: is not a PKCS#8 P-256 private key (it is an ECDSA P-384 key)"}},
		{name: "apns_token SEC 1 key", body: body(t, noCallback, f.apnsToken(obj{"key": f.sec1PEM})),
			want: []string{p0 + ".key: is not a PKCS#8 P-256 private key (it is a SEC 1 key"}},
		{name: "apns_token key not PEM", body: body(t, noCallback, f.apnsToken(obj{"key": "hello"})),
			want: []string{p0 + ".key: is not PEM text (or base64 of it) of a PKCS#8 P-256 private key"}},
		{name: "apns_token key PEM of garbage", body: body(t, noCallback, f.apnsToken(obj{"key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"})),
			want: []string{p0 + ".key: is not a PKCS#8 P-256 private key"}},
		{name: "apns_token key missing", body: body(t, noCallback, f.apnsToken(obj{"key": nil})),
			want: []string{p0 + ".key: is required"}},
		{name: "apns_token key not a string", body: body(t, noCallback, f.apnsToken(obj{"key": 7})),
			want: []string{p0 + ".key: must be a string"}},
		{name: "apns_token short keyId", body: body(t, noCallback, f.apnsToken(obj{"keyId": "ABC"})),
			want: []string{p0 + ".keyId: must be 10 letters or digits"}},
		{name: "apns_token keyId with punctuation", body: body(t, noCallback, f.apnsToken(obj{"keyId": "ABC-123-DE"})),
			want: []string{p0 + ".keyId: must be 10 letters or digits"}},
		{name: "apns_token teamId missing", body: body(t, noCallback, f.apnsToken(obj{"teamId": nil})),
			want: []string{p0 + ".teamId: is required"}},
		{name: "apns_token both topics", body: body(t, noCallback, f.apnsToken(obj{"websitePushId": "web.com.example"})),
			want: []string{p0 + ": give appBundleId or websitePushId, not both"}},
		{name: "apns_token no topic", body: body(t, noCallback, f.apnsToken(obj{"appBundleId": nil})),
			want: []string{p0 + ".appBundleId: is required (or websitePushId for Safari)"}},
		{name: "apns_token bad bundle id", body: body(t, noCallback, f.apnsToken(obj{"appBundleId": "com.example app"})),
			want: []string{p0 + ".appBundleId: must be an identifier"}},
		{name: "apns_token bad websitePushId", body: body(t, noCallback, f.apnsToken(obj{"appBundleId": nil, "websitePushId": "web/x"})),
			want: []string{p0 + ".websitePushId: must be an identifier"}},
		{name: "apns_token production yes", body: body(t, noCallback, f.apnsToken(obj{"production": "yes"})),
			want: []string{p0 + ".production: must be true or false"}},
		{name: "apns_token production number", body: body(t, noCallback, f.apnsToken(obj{"production": 1})),
			want: []string{p0 + ".production: must be true or false"}},
		{name: "apns_token empty payload", body: body(t, noCallback, cred("apns_token", obj{})),
			want: []string{p0 + ".key: is required", p0 + ".keyId: is required", p0 + ".teamId: is required", p0 + ".appBundleId: is required"}},

		// apns_cert
		{name: "apns_cert wrong passphrase", body: body(t, noCallback, f.apnsP12(obj{"passphrase": "wrong"})),
			want: []string{p0 + ".passphrase: does not open the p12 file"}},
		{name: "apns_cert no passphrase", body: body(t, noCallback, f.apnsP12(obj{"passphrase": nil})),
			want: []string{p0 + ".passphrase: does not open the p12 file"}},
		{name: "apns_cert wrong passphrase, legacy p12", body: body(t, noCallback, f.apnsP12(obj{"p12": b64bytes(f.p12Legacy), "passphrase": "wrong"})),
			want: []string{p0 + ".passphrase: does not open the p12 file"}},
		{name: "apns_cert passphrase not a string", body: body(t, noCallback, f.apnsP12(obj{"passphrase": 1234})),
			want: []string{p0 + ".passphrase: must be a string"}},
		{name: "apns_cert p12 not base64", body: body(t, noCallback, f.apnsP12(obj{"p12": "!!not base64!!"})),
			want: []string{p0 + ".p12: must be the base64 of a .p12 file"}},
		{name: "apns_cert p12 not PKCS#12", body: body(t, noCallback, f.apnsP12(obj{"p12": b64("just some bytes")})),
			want: []string{p0 + ".p12: is not a PKCS#12 file holding a certificate and its private key"}},
		{name: "apns_cert p12 too large", body: body(t, noCallback, f.apnsP12(obj{"p12": b64bytes(make([]byte, maxP12Size+1))})),
			want: []string{p0 + ".p12: must be at most 64 KiB"}},
		{name: "apns_cert p12 with a key that is not the certificate's", body: body(t, noCallback, f.apnsP12(obj{"p12": b64bytes(f.p12Wrong)})),
			want: []string{p0 + ".p12: holds a private key that does not match its certificate"}},
		{name: "apns_cert expired p12", body: body(t, noCallback, f.apnsP12(nil)), opts: at(notAfter.Add(time.Second)),
			want: []string{p0 + ".p12: the certificate expired at 2026-01-01T00:00:00Z"}},
		{name: "apns_cert p12 not yet valid", body: body(t, noCallback, f.apnsP12(nil)), opts: at(notBefore.Add(-time.Hour)),
			want: []string{p0 + ".p12: the certificate is not valid before 2025-01-01T00:00:00Z"}},
		{name: "apns_cert p12 without UID and without topic", body: body(t, noCallback, f.apnsP12(obj{"p12": b64bytes(f.p12NoUID)})),
			want: []string{p0 + ".appBundleId: is required (or websitePushId): the certificate names no bundle id in its subject UID"}},
		{name: "apns_cert p12 and PEM", body: body(t, noCallback, f.apnsP12(obj{"cert": f.certPEM})),
			want: []string{p0 + ": give p12 (with its passphrase) or cert and key, not both"}},
		{name: "apns_cert nothing", body: body(t, noCallback, cred("apns_cert", obj{"appBundleId": testBundleID})),
			want: []string{p0 + ".p12: is required (or cert and key in PEM)"}},
		{name: "apns_cert expired PEM", body: body(t, noCallback, f.apnsPEM(nil)), opts: at(notAfter.AddDate(1, 0, 0)),
			want: []string{p0 + ".cert: the certificate expired at 2026-01-01T00:00:00Z"}},
		{name: "apns_cert PEM key of another certificate", body: body(t, noCallback, f.apnsPEM(obj{"key": f.otherRSA})),
			want: []string{p0 + ".key: does not match the certificate"}},
		{name: "apns_cert PEM cert without key", body: body(t, noCallback, f.apnsPEM(obj{"key": nil})),
			want: []string{p0 + ".key: is required"}},
		{name: "apns_cert PEM key without cert", body: body(t, noCallback, f.apnsPEM(obj{"cert": nil})),
			want: []string{p0 + ".cert: is required"}},
		{name: "apns_cert PEM garbage", body: body(t, noCallback, f.apnsPEM(obj{"cert": "nope", "key": "nope"})),
			want: []string{p0 + ".cert: is not a PEM certificate", p0 + ".key: is not a PEM private key"}},
		{name: "apns_cert PEM key given as certificate", body: body(t, noCallback, f.apnsPEM(obj{"cert": f.certKeyPEM, "key": f.certPEM})),
			want: []string{p0 + ".cert: is not a PEM certificate", p0 + ".key: is not a PEM private key"}},
		{name: "apns_cert PEM encrypted key", body: body(t, noCallback, f.apnsPEM(obj{"key": encrypted})),
			want: []string{p0 + ".key: is an encrypted private key"}},
		{name: "apns_cert production maybe", body: body(t, noCallback, f.apnsPEM(obj{"production": "maybe"})),
			want: []string{p0 + ".production: must be true or false"}},

		// fcm_v1
		{name: "fcm_v1 not a service account", body: body(t, noCallback, cred("fcm_v1", f.serviceAccount(obj{"type": "authorized_user"}))),
			want: []string{p0 + `.type: must be "service_account", got "authorized_user"`}},
		{name: "fcm_v1 without project", body: body(t, noCallback, cred("fcm_v1", f.serviceAccount(obj{"project_id": nil}))),
			want: []string{p0 + ".project_id: is required"}},
		{name: "fcm_v1 project with a slash", body: body(t, noCallback, cred("fcm_v1", f.serviceAccount(obj{"project_id": "a/../b"}))),
			want: []string{p0 + ".project_id: must be a Google Cloud project id"}},
		{name: "fcm_v1 bad email", body: body(t, noCallback, cred("fcm_v1", f.serviceAccount(obj{"client_email": "not an email"}))),
			want: []string{p0 + ".client_email: must be an email address"}},
		{name: "fcm_v1 EC private key", body: body(t, noCallback, cred("fcm_v1", f.serviceAccount(obj{"private_key": f.p8PEM}))),
			want: []string{p0 + ".private_key: is not a PEM RSA private key (it is an ECDSA P-256 key)"}},
		{name: "fcm_v1 garbage private key", body: body(t, noCallback, cred("fcm_v1", f.serviceAccount(obj{"private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}))),
			want: []string{p0 + ".private_key: is not a PEM RSA private key"}},
		{name: "fcm_v1 http token_uri", body: body(t, noCallback, cred("fcm_v1", f.serviceAccount(obj{"token_uri": "http://oauth2.googleapis.com/token"}))),
			want: []string{p0 + ".token_uri: must be an https URL"}},
		{name: "fcm_v1 relative token_uri", body: body(t, noCallback, cred("fcm_v1", f.serviceAccount(obj{"token_uri": "/token"}))),
			opts: func(o *ParseOptions) { o.AllowHTTPTokenURI = true },
			want: []string{p0 + ".token_uri: must be an absolute https URL"}},
		{name: "fcm_v1 ftp token_uri", body: body(t, noCallback, cred("fcm_v1", f.serviceAccount(obj{"token_uri": "ftp://example.com/token"}))),
			want: []string{p0 + ".token_uri: must be an absolute https URL"}},
		{name: "fcm_v1 token_uri on loopback", body: body(t, noCallback, cred("fcm_v1", f.serviceAccount(obj{"token_uri": "http://127.0.0.1:8080/token"}))),
			opts: func(o *ParseOptions) { o.AllowHTTPTokenURI = true },
			want: []string{p0 + ".token_uri: 127.0.0.1 is a forbidden address (loopback)"}},
		{name: "fcm_v1 token_uri on the metadata service", body: body(t, noCallback, cred("fcm_v1", f.serviceAccount(obj{"token_uri": "https://169.254.169.254/token"}))),
			want: []string{p0 + ".token_uri: 169.254.169.254 is a forbidden address"}},
		{name: "fcm_v1 without token_uri", body: body(t, noCallback, cred("fcm_v1", f.serviceAccount(obj{"token_uri": nil}))),
			want: []string{p0 + ".token_uri: is required"}},
		{name: "fcm_v1 wrapped problem names the wrapper", body: body(t, noCallback, cred("fcm_v1", obj{"serviceAccount": f.serviceAccount(obj{"private_key": "x"})})),
			want: []string{p0 + ".serviceAccount.private_key: is not a PEM RSA private key"}},
		{name: "fcm_v1 wrapped string problem names the wrapper", body: body(t, noCallback, cred("fcm_v1", obj{"serviceAccount": `{"type":"service_account"}`})),
			want: []string{p0 + ".serviceAccount.project_id: is required", p0 + ".serviceAccount.client_email: is required", p0 + ".serviceAccount.private_key: is required", p0 + ".serviceAccount.token_uri: is required"}},
		{name: "fcm_v1 wrapper a number", body: body(t, noCallback, cred("fcm_v1", obj{"serviceAccount": 3})),
			want: []string{p0 + ".serviceAccount: must be a service account JSON object, or a string holding one"}},
		{name: "fcm_v1 wrapper a string that is not JSON", body: body(t, noCallback, cred("fcm_v1", obj{"serviceAccount": "{oops"})),
			want: []string{p0 + ".serviceAccount: must be a service account JSON object"}},
		{name: "fcm_v1 empty", body: body(t, noCallback, cred("fcm_v1", obj{})),
			want: []string{p0 + ".type: is required", p0 + ".project_id: is required", p0 + ".client_email: is required", p0 + ".private_key: is required", p0 + ".token_uri: is required"}},

		// vapid
		{name: "vapid mismatched pair", body: body(t, noCallback, f.vapid(obj{"publicKey": f.otherPub})),
			want: []string{p0 + ".publicKey: does not match privateKey"}},
		{name: "vapid compressed public key", body: body(t, noCallback, f.vapid(obj{"publicKey": rawPub(make([]byte, 33))})),
			want: []string{p0 + ".publicKey: must be an uncompressed P-256 public key (65 bytes, base64url)"}},
		{name: "vapid public key off the curve", body: body(t, noCallback, f.vapid(obj{"publicKey": rawPub(offCurve)})),
			want: []string{p0 + ".publicKey: is not a point on the P-256 curve"}},
		{name: "vapid short private key", body: body(t, noCallback, f.vapid(obj{"privateKey": rawPub(make([]byte, 31))})),
			want: []string{p0 + ".privateKey: must be a P-256 private key (32 bytes, base64url)"}},
		{name: "vapid zero private key", body: body(t, noCallback, f.vapid(obj{"privateKey": rawPub(make([]byte, 32))})),
			want: []string{p0 + ".privateKey: is not a valid P-256 private key"}},
		{name: "vapid private key not base64", body: body(t, noCallback, f.vapid(obj{"privateKey": "***"})),
			want: []string{p0 + ".privateKey: must be a P-256 private key"}},
		{name: "vapid keys missing", body: body(t, noCallback, f.vapid(obj{"publicKey": nil, "privateKey": ""})),
			want: []string{p0 + ".publicKey: is required", p0 + ".privateKey: is required"}},
		{name: "vapid bare address subject", body: body(t, noCallback, f.vapid(obj{"subject": "ops@example.com"})),
			want: []string{p0 + ".subject: must be mailto:<address> or an https: URL"}},
		{name: "vapid http subject", body: body(t, noCallback, f.vapid(obj{"subject": "http://example.com"})),
			want: []string{p0 + ".subject: must be mailto:<address> or an https: URL"}},
		{name: "vapid empty mailto", body: body(t, noCallback, f.vapid(obj{"subject": "mailto:"})),
			want: []string{p0 + ".subject: must be mailto:<address> or an https: URL"}},
		{name: "vapid no subject and no default", body: body(t, noCallback, f.vapid(obj{"subject": nil})),
			want: []string{p0 + ".subject: is required (no default subject is configured)"}},
		{name: "vapid no subject and a bad default", body: body(t, noCallback, f.vapid(obj{"subject": nil})),
			opts: func(o *ParseOptions) { o.DefaultVAPIDSubject = "ops@example.com" },
			want: []string{p0 + ".subject: is required (the configured default is not a mailto: or https: URL)"}},

		// callbackConfig
		{name: "callback missing", body: body(t, nil, f.vapid(nil)),
			want: []string{"callbackConfig: is required"}},
		{name: "callback null", body: []byte(`{"providerCredentials":[{"type":"websocket"}],"callbackConfig":null}`),
			want: []string{"callbackConfig: is required"}},
		{name: "callback a string", body: body(t, "http://x", f.vapid(nil)),
			want: []string{"callbackConfig: must be an object"}},
		{name: "callback without type", body: body(t, obj{"payload": obj{"url": "https://x.example"}}, f.vapid(nil)),
			want: []string{"callbackConfig.type: is required"}},
		{name: "callback unknown type", body: body(t, obj{"type": "smtp"}, f.vapid(nil)),
			want: []string{`callbackConfig.type: must be "http" or "none", got "smtp"`}},
		{name: "callback http without payload", body: body(t, obj{"type": "http"}, f.vapid(nil)),
			want: []string{cb + ".payload: is required for type http"}},
		{name: "callback payload not an object", body: body(t, obj{"type": "http", "payload": "https://x.example"}, f.vapid(nil)),
			want: []string{cb + ".payload: must be an object"}},
		{name: "callback without url", body: body(t, hook("", nil), f.vapid(nil)),
			want: []string{cb + ".payload.url: is required"}},
		{name: "callback ftp url", body: body(t, hook("ftp://backend.example.com/x", nil), f.vapid(nil)),
			want: []string{cb + ".payload.url: must be an absolute http(s) URL"}},
		{name: "callback relative url", body: body(t, hook("/hooks", nil), f.vapid(nil)),
			want: []string{cb + ".payload.url: must be an absolute http(s) URL"}},
		{name: "callback url without host", body: body(t, hook("https:///hooks", nil), f.vapid(nil)),
			want: []string{cb + ".payload.url: must be an absolute http(s) URL"}},
		{name: "callback to loopback", body: body(t, hook("http://127.0.0.1:8080/hook", nil), f.vapid(nil)),
			want: []string{cb + ".payload.url: 127.0.0.1 is a forbidden address (loopback)"}},
		{name: "callback to the metadata service", body: body(t, hook("http://169.254.169.254/latest/meta-data/", nil), f.vapid(nil)),
			want: []string{cb + ".payload.url: 169.254.169.254 is a forbidden address (link-local"}},
		{name: "callback to metadata through NAT64", body: body(t, hook("http://[64:ff9b::a9fe:a9fe]/", nil), f.vapid(nil)),
			want: []string{cb + ".payload.url: 64:ff9b::a9fe:a9fe is a forbidden address (NAT64 of 169.254.169.254"}},
		{name: "callback to localhost", body: body(t, hook("https://localhost:8443/hook", nil), f.vapid(nil)),
			want: []string{cb + ".payload.url: localhost is a forbidden address (loopback)"}},
		{name: "callback to a private address", body: body(t, hook("https://10.0.0.5/hook", nil), f.vapid(nil)),
			want: []string{cb + ".payload.url: 10.0.0.5 is a forbidden address (private)"}},
		{name: "callback to loopback outside the allow-list", body: body(t, hook("http://127.0.0.1:8080/hook", nil), f.vapid(nil)),
			opts: func(o *ParseOptions) { o.Guard = guard(t, "10.0.0.0/8") },
			want: []string{cb + ".payload.url: 127.0.0.1 is a forbidden address (loopback)"}},
		{name: "callback url too long", body: body(t, hook("https://x.example/"+strings.Repeat("a", MaxCallbackURLLength), nil), f.vapid(nil)),
			want: []string{cb + ".payload.url: must be at most 2048 characters"}},
		{name: "callback headers not an object", body: body(t, hook("https://x.example", []string{"a"}), f.vapid(nil)),
			want: []string{cb + ".payload.headers: must be an object"}},
		{name: "callback too many headers", body: body(t, hook("https://x.example", twentyOne), f.vapid(nil)),
			want: []string{cb + ".payload.headers: at most 20 headers are allowed, got 21"}},
		{name: "callback bad header names", body: body(t, hook("https://x.example", obj{"Bad Header": "v", "x:y": "v", "": "v", "ünï": "v"}), f.vapid(nil)),
			want: []string{
				cb + `.payload.headers["Bad Header"]: is not a valid HTTP header name`,
				cb + `.payload.headers["x:y"]: is not a valid HTTP header name`,
				cb + `.payload.headers[""]: is not a valid HTTP header name`,
				cb + `.payload.headers["ünï"]: is not a valid HTTP header name`,
			}},
		{name: "callback reserved headers", body: body(t, hook("https://x.example", obj{"Webhook-Signature": "v1,x", "webhook-id": "1", "WEBHOOK-TIMESTAMP": "1", "Content-Type": "text/plain", "content-length": "1", "Host": "evil"}), f.vapid(nil)),
			want: []string{
				`headers["Webhook-Signature"]: is set by pushgate`, `headers["webhook-id"]: is set by pushgate`,
				`headers["WEBHOOK-TIMESTAMP"]: is set by pushgate`, `headers["Content-Type"]: is set by pushgate`,
				`headers["content-length"]: is set by pushgate`, `headers["Host"]: is set by pushgate`,
			}},
		{name: "callback header value with CR LF", body: body(t, hook("https://x.example", obj{"X-A": "v\r\nX-Injected: 1", "X-B": "nul\x00"}), f.vapid(nil)),
			want: []string{`headers["X-A"]: must not contain control characters`, `headers["X-B"]: must not contain control characters`}},
		{name: "callback header value not a string", body: body(t, hook("https://x.example", obj{"X-N": 5}), f.vapid(nil)),
			want: []string{cb + `.payload.headers["X-N"]: must be a string`}},
		{name: "callback header value too long", body: body(t, hook("https://x.example", obj{"X-Long": strings.Repeat("v", 4097)}), f.vapid(nil)),
			want: []string{`headers["X-Long"]: must be at most 4096 bytes`}},
		{name: "callback header repeated in another case", body: body(t, hook("https://x.example", obj{"X-Token": "a", "x-token": "b"}), f.vapid(nil)),
			want: []string{`headers["x-token"]: repeats header "X-Token" in another case`}},
		{name: "callback batching out of range", body: body(t, obj{"type": "http", "payload": obj{"url": "https://x.example", "batchSize": 0, "flushIntervalMs": "1s"}}, f.vapid(nil)),
			want: []string{cb + ".payload.batchSize: must be a whole number from 1 to 10000", cb + ".payload.flushIntervalMs: must be a whole number from 100 to 3600000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			creds, cb, err := ParseCreateRequest(tc.body, opts)
			if creds != nil || cb.Type != "" {
				t.Errorf("partial result returned with the error: %d credentials, callback %+v", len(creds), cb)
			}
			wantProblems(t, err, tc.want...)
		})
	}
}

// guard is an SSRF guard that allows the comma-separated prefixes.
func guard(t *testing.T, allow string) *pushgate.SSRFGuard {
	t.Helper()
	g, err := pushgate.NewSSRFGuard(allow)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func at(now time.Time) func(*ParseOptions) {
	return func(o *ParseOptions) { o.Now = now }
}

func hook(url string, headers any) obj {
	payload := obj{}
	if url != "" {
		payload["url"] = url
	}
	if headers != nil {
		payload["headers"] = headers
	}
	return obj{"type": "http", "payload": payload}
}

func TestParseCreateRequestRefusesNonObjectBodies(t *testing.T) {
	for _, b := range []string{``, `{`, `[]`, `null`, `"x"`, `{"providerCredentials":[]} trailing`} {
		_, _, err := ParseCreateRequest([]byte(b), testOptions())
		if pushgate.ErrorCode(err) != pushgate.EINVALID || pushgate.ErrorMessage(err) == "" {
			t.Errorf("%q: err = %v, want %s with a message", b, err, pushgate.EINVALID)
		}
	}
}

func TestParseCreateRequestReportsEveryProblemOfAnEntry(t *testing.T) {
	_, _, err := ParseCreateRequest([]byte(`{"providerCredentials":[{"type":"vapid","payload":{"publicKey":"x"}}]}`), testOptions())
	wantProblems(t, err,
		"providerCredentials[0].payload.publicKey: must be an uncompressed P-256 public key",
		"providerCredentials[0].payload.privateKey: is required",
		"providerCredentials[0].payload.subject: is required",
		"callbackConfig: is required",
	)
}

func TestCallbackAcceptsItsForms(t *testing.T) {
	f := mustFixtures(t)
	twenty := obj{}
	for i := range MaxCallbackHeaders {
		twenty[fmt.Sprintf("X-H%d", i)] = "v"
	}
	tests := []struct {
		name     string
		callback any
		want     Callback
	}{
		{"none", obj{"type": "none"}, Callback{Type: "none"}},
		{"none ignores a payload", obj{"type": "none", "payload": obj{"url": "not checked"}}, Callback{Type: "none"}},
		{"http without headers", hook("http://backend.example.com:8080/hooks", nil), Callback{Type: "http", URL: "http://backend.example.com:8080/hooks"}},
		{"http with null headers", hook("https://x.example", nil), Callback{Type: "http", URL: "https://x.example"}},
		{"http ignores unknown payload members", obj{"type": "http", "payload": obj{"url": "https://x.example", "flushInterval": 2, "future": obj{}}},
			Callback{Type: "http", URL: "https://x.example"}},
		{"http with batching", obj{"type": "http", "payload": obj{"url": "https://x.example", "batchSize": 50, "flushIntervalMs": 250}},
			Callback{Type: "http", URL: "https://x.example", BatchSize: 50, FlushIntervalMs: 250}},
		{"http with empty header value", hook("https://x.example", obj{"X-Empty": ""}), Callback{Type: "http", URL: "https://x.example", Headers: map[string]string{"X-Empty": ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got, err := ParseCreateRequest(body(t, tc.callback, f.vapid(nil)), testOptions())
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != tc.want.Type || got.URL != tc.want.URL || len(got.Headers) != len(tc.want.Headers) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for k, v := range tc.want.Headers {
				if got.Headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, got.Headers[k], v)
				}
			}
		})
	}
	_, got, err := ParseCreateRequest(body(t, hook("https://x.example", twenty), f.vapid(nil)), testOptions())
	if err != nil || len(got.Headers) != MaxCallbackHeaders {
		t.Errorf("%d headers: err %v, got %d", MaxCallbackHeaders, err, len(got.Headers))
	}
	// An allow-listed internal callback is accepted.
	opts := testOptions()
	opts.Guard = guard(t, "127.0.0.0/8")
	if _, got, err := ParseCreateRequest(body(t, hook("http://127.0.0.1:8080/hooks", nil), f.vapid(nil)), opts); err != nil || got.URL != "http://127.0.0.1:8080/hooks" {
		t.Errorf("allow-listed loopback callback: %v", err)
	}
}

func TestHeaderValuesAreNeverEchoed(t *testing.T) {
	f := mustFixtures(t)
	secret := "s3cr3t-value\r\n"
	_, _, err := ParseCreateRequest(body(t, hook("https://x.example", obj{"X-Secret": secret, "Host": "also-secret"}), f.vapid(nil)), testOptions())
	if err == nil {
		t.Fatal("accepted")
	}
	if msg := err.Error(); strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "also-secret") {
		t.Errorf("error shows a header value: %s", msg)
	}
}

func TestP12IterationsAreBounded(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := selfSigned(key, pkix.Name{CommonName: "iterations", ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidUID, Value: testBundleID}}})
	if err != nil {
		t.Fatal(err)
	}
	// Both encodings the walker must understand: PBES2/PBKDF2 and the
	// PKCS#12 PBE schemes, each with the MAC's own count.
	for _, enc := range []struct {
		name string
		enc  *pkcs12.Encoder
	}{{"modern", pkcs12.Modern}, {"legacy", pkcs12.LegacyDES}} {
		der, err := enc.enc.WithIterations(4321).Encode(key, cert, nil, "pw")
		if err != nil {
			t.Fatal(err)
		}
		if n := p12Iterations(der); n.Int64() != 4321 {
			t.Errorf("%s: p12Iterations = %s, want 4321", enc.name, n)
		}
	}
	if n := p12Iterations([]byte("not asn.1")); n.Sign() != 0 {
		t.Errorf("garbage: %s", n)
	}

	der, err := pkcs12.Modern.WithIterations(maxP12Iterations+1).Encode(key, cert, nil, "pw")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err = ParseCreateRequest(body(t, noCallback, cred("apns_cert", obj{"p12": b64bytes(der), "passphrase": "pw"})), testOptions())
	wantProblems(t, err, "providerCredentials[0].payload.p12: asks for 10001 key-derivation iterations; at most 10000 are accepted")
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusal took %s: the file was decrypted first", d)
	}
}
