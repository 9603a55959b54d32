package buckets

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// Certificates in the fixtures are valid from notBefore to notAfter; tests
// parse at testNow unless they mean to be outside that window.
var (
	notBefore = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	testNow   = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

const (
	testBundleID   = "com.example.app"
	testPassphrase = "correct horse"
	testSubject    = "mailto:ops@example.com"
)

// fixtures is key material made once per test binary: RSA key generation
// is slow enough under -race to matter when every test repeats it.
type fixtures struct {
	p8PEM      string // PKCS#8 P-256, what Apple's .p8 holds
	p384PEM    string // PKCS#8 P-384
	sec1PEM    string // the P-256 key in SEC 1 form
	rsaPKCS8   string // PKCS#8 RSA, the form of a Google service account
	rsaPKCS1   string // the same key in PKCS#1
	otherRSA   string // an RSA key that matches no certificate
	certPEM    string // APNS-like certificate with subject UID testBundleID
	certKeyPEM string // its key, PKCS#1
	noUIDPEM   string // a certificate without a UID
	noUIDKey   string
	p12        []byte // certPEM and its key, Modern (PBES2/AES), testPassphrase
	p12NoUID   []byte
	p12Legacy  []byte // certPEM and its key, LegacyDES, testPassphrase
	p12Wrong   []byte // certPEM with otherRSA's key
	vapidPub   string // base64url, unpadded
	vapidPriv  string
	otherPub   string // public key of another VAPID pair
}

var loadFixtures = sync.OnceValues(func() (*fixtures, error) {
	f := &fixtures{}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	f.p8PEM = pkcs8PEM(p256)
	sec1, err := x509.MarshalECPrivateKey(p256)
	if err != nil {
		return nil, err
	}
	f.sec1PEM = string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	f.p384PEM = pkcs8PEM(p384)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	f.rsaPKCS8 = pkcs8PEM(rsaKey)
	f.rsaPKCS1 = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	f.otherRSA = pkcs8PEM(other)

	// Apple issues push certificates with RSA keys and the bundle id in
	// the subject UID.
	cert, err := selfSigned(rsaKey, pkix.Name{
		CommonName:         "Apple Push Services: " + testBundleID,
		OrganizationalUnit: []string{"ABCDE12345"},
		ExtraNames:         []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: testBundleID}},
	})
	if err != nil {
		return nil, err
	}
	f.certPEM = certPEM(cert)
	f.certKeyPEM = f.rsaPKCS1
	noUID, err := selfSigned(p256, pkix.Name{CommonName: "no uid"})
	if err != nil {
		return nil, err
	}
	f.noUIDPEM, f.noUIDKey = certPEM(noUID), f.p8PEM

	if f.p12, err = pkcs12.Modern.Encode(rsaKey, cert, nil, testPassphrase); err != nil {
		return nil, err
	}
	if f.p12NoUID, err = pkcs12.Modern.Encode(p256, noUID, nil, testPassphrase); err != nil {
		return nil, err
	}
	if f.p12Legacy, err = pkcs12.LegacyDES.Encode(rsaKey, cert, nil, testPassphrase); err != nil {
		return nil, err
	}
	if f.p12Wrong, err = pkcs12.Modern.Encode(other, cert, nil, testPassphrase); err != nil {
		return nil, err
	}

	v, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	f.vapidPub = base64.RawURLEncoding.EncodeToString(v.PublicKey().Bytes())
	f.vapidPriv = base64.RawURLEncoding.EncodeToString(v.Bytes())
	v2, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	f.otherPub = base64.RawURLEncoding.EncodeToString(v2.PublicKey().Bytes())
	return f, nil
})

func mustFixtures(tb testing.TB) *fixtures {
	tb.Helper()
	f, err := loadFixtures()
	if err != nil {
		tb.Fatalf("make fixtures: %v", err)
	}
	return f
}

func pkcs8PEM(key any) string {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err) // only reached with a key type the test itself chose
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func certPEM(cert *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
}

func selfSigned(key crypto.Signer, subject pkix.Name) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      subject,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// serviceAccount returns a Google service-account file's members, with
// changes applied.
func (f *fixtures) serviceAccount(changes obj) obj {
	return merge(obj{
		"type":                        "service_account",
		"project_id":                  "pushgate-test",
		"private_key_id":              "0123456789abcdef",
		"private_key":                 f.rsaPKCS8,
		"client_email":                "fcm@pushgate-test.iam.gserviceaccount.com",
		"client_id":                   "1234567890",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   "https://oauth2.googleapis.com/token",
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
	}, changes)
}

func b64(s string) string      { return base64.StdEncoding.EncodeToString([]byte(s)) }
func b64bytes(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// obj is shorthand for the JSON objects the tests build.
type obj = map[string]any

func cred(typ string, payload any) obj { return obj{"type": typ, "payload": payload} }

var (
	noCallback   = obj{"type": "none"}
	httpCallback = obj{"type": "http", "payload": obj{"url": "https://backend.example.com/hooks"}}
)

// body builds a create-bucket request. A nil callback leaves it out.
func body(tb testing.TB, callback any, creds ...any) []byte {
	tb.Helper()
	m := obj{"providerCredentials": creds}
	if callback != nil {
		m["callbackConfig"] = callback
	}
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func (f *fixtures) apnsToken(changes obj) obj {
	return cred("apns_token", merge(obj{"key": f.p8PEM, "keyId": "ABC123DEFG", "teamId": "TEAM123456", "appBundleId": testBundleID, "production": "true"}, changes))
}

func (f *fixtures) apnsP12(changes obj) obj {
	return cred("apns_cert", merge(obj{"p12": b64bytes(f.p12), "passphrase": testPassphrase, "production": true}, changes))
}

func (f *fixtures) apnsPEM(changes obj) obj {
	return cred("apns_cert", merge(obj{"cert": f.certPEM, "key": f.certKeyPEM, "appBundleId": testBundleID}, changes))
}

func (f *fixtures) vapid(changes obj) obj {
	return cred("vapid", merge(obj{"publicKey": f.vapidPub, "privateKey": f.vapidPriv, "subject": testSubject}, changes))
}

// merge returns base with changes applied; a nil value deletes the member.
func merge(base, changes obj) obj {
	for k, v := range changes {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	return base
}

func testOptions() ParseOptions {
	return ParseOptions{Now: testNow}
}
