package buckets

import (
	"reflect"
	"strings"
	"testing"
)

func TestSecretRoundTripsEveryType(t *testing.T) {
	f := mustFixtures(t)
	b := body(t, noCallback,
		f.apnsToken(nil), f.apnsP12(nil), f.apnsPEM(obj{"production": "true", "appBundleId": nil}),
		cred("fcm_v1", f.serviceAccount(nil)), cred("fcm_v1", obj{"serviceAccount": "{\n  \"type\": \"service_account\", \"project_id\": \"p\", \"client_email\": \"a@b.example\", \"private_key\": " + jsonString(f.rsaPKCS8) + ", \"token_uri\": \"https://oauth2.googleapis.com/token\"\n}"}),
		f.vapid(nil), obj{"type": "websocket"},
		cred("hms", obj{"appId": "104520117", "appSecret": "a1b2c3d4e5f6"}),
	)
	creds, _, err := ParseCreateRequest(b, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[CredentialType]bool{}
	for _, c := range creds {
		seen[c.Type] = true
		sealed, err := c.MarshalSecret()
		if err != nil {
			t.Fatalf("%s: MarshalSecret: %v", c.Type, err)
		}
		got, err := UnmarshalSecret(c.Type, sealed)
		if err != nil {
			t.Fatalf("%s: UnmarshalSecret: %v", c.Type, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s: round trip changed the credential\n got %+v\nwant %+v", c.Type, got, c)
		}
	}
	for _, typ := range []CredentialType{APNSToken, APNSCert, FCMv1, HMS, VAPID, WebSocket} {
		if !seen[typ] {
			t.Errorf("no %s credential was round-tripped", typ)
		}
	}
}

func jsonString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

func TestSecretRefusesWhatItCannotRepresent(t *testing.T) {
	for _, c := range []*Credential{
		{Type: APNSToken}, {Type: APNSCert}, {Type: FCMv1}, {Type: VAPID}, {Type: "carrier_pigeon"},
	} {
		if _, err := c.MarshalSecret(); err == nil {
			t.Errorf("%s without payload: marshalled", c.Type)
		}
	}
	tests := []struct {
		typ  CredentialType
		data string
	}{
		{APNSToken, `{"keyId":"ABC123DEFG"}`},
		{APNSCert, `{"certPem":"x","topic":"t"}`},
		{FCMv1, `{"projectId":"p"}`},
		{VAPID, `{"publicKey":"x"}`},
		{VAPID, `not json`},
		{WebSocket, `[`},
		{"carrier_pigeon", `{}`},
	}
	for _, tc := range tests {
		if c, err := UnmarshalSecret(tc.typ, []byte(tc.data)); err == nil {
			t.Errorf("%s %s: got %+v, want an error", tc.typ, tc.data, c)
		}
	}
}
