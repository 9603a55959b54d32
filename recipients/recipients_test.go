package recipients_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strings"
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
		{"NUL in a WebSocket user id", recipients.Receiver{CredentialID: "ws", UserID: "user\x00"}, ws,
			[]string{"userId: must be 1 to 200 characters of UTF-8 text without NUL or control characters"}},
		{"a user id that is fine", recipients.Receiver{CredentialID: "ws", UserID: "użytkownik-1", ForeignID: "ü"}, ws, nil},
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

// A websocket receiver is a user of the app: {credentialId, userId,
// foreignId}, with the inbox's rules for the user id and none of the
// device fields.
func TestValidateWebSocketReceivers(t *testing.T) {
	ws := &buckets.Credential{ID: "ws", Type: buckets.WebSocket}
	fcm := &buckets.Credential{ID: "fcm", Type: buckets.FCMv1}
	badUser := "userId: must be 1 to 200 characters of UTF-8 text without NUL or control characters"
	notToken := "token: a websocket receiver has a userId, not a token or a subscription"
	for _, tc := range []struct {
		name string
		r    recipients.Receiver
		cred *buckets.Credential
		want []string
	}{
		{"user id", recipients.Receiver{CredentialID: "ws", UserID: "user-1", ForeignID: "f"}, ws, nil},
		{"200 characters", recipients.Receiver{CredentialID: "ws", UserID: strings.Repeat("ż", 200)}, ws, nil},
		{"201 characters", recipients.Receiver{CredentialID: "ws", UserID: strings.Repeat("u", 201)}, ws, []string{badUser}},
		{"no user id", recipients.Receiver{CredentialID: "ws"}, ws, []string{"userId: is required for a websocket receiver"}},
		{"a control character", recipients.Receiver{CredentialID: "ws", UserID: "a\nb"}, ws, []string{badUser}},
		{"invalid UTF-8", recipients.Receiver{CredentialID: "ws", UserID: "a\xff"}, ws, []string{badUser}},
		{"a token instead", recipients.Receiver{CredentialID: "ws", Token: "user-1"}, ws,
			[]string{notToken, "userId: is required for a websocket receiver"}},
		{"a token too", recipients.Receiver{CredentialID: "ws", UserID: "u", Token: "user-1"}, ws, []string{notToken}},
		{"a subscription too", recipients.Receiver{CredentialID: "ws", UserID: "u", Endpoint: "https://push.example/x"}, ws, []string{notToken}},
		{"a user id for FCM", recipients.Receiver{CredentialID: "fcm", UserID: "u", Token: "abc"}, fcm,
			[]string{"userId: is for websocket receivers; this credential is fcm_v1"}},
	} {
		if got := recipients.Validate(tc.r, tc.cred, recipients.Options{}); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Validate = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Two receivers of one websocket credential with the same user id are one
// user; the same user id on another credential, or as an FCM token, is not.
func TestWebSocketReceiverKeys(t *testing.T) {
	a := recipients.Receiver{CredentialID: "ws", UserID: "u1", ForeignID: "a"}
	b := recipients.Receiver{CredentialID: "ws", UserID: "u1", ForeignID: "b"}
	other := recipients.Receiver{CredentialID: "ws2", UserID: "u1"}
	token := recipients.Receiver{CredentialID: "ws", Token: "u1"}
	if a.Key() != b.Key() {
		t.Error("the same user of one credential has two keys")
	}
	if a.Key() == other.Key() || a.Key() == token.Key() {
		t.Error("different receivers share a key")
	}
	var r recipients.Receiver
	r.SetAddress(buckets.WebSocket, a.Address())
	if r.UserID != "u1" || r.Token != "" {
		t.Errorf("SetAddress(websocket) = %+v", r)
	}
	r = recipients.Receiver{}
	r.SetAddress(buckets.FCMv1, token.Address())
	if r.Token != "u1" || r.UserID != "" {
		t.Errorf("SetAddress(fcm_v1) = %+v", r)
	}
}
