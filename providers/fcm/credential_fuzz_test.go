package fcm

import (
	"cmp"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/internal/fuzzcheck"
)

// FuzzServiceAccount feeds fcm_v1 credentials, in the three forms the
// bucket parser takes, to buckets.ParseCreateRequest. A refusal names
// fields of the payload; an accepted service account survives sealing and
// is one this provider can be built from, so nothing the API accepts fails
// later as bad_credentials for its form alone.
func FuzzServiceAccount(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pkcs8 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	// A file as Google Cloud's console downloads it.
	sa := func(changes map[string]any) []byte {
		m := map[string]any{
			"type":                        "service_account",
			"project_id":                  "shop-app-1a2b3",
			"private_key_id":              "0123456789abcdef0123456789abcdef01234567",
			"private_key":                 pkcs8,
			"client_email":                "firebase-adminsdk-x1y2z@shop-app-1a2b3.iam.gserviceaccount.com",
			"client_id":                   "123456789012345678901",
			"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
			"token_uri":                   "https://oauth2.googleapis.com/token",
			"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
			"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/firebase-adminsdk-x1y2z%40shop-app-1a2b3.iam.gserviceaccount.com",
			"universe_domain":             "googleapis.com",
		}
		for k, v := range changes {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		b, _ := json.MarshalIndent(m, "", "  ")
		return b
	}
	for form := range uint8(3) {
		for _, b := range [][]byte{
			sa(nil),
			sa(map[string]any{"private_key": pkcs1}),
			sa(map[string]any{"private_key": strings.ReplaceAll(pkcs8, "\n", `\n`)}),
			sa(map[string]any{"private_key": base64.StdEncoding.EncodeToString([]byte(pkcs8))}),
			sa(map[string]any{"private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}),
			sa(map[string]any{"type": "authorized_user", "token_uri": "http://127.0.0.1/token"}),
			sa(map[string]any{"project_id": nil, "client_email": "not an address"}),
			sa(map[string]any{"project_id": 5, "private_key": []string{}}),
			[]byte(`{"type":"service_account"}`),
			[]byte(`"{\"type\":\"service_account\"}"`),
			[]byte(`[]`), []byte(`null`), []byte(`{`), nil,
		} {
			f.Add(form, b)
		}
	}
	f.Fuzz(func(t *testing.T, form uint8, account []byte) {
		var payload []byte
		switch form % 3 {
		case 0: // the file itself, as CORE documents
			payload = account
		case 1: // {"serviceAccount": <the file>}
			payload = append(append([]byte(`{"serviceAccount":`), account...), '}')
		case 2: // {"serviceAccount": "<the file, as a string>"}
			s, _ := json.Marshal(string(account))
			payload = append(append([]byte(`{"serviceAccount":`), s...), '}')
		}
		if !json.Valid(payload) {
			return // the body would not be JSON: FuzzParseCreateRequest's case
		}
		body := append(append([]byte(`{"providerCredentials":[{"type":"fcm_v1","payload":`), payload...), []byte(`}],"callbackConfig":{"type":"none"}}`)...)
		creds, _, err := buckets.ParseCreateRequest(body, buckets.ParseOptions{})
		if err != nil {
			if s := fuzzcheck.Refused(err, "providerCredentials[0].payload"); s != "" {
				t.Fatal(s)
			}
			return
		}
		c := creds[0]
		if len(creds) != 1 || c.Type != buckets.FCMv1 || c.FCM == nil {
			t.Fatalf("parsed %+v", creds)
		}
		sealed, err := c.MarshalSecret()
		if err != nil {
			t.Fatal(err)
		}
		back, err := buckets.UnmarshalSecret(c.Type, sealed)
		if err != nil || !reflect.DeepEqual(back.FCM, c.FCM) {
			t.Fatalf("sealed credential came back as %+v (%v), want %+v", back.FCM, err, c.FCM)
		}
		if pub, _ := json.Marshal(c.Public()); strings.Contains(string(pub), "PRIVATE") || c.Public().ProjectID != c.FCM.ProjectID {
			t.Fatalf("public view %s", pub)
		}
		// The provider is built from what was sealed. Whether token_uri
		// must be Google's is the provider's setting, not the form's.
		got, err := parseServiceAccount(back.FCM.ServiceAccountJSON, false)
		if err != nil {
			t.Fatalf("the bucket accepted a service account the provider refuses: %v\n%s", err, back.FCM.ServiceAccountJSON)
		}
		// The signed assertion goes to token_uri: a host must be named.
		if u, err := url.Parse(got.TokenURI); err != nil || u.Hostname() == "" {
			t.Fatalf("token_uri %q accepted", got.TokenURI)
		}
		if got.ClientEmail != c.FCM.ClientEmail || cmp.Or(c.FCM.ProjectID, got.ProjectID) == "" {
			t.Fatalf("provider reads client_email %q project %q; the bucket read %q %q", got.ClientEmail, got.ProjectID, c.FCM.ClientEmail, c.FCM.ProjectID)
		}
	})
}
