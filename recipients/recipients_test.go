package recipients_test

import (
	"slices"
	"testing"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/recipients"
)

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
