package recipients_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/internal/fuzzcheck"
	"github.com/pushgate/pushgate/recipients"
)

// A bucket with one credential of every type; receivers name them by id.
var fuzzBucket = &buckets.Bucket{Credentials: []*buckets.Credential{
	{ID: "apns-token", Type: buckets.APNSToken},
	{ID: "apns-cert", Type: buckets.APNSCert},
	{ID: "fcm", Type: buckets.FCMv1},
	{ID: "vapid", Type: buckets.VAPID},
	{ID: "ws", Type: buckets.WebSocket},
	{ID: "hms", Type: buckets.HMS},
}}

var receiverFields = []string{"credentialId", "foreignId", "userId", "token", "endpoint", "p256dh", "auth", "type", "project"}

// FuzzValidate decodes a receiver as the send handlers do (one JSON object
// of CORE's SendManyToContextDto) and validates it against the bucket's
// credential it names. A refused receiver gets one "field: problem" per
// problem, naming a receiver field, in words a client reads; an accepted
// one is usable by its provider and storable on every backend as it is.
// Seeds: testdata/fuzz/FuzzValidate (CORE's documented shapes and what
// browsers and the mobile SDKs hand out) and the cases below.
func FuzzValidate(f *testing.F) {
	for _, r := range []recipients.Receiver{
		{CredentialID: "apns-token", Token: strings.Repeat("ab", 32), ForeignID: "user-1"},
		{CredentialID: "apns-cert", Token: strings.Repeat("0F", 50)},
		{CredentialID: "apns-token", Token: strings.Repeat("a", 63)},
		{CredentialID: "apns-token", Token: strings.Repeat("ab", 32), Endpoint: "https://x.example"},
		{CredentialID: "fcm", Token: "dQw4w9WgXcQ:APA91bH-" + strings.Repeat("x_", 70)},
		{CredentialID: "fcm", Token: "with space"},
		{CredentialID: "vapid", Endpoint: "https://fcm.googleapis.com/fcm/send/abc", P256dh: rfc8291P256dh, Auth: rfc8291Auth},
		{CredentialID: "vapid", Endpoint: "https://fcm.googleapis.com/fcm/send/abc", P256dh: rfc8291P256dh + "=", Auth: rfc8291Auth + "=="},
		{CredentialID: "vapid", Endpoint: "http://127.0.0.1:1/push", P256dh: "BAAA", Auth: "AAAA", Token: "t"},
		{CredentialID: "vapid", Endpoint: "https://h/\x00", P256dh: strings.Repeat("A", 87), Auth: strings.Repeat("A", 22)},
		{CredentialID: "ws", UserID: "user-42", ForeignID: strings.Repeat("f", 256)},
		{CredentialID: "ws", UserID: "user\x00"},
		{CredentialID: "ws", ForeignID: "a\x00b", UserID: "u"},
		{CredentialID: "ws", Token: "user-42"},
		{CredentialID: "fcm", Token: "abc", UserID: "u"},
		{CredentialID: "hms", Token: "x"},
		{CredentialID: "hms", Type: "hms/android", Token: "IQAAAACy0kT+hms/tok=", Project: "736430079245"},
		{CredentialID: "hms", Type: "fcm/android", Token: "IQAAAACy0kT", Project: "a b"},
		{CredentialID: "nope"},
		{},
	} {
		b, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{`{"credentialId":5}`, `[]`, `null`, `{"CREDENTIALID":"ws","USERID":"u"}`, `{"credentialId":"ws","userId":"\ud800"}`} {
		f.Add([]byte(s))
	}
	opts := recipients.Options{}
	f.Fuzz(func(t *testing.T, body []byte) {
		var r recipients.Receiver
		if json.Unmarshal(body, &r) != nil {
			return // the handlers' decoding is FuzzDecodeReceivers' (httpapi)
		}
		cred := fuzzBucket.Credential(r.CredentialID)
		errs := recipients.Validate(r, cred, opts)
		if again := recipients.Validate(r, cred, opts); !slices.Equal(errs, again) {
			t.Fatalf("Validate is not deterministic: %q then %q", errs, again)
		}
		if len(errs) > 0 {
			for _, p := range errs {
				if s := fuzzcheck.Problem(p, receiverFields...); s != "" {
					t.Fatal(s)
				}
			}
			return
		}
		checkAccepted(t, r, cred)
	})
}

// The subscription of RFC 8291's example (Appendix A).
const (
	rfc8291P256dh = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	rfc8291Auth   = "BTBZMqHH6r4Tts7J_aSIgg"
)

func checkAccepted(t *testing.T, r recipients.Receiver, cred *buckets.Credential) {
	t.Helper()
	if cred == nil {
		t.Fatalf("receiver %+v accepted without a credential", r)
	}
	// Every backend stores it: PostgreSQL refuses NUL and invalid UTF-8 in
	// text, so accepting them would make a message whose result can never
	// be written.
	for i, s := range []string{r.CredentialID, r.ForeignID, r.UserID, r.Token, r.Endpoint, r.P256dh, r.Auth, r.Type, r.Project} {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			t.Fatalf("receiver field %s %q accepted: it cannot be stored on PostgreSQL", receiverFields[i], s)
		}
	}
	// What a store or a queue task keeps as JSON comes back the same.
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back recipients.Receiver
	if err := json.Unmarshal(b, &back); err != nil || back != r {
		t.Fatalf("receiver %+v came back from JSON as %+v (%v)", r, back, err)
	}
	// And the provider can use it.
	switch cred.Type {
	case buckets.APNSToken, buckets.APNSCert:
		// apns2 puts the token in the request path.
		if _, err := http.NewRequest("POST", "https://api.push.apple.com/3/device/"+r.Token, nil); err != nil || r.Endpoint != "" {
			t.Fatalf("APNS receiver %+v accepted: %v", r, err)
		}
	case buckets.FCMv1:
		if r.Token == "" || r.Endpoint != "" {
			t.Fatalf("FCM receiver %+v accepted", r)
		}
	case buckets.VAPID:
		u, err := url.Parse(r.Endpoint)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" || r.Token != "" {
			t.Fatalf("Web Push receiver %+v accepted: %v", r, err)
		}
		if _, err := http.NewRequest("POST", r.Endpoint, nil); err != nil {
			t.Fatalf("Web Push endpoint %q accepted, but no request can go there: %v", r.Endpoint, err)
		}
	case buckets.HMS:
		// The token goes into a JSON body only.
		if r.Token == "" || r.Endpoint != "" || r.UserID != "" || (r.Type != "" && r.Type != recipients.HMSReceiverType) {
			t.Fatalf("Huawei receiver %+v accepted", r)
		}
	case buckets.WebSocket:
		if r.UserID == "" || r.Token != "" || r.Endpoint != "" {
			t.Fatalf("WebSocket receiver %+v accepted without a user id, or with a device", r)
		}
	default:
		t.Fatalf("receiver %+v of a %s credential accepted", r, cred.Type)
	}
}
