package buckets

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sideshow/apns2/token"

	"github.com/pushgate/pushgate/internal/fuzzcheck"
)

// The fuzz targets of this file take one credential's fields, so that the
// fuzzer mutates keys and certificates rather than JSON syntax (that is
// FuzzParseCreateRequest's part). Each checks what the API promises of a
// credential: a refusal names fields of its payload in words a client
// reads; an accepted credential is stored in one canonical form that
// parses again to itself, survives sealing, shows no secret in its public
// view, and is one the APNS provider can be built from (the same calls
// apns.New makes). Seeds include the files in testdata/openssl, made as
// OpenSSL and Apple's tools make them (see make.sh there).

const credentialPath = "providerCredentials[0].payload"

// parseOne parses a create-bucket request holding only c.
func parseOne(t *testing.T, c obj) (*Credential, error) {
	t.Helper()
	creds, _, err := ParseCreateRequest(body(t, noCallback, c), testOptions())
	if err != nil {
		if s := fuzzcheck.Refused(err, credentialPath); s != "" {
			t.Fatal(s)
		}
		return nil, err
	}
	if len(creds) != 1 {
		t.Fatalf("%d credentials parsed from one", len(creds))
	}
	checkSealed(t, creds[0])
	return creds[0], nil
}

// checkSealed checks that c comes back from its sealed form unchanged and
// that its public view holds none of its secrets.
func checkSealed(t *testing.T, c *Credential) {
	t.Helper()
	sealed, err := c.MarshalSecret()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalSecret(c.Type, sealed)
	if err != nil {
		t.Fatalf("sealed %s credential does not open: %v", c.Type, err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("sealed credential came back as %+v, want %+v", back, c)
	}
	pub, err := json.Marshal(c.Public())
	if err != nil || strings.Contains(string(pub), "PRIVATE") || strings.Contains(string(pub), "BEGIN") {
		t.Fatalf("public view %s (%v)", pub, err)
	}
}

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "openssl", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func FuzzAPNSTokenCredential(f *testing.F) {
	fx := mustFixtures(f)
	p8 := string(readTestdata(f, "AuthKey_ABC123DEFG.p8"))
	for _, key := range []string{
		p8, fx.p8PEM, b64(p8), strings.ReplaceAll(p8, "\n", `\n`), strings.ReplaceAll(p8, "\n", "\r\n"),
		fx.sec1PEM, fx.p384PEM, fx.rsaPKCS8, fx.certPEM,
		"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n", "",
	} {
		f.Add(key, "ABC123DEFG", "ABCDE12345", testBundleID, false, "true")
	}
	f.Add(p8, "ABC123DEFG", "ABCDE12345", "web.com.example.shop", true, "false")
	f.Add(p8, "abc123", "ABCDE12345\n", "com.example.app\r\nx: y", false, "yes")
	f.Add(p8, "ABC123DEFG", "ABCDE12345", "", false, "")
	f.Fuzz(func(t *testing.T, key, keyID, teamID, topic string, safari bool, production string) {
		payload := obj{"key": key, "keyId": keyID, "teamId": teamID, "production": production}
		if safari {
			payload["websitePushId"] = topic
		} else {
			payload["appBundleId"] = topic
		}
		c, err := parseOne(t, cred("apns_token", payload))
		if err != nil {
			return
		}
		tc := c.APNSToken
		if tc == nil || !validTopic(tc.Topic) || !isAppleID(tc.KeyID) || !isAppleID(tc.TeamID) {
			t.Fatalf("accepted %+v", tc)
		}
		// The stored form is canonical: parsed again, it is itself.
		again, err := parseOne(t, cred("apns_token", obj{"key": tc.Key, "keyId": tc.KeyID, "teamId": tc.TeamID, "appBundleId": tc.Topic, "production": tc.Production}))
		if err != nil || !reflect.DeepEqual(again.APNSToken, tc) {
			t.Fatalf("stored form %+v parses as %+v (%v)", tc, again, err)
		}
		// What apns.New does with it, and the provider token it signs.
		k, err := token.AuthKeyFromBytes([]byte(tc.Key))
		if err != nil {
			t.Fatalf("accepted key is refused by apns2: %v", err)
		}
		jwt := &token.Token{AuthKey: k, KeyID: tc.KeyID, TeamID: tc.TeamID}
		if _, err := jwt.Generate(); err != nil {
			t.Fatalf("accepted key does not sign: %v", err)
		}
	})
}

func FuzzAPNSCertP12(f *testing.F) {
	fx := mustFixtures(f)
	for _, p12 := range [][]byte{fx.p12, fx.p12Legacy, fx.p12NoUID, fx.p12Wrong} {
		f.Add(p12, testPassphrase, "")
	}
	for _, name := range []string{"apns.p12", "apns-legacy.p12", "apns-chain.p12", "apns-iter.p12"} {
		f.Add(readTestdata(f, name), testPassphrase, "")
	}
	f.Add(readTestdata(f, "apns-nopass.p12"), "", "")
	f.Add(fx.p12, "wrong", "")
	f.Add(fx.p12NoUID, testPassphrase, "web.com.example.shop")
	f.Add(fx.p12[:len(fx.p12)/2], testPassphrase, "")
	f.Add(readTestdata(f, "apns.pem"), "", testBundleID)
	f.Add([]byte{}, "", "")
	f.Fuzz(func(t *testing.T, p12 []byte, passphrase, topic string) {
		payload := obj{"p12": base64.StdEncoding.EncodeToString(p12), "passphrase": passphrase, "production": true}
		if topic != "" {
			payload["appBundleId"] = topic
		}
		c, err := parseOne(t, cred("apns_cert", payload))
		if err != nil {
			return
		}
		checkCertCredential(t, c, topic)
	})
}

func FuzzAPNSCertPEM(f *testing.F) {
	fx := mustFixtures(f)
	certPEM, keyPEM := string(readTestdata(f, "apns.pem")), string(readTestdata(f, "apns.key"))
	nodes := string(readTestdata(f, "apns-nodes.pem"))
	for _, s := range [][3]string{
		{fx.certPEM, fx.certKeyPEM, ""},
		{fx.certPEM, fx.rsaPKCS8, testBundleID},
		{fx.noUIDPEM, fx.noUIDKey, "web.com.example.shop"},
		{fx.noUIDPEM, fx.noUIDKey, ""},
		{fx.certPEM, fx.otherRSA, ""},
		{certPEM, keyPEM, ""},
		{string(readTestdata(f, "apns-chain.pem")), keyPEM, ""},
		{nodes, nodes, ""}, // one file from "openssl pkcs12 -nodes", pasted twice
		{b64(certPEM), b64(keyPEM), ""},
		{strings.ReplaceAll(certPEM, "\n", `\n`), strings.ReplaceAll(keyPEM, "\n", `\n`), ""},
		{certPEM, string(readTestdata(f, "apns-encrypted.key")), ""},
		{certPEM, string(readTestdata(f, "apns-encrypted-traditional.key")), ""},
		{keyPEM, certPEM, ""},
		{certPEM, fx.sec1PEM, ""},
		{"", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, cert, key, topic string) {
		payload := obj{"cert": cert, "key": key}
		if topic != "" {
			payload["appBundleId"] = topic
		}
		c, err := parseOne(t, cred("apns_cert", payload))
		if err != nil {
			return
		}
		checkCertCredential(t, c, topic)
	})
}

// checkCertCredential checks an accepted apns_cert credential: what
// apns.New does with it works, and its stored form is canonical.
func checkCertCredential(t *testing.T, c *Credential, topic string) {
	t.Helper()
	cc := c.APNSCert
	if cc == nil || !validTopic(cc.Topic) {
		t.Fatalf("accepted %+v", cc)
	}
	pair, err := tls.X509KeyPair([]byte(cc.CertPEM), []byte(cc.KeyPEM))
	if err != nil {
		t.Fatalf("accepted certificate and key do not make a TLS pair: %v", err)
	}
	if now := testOptions().now(); now.Before(pair.Leaf.NotBefore) || now.After(pair.Leaf.NotAfter) {
		t.Fatalf("accepted a certificate valid from %s to %s", pair.Leaf.NotBefore, pair.Leaf.NotAfter)
	}
	if topic == "" && cc.Topic != CertTopic(pair.Leaf) {
		t.Fatalf("topic %q, but the certificate names %q", cc.Topic, CertTopic(pair.Leaf))
	}
	again, err := parseOne(t, cred("apns_cert", obj{"cert": cc.CertPEM, "key": cc.KeyPEM, "appBundleId": cc.Topic, "production": cc.Production}))
	if err != nil || !reflect.DeepEqual(again.APNSCert, cc) {
		t.Fatalf("stored form parses as %+v (%v), want %+v", again, err, cc)
	}
}
