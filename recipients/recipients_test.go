package recipients_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"slices"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/recipients"
)

func webPushReceiver(t *testing.T, endpoint string) recipients.Receiver {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return recipients.Receiver{CredentialID: "c", Endpoint: endpoint,
		P256dh: base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()),
		Auth:   base64.RawURLEncoding.EncodeToString(make([]byte, 16))}
}

// TestEndpointOnAnInternalAddressIsRefused: a subscription whose endpoint
// is a literal internal address is refused in the send's answer, naming
// the field, instead of being sent and failing later.
func TestEndpointOnAnInternalAddressIsRefused(t *testing.T) {
	cred := &buckets.Credential{ID: "c", Type: buckets.VAPID}
	opts := recipients.Options{AllowHTTPEndpoints: true}
	for endpoint, want := range map[string]string{
		"http://127.0.0.1:8080/push/x":          "endpoint: 127.0.0.1 is a forbidden address (loopback); ssrf_allow can allow it",
		"https://169.254.169.254/latest/x":      "endpoint: 169.254.169.254 is a forbidden address (link-local, where cloud metadata lives); ssrf_allow can allow it",
		"https://[64:ff9b::a00:1]/push":         "endpoint: 64:ff9b::a00:1 is a forbidden address (NAT64 of 10.0.0.1, private); ssrf_allow can allow it",
		"https://push.localhost/x":              "endpoint: push.localhost is a forbidden address (loopback); ssrf_allow can allow it",
		"https://fcm.googleapis.com/fcm/send/x": "",
	} {
		got := recipients.Validate(webPushReceiver(t, endpoint), cred, opts)
		if want == "" {
			if got != nil {
				t.Errorf("%s: %q", endpoint, got)
			}
			continue
		}
		if !slices.Equal(got, []string{want}) {
			t.Errorf("%s:\n got %q\nwant %q", endpoint, got, want)
		}
	}
	allow, _ := pushgate.NewSSRFGuard("127.0.0.0/8")
	opts.Guard = allow
	if got := recipients.Validate(webPushReceiver(t, "http://127.0.0.1:8080/push/x"), cred, opts); got != nil {
		t.Errorf("allow-listed endpoint refused: %q", got)
	}
}
