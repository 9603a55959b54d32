package webpush

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/internal/fuzzcheck"
)

// FuzzVAPIDCredential feeds vapid credentials, as CORE documents them
// ({publicKey, privateKey}) and with pushgate's subject, to
// buckets.ParseCreateRequest. A refusal names fields of the payload; an
// accepted credential survives sealing, builds this provider, and signs
// with a subject push services accept: what the API accepts never fails
// later for its form alone.
func FuzzVAPIDCredential(f *testing.F) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	other, _ := ecdh.P256().GenerateKey(rand.Reader)
	enc := base64.RawURLEncoding.EncodeToString
	pub, priv := enc(k.PublicKey().Bytes()), enc(k.Bytes())
	std := base64.StdEncoding.EncodeToString
	for _, s := range [][3]string{
		{pub, priv, ""}, // CORE's documented payload
		{pub, priv, "mailto:ops@example.com"},
		{pub, priv, "https://shop.example.com/contact"},
		{pub + "=", priv + "=", "MAILTO:Ops@Example.com"},
		{std(k.PublicKey().Bytes()), std(k.Bytes()), "mailto:ops@example.com?subject=push"},
		{enc(other.PublicKey().Bytes()), priv, ""},
		{pub, enc(make([]byte, 32)), ""},
		{pub[:40], priv[:20], "mailto:"},
		{pub, priv, "mailto:\"a:b\"@example.com"},
		{pub, priv, "https:/x"},
		{pub, priv, "http://shop.example.com"},
		{pub, priv, "ops@example.com"},
		{"", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	const defaultSubject = "mailto:push@pushgate.example"
	opts := buckets.ParseOptions{DefaultVAPIDSubject: defaultSubject}
	f.Fuzz(func(t *testing.T, publicKey, privateKey, subject string) {
		payload := map[string]string{"publicKey": publicKey, "privateKey": privateKey}
		if subject != "" {
			payload["subject"] = subject
		}
		body, _ := json.Marshal(map[string]any{
			"providerCredentials": []any{map[string]any{"type": "vapid", "payload": payload}},
			"callbackConfig":      map[string]string{"type": "none"},
		})
		creds, _, err := buckets.ParseCreateRequest(body, opts)
		if err != nil {
			if s := fuzzcheck.Refused(err, "providerCredentials[0].payload."); s != "" {
				t.Fatal(s)
			}
			return
		}
		c := creds[0]
		if len(creds) != 1 || c.Type != buckets.VAPID || c.VAPID == nil {
			t.Fatalf("parsed %+v", creds)
		}
		sealed, err := c.MarshalSecret()
		if err != nil {
			t.Fatal(err)
		}
		back, err := buckets.UnmarshalSecret(c.Type, sealed)
		if err != nil || !reflect.DeepEqual(back.VAPID, c.VAPID) {
			t.Fatalf("sealed credential came back as %+v (%v), want %+v", back.VAPID, err, c.VAPID)
		}
		if pub, _ := json.Marshal(c.Public()); strings.Contains(string(pub), c.VAPID.PrivateKey) || c.Public().PublicKey != c.VAPID.PublicKey {
			t.Fatalf("public view %s", pub)
		}
		// Browsers subscribe with the public key in base64url.
		if b, err := base64.RawURLEncoding.DecodeString(c.VAPID.PublicKey); err != nil || len(b) != 65 {
			t.Fatalf("public key stored as %q", c.VAPID.PublicKey)
		}
		p, err := New(back, Options{HTTPClient: http.DefaultClient, DefaultSubject: defaultSubject})
		if err != nil {
			t.Fatalf("the bucket accepted a credential the provider refuses: %v (%+v)", err, c.VAPID)
		}
		// webpush-go puts "mailto:" before any subscriber not starting
		// with "https:"; the result is the JWT's sub claim.
		sub := p.subscriber
		if !strings.HasPrefix(sub, "https:") {
			sub = "mailto:" + sub
		}
		if !buckets.ValidVAPIDSubject(sub) {
			t.Fatalf("subject %q is signed as %q", c.VAPID.Subject, sub)
		}
	})
}
