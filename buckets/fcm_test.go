package buckets

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
)

// The FCM provider reads the stored service account with pem.Decode, as
// Google's libraries do. A private_key pasted with its newlines escaped, or
// in base64, is accepted at creation, so it must be stored as PEM: before,
// every send with it failed as bad_credentials.
func TestFCMPrivateKeyIsStoredAsPEM(t *testing.T) {
	f := mustFixtures(t)
	for name, key := range map[string]string{
		"escaped newlines": strings.ReplaceAll(f.rsaPKCS8, "\n", `\n`),
		"base64":           b64(f.rsaPKCS8),
		"PKCS#1 base64":    b64(f.rsaPKCS1),
		"PEM as is":        f.rsaPKCS8,
	} {
		for form, payload := range map[string]any{
			"the file":        f.serviceAccount(obj{"private_key": key}),
			"wrapped":         obj{"serviceAccount": f.serviceAccount(obj{"private_key": key})},
			"wrapped, string": obj{"serviceAccount": mustJSON(t, f.serviceAccount(obj{"private_key": key}))},
		} {
			creds, _, err := ParseCreateRequest(body(t, noCallback, cred("fcm_v1", payload)), testOptions())
			if err != nil {
				t.Fatalf("%s, %s: %v", name, form, err)
			}
			var sa struct {
				PrivateKey string `json:"private_key"`
				ProjectID  string `json:"project_id"`
				TokenURI   string `json:"token_uri"`
			}
			if err := json.Unmarshal(creds[0].FCM.ServiceAccountJSON, &sa); err != nil {
				t.Fatalf("%s, %s: stored service account: %v", name, form, err)
			}
			block, _ := pem.Decode([]byte(sa.PrivateKey))
			if block == nil {
				t.Fatalf("%s, %s: stored private_key is not PEM: %q", name, form, sa.PrivateKey)
			}
			_, err8 := x509.ParsePKCS8PrivateKey(block.Bytes)
			_, err1 := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err8 != nil && err1 != nil {
				t.Errorf("%s, %s: stored private_key does not parse", name, form)
			}
			if sa.ProjectID != "pushgate-test" || sa.TokenURI != "https://oauth2.googleapis.com/token" {
				t.Errorf("%s, %s: the other members changed: %+v", name, form, sa)
			}
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A service account is sealed as a JSON string, which cannot hold invalid
// UTF-8: what was checked would not be what is stored. JSON must be UTF-8
// (RFC 8259), so such a file is refused.
func TestFCMServiceAccountMustBeUTF8(t *testing.T) {
	f := mustFixtures(t)
	sa := []byte(mustJSON(t, f.serviceAccount(obj{"client_id": "123X"})))
	sa = []byte(strings.Replace(string(sa), "123X", "123\xe6\xa4", 1))
	for form, payload := range map[string]string{
		"the file": string(sa),
		"wrapped":  `{"serviceAccount":` + string(sa) + `}`,
	} {
		b := `{"providerCredentials":[{"type":"fcm_v1","payload":` + payload + `}],"callbackConfig":{"type":"none"}}`
		_, _, err := ParseCreateRequest([]byte(b), testOptions())
		want := map[string]string{"the file": "providerCredentials[0].payload", "wrapped": "providerCredentials[0].payload.serviceAccount"}[form]
		if err == nil || !strings.Contains(err.Error(), want+": must be UTF-8 text") {
			t.Errorf("%s: %v, want %s refused as not UTF-8", form, err, want)
		}
	}
}

// A token_uri with a port and no host name has a Host (":443"), and the
// provider would post the signed assertion to the node itself.
func TestFCMTokenURINeedsAHostName(t *testing.T) {
	f := mustFixtures(t)
	for _, u := range []string{"https://:443/token", "https://:/token"} {
		_, _, err := ParseCreateRequest(body(t, noCallback, cred("fcm_v1", f.serviceAccount(obj{"token_uri": u}))), testOptions())
		if err == nil || !strings.Contains(err.Error(), "providerCredentials[0].payload.token_uri: must be an absolute https URL") {
			t.Errorf("token_uri %q: %v, want it refused", u, err)
		}
	}
}
