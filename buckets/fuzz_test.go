package buckets

import (
	"bytes"
	"math/big"
	"os"
	"testing"

	"github.com/pushgate/pushgate/internal/fuzzcheck"
)

func FuzzParseCreateRequest(f *testing.F) {
	fx := mustFixtures(f)
	for _, b := range [][]byte{
		body(f, noCallback, fx.apnsToken(nil)),
		body(f, httpCallback, fx.apnsP12(nil), fx.vapid(nil)),
		body(f, hook("https://x.example", obj{"X-A": "1", "Host": "h"}), fx.apnsPEM(nil)),
		body(f, noCallback, cred("fcm_v1", fx.serviceAccount(nil))),
		body(f, noCallback, cred("fcm_v1", obj{"serviceAccount": `{"type":"service_account"}`})),
		body(f, noCallback, obj{"type": "websocket"}),
		body(f, nil, fx.vapid(obj{"publicKey": fx.otherPub})),
		body(f, noCallback, fx.apnsP12(obj{"passphrase": "wrong"})),
		body(f, noCallback, cred("huawei", 1), 5, obj{"type": 1}),
		[]byte(`{"providerCredentials":{},"callbackConfig":"x"}`),
		[]byte(`[]`),
		[]byte(`{`),
		[]byte(``),
	} {
		f.Add(b)
	}
	opts := ParseOptions{Now: testNow, DefaultVAPIDSubject: "mailto:fuzz@example.com"}
	f.Fuzz(func(t *testing.T, data []byte) {
		creds, cb, err := ParseCreateRequest(data, opts)
		if err != nil {
			if s := fuzzcheck.Refused(err, "body", "providerCredentials", "callbackConfig"); s != "" {
				t.Fatal(s)
			}
			if creds != nil || cb.Type != "" {
				t.Fatal("partial result with an error")
			}
			return
		}
		if len(creds) == 0 || len(creds) > MaxCredentials {
			t.Fatalf("%d credentials accepted", len(creds))
		}
		if cb.Type != "http" && cb.Type != "none" {
			t.Fatalf("callback type %q accepted", cb.Type)
		}
		for _, c := range creds {
			sealed, err := c.MarshalSecret()
			if err != nil {
				t.Fatalf("accepted %s credential does not marshal: %v", c.Type, err)
			}
			if _, err := UnmarshalSecret(c.Type, sealed); err != nil {
				t.Fatalf("accepted %s credential does not unmarshal: %v", c.Type, err)
			}
		}
	})
}

// FuzzExposeP12Key: whatever a .p12 holds, exposeP12Key never panics, and
// what it hands to go-pkcs12 asks for no more work than the file showed.
func FuzzExposeP12Key(f *testing.F) {
	for _, name := range []string{"openssl3.p12", "openssl-legacy.p12"} {
		der, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der, testPassphrase)
		f.Add(der, "")
	}
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03}, "")
	f.Fuzz(func(t *testing.T, der []byte, pass string) {
		if p12Iterations(der).Cmp(big.NewInt(maxP12Iterations)) > 0 {
			return // refused before exposeP12Key runs
		}
		out, err := exposeP12Key(der, pass)
		if err != nil || bytes.Equal(out, der) {
			return
		}
		if n := p12Iterations(out); n.Cmp(big.NewInt(maxP12Iterations)) > 0 {
			t.Fatalf("rewritten file asks for %s iterations", n)
		}
	})
}
