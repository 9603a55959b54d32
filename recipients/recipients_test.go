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

// PostgreSQL cannot store NUL or invalid UTF-8 in text: a receiver holding
// them would be accepted, sent, and its result never written. They are
// refused at the door on every backend alike.
func TestValidateRefusesWhatCannotBeStored(t *testing.T) {
	ws := &buckets.Credential{ID: "ws", Type: buckets.WebSocket}
	apns := &buckets.Credential{ID: "apns", Type: buckets.APNSToken}
	token := "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad"
	for _, tc := range []struct {
		name string
		r    recipients.Receiver
		cred *buckets.Credential
		want []string
	}{
		{"NUL in foreignId", recipients.Receiver{CredentialID: "apns", Token: token, ForeignID: "user\x001"}, apns,
			[]string{"foreignId: must be UTF-8 text without NUL characters"}},
		{"invalid UTF-8 in foreignId", recipients.Receiver{CredentialID: "apns", Token: token, ForeignID: "user\xff"}, apns,
			[]string{"foreignId: must be UTF-8 text without NUL characters"}},
		{"NUL in a WebSocket user id", recipients.Receiver{CredentialID: "ws", Token: "user\x00"}, ws,
			[]string{"token: must be the user id of a WebSocket receiver (1 to 255 characters of UTF-8 text without NUL)"}},
		{"a user id that is fine", recipients.Receiver{CredentialID: "ws", Token: "użytkownik-1", ForeignID: "ü"}, ws, nil},
	} {
		if got := recipients.Validate(tc.r, tc.cred, recipients.Options{}); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Validate = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// An endpoint with a port and no host name ("https://:443/push") parses
// with a Host, and would be dialled on the node itself.
func TestValidateRefusesAnEndpointWithoutAHostName(t *testing.T) {
	vapid := &buckets.Credential{ID: "v", Type: buckets.VAPID}
	p256dh := "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	for _, endpoint := range []string{"https://:443/push", "https://:/push", "https://user@:8443/push"} {
		r := recipients.Receiver{CredentialID: "v", Endpoint: endpoint, P256dh: p256dh, Auth: "BTBZMqHH6r4Tts7J_aSIgg"}
		if got := recipients.Validate(r, vapid, recipients.Options{}); !slices.Equal(got, []string{"endpoint: must be an absolute URL"}) {
			t.Errorf("endpoint %q: %q, want it refused", endpoint, got)
		}
	}
}

func TestCheckCount(t *testing.T) {
	if err := recipients.CheckCount(recipients.MaxPerSend); err != nil {
		t.Fatalf("%d receivers refused: %v", recipients.MaxPerSend, err)
	}
	if err := recipients.CheckCount(recipients.MaxPerSend + 1); pushgate.ErrorCode(err) != pushgate.ETOOLARGE {
		t.Fatalf("%d receivers: %v, want %s", recipients.MaxPerSend+1, err, pushgate.ETOOLARGE)
	}
}
