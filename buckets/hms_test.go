package buckets

import (
	"errors"
	"strings"
	"testing"

	"github.com/pushgate/pushgate"
)

func TestParseHMS(t *testing.T) {
	c, err := parseOne(t, cred("hms", obj{"appId": "104520117", "appSecret": "s3cr3t-VALUE"}))
	if err != nil {
		t.Fatal(err)
	}
	want := HMSCredential{AppID: "104520117", AppSecret: "s3cr3t-VALUE", PushURL: DefaultHMSPushURL, AuthURL: DefaultHMSAuthURL}
	if c.HMS == nil || *c.HMS != want || c.Type.Platform() != pushgate.PlatformAndroid || c.Public().AppID != "104520117" {
		t.Errorf("got %+v", c.HMS)
	}
	// CORE's clients send the app id as a number too, and their own URLs.
	c, err = parseOne(t, cred("hms", obj{"appId": 104520117, "appSecret": "x", "pushUrl": "https://push.example/v1/", "authUrl": "https://auth.example/token"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HMS.AppID != "104520117" || c.HMS.PushURL != "https://push.example/v1" || c.HMS.AuthURL != "https://auth.example/token" {
		t.Errorf("got %+v", c.HMS)
	}
}

func TestParseHMSRefusals(t *testing.T) {
	tests := []struct {
		name    string
		payload obj
		opts    ParseOptions
		want    string
	}{
		{"no app id", obj{"appSecret": "x"}, ParseOptions{}, "appId: is required"},
		{"app id with a path", obj{"appId": "1/../2", "appSecret": "x"}, ParseOptions{}, "appId: must be the app id"},
		{"no secret", obj{"appId": "1"}, ParseOptions{}, "appSecret: is required"},
		{"secret with a newline", obj{"appId": "1", "appSecret": "a\nb"}, ParseOptions{}, "appSecret: must be"},
		{"http pushUrl", obj{"appId": "1", "appSecret": "x", "pushUrl": "http://push.example/v1"}, ParseOptions{}, "pushUrl: must be an https URL"},
		{"http authUrl", obj{"appId": "1", "appSecret": "x", "authUrl": "http://auth.example/t"}, ParseOptions{}, "authUrl: must be an https URL"},
		{"internal pushUrl", obj{"appId": "1", "appSecret": "x", "pushUrl": "https://169.254.169.254/v1"}, ParseOptions{}, "pushUrl: "},
		{"loopback authUrl", obj{"appId": "1", "appSecret": "x", "authUrl": "https://127.0.0.1:8080/t"}, ParseOptions{}, "authUrl: "},
		{"localhost authUrl, http allowed", obj{"appId": "1", "appSecret": "x", "authUrl": "http://localhost/t"}, ParseOptions{AllowHTTPHMS: true}, "authUrl: "},
		{"authUrl with credentials", obj{"appId": "1", "appSecret": "x", "authUrl": "https://u:p@auth.example/t"}, ParseOptions{}, "authUrl: must be an absolute https URL"},
		{"pushUrl not a URL", obj{"appId": "1", "appSecret": "x", "pushUrl": "push-api"}, ParseOptions{}, "pushUrl: must be an absolute https URL"},
		{"pushUrl a number", obj{"appId": "1", "appSecret": "x", "pushUrl": 7}, ParseOptions{}, "pushUrl: must be a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseCreateRequest(body(t, noCallback, cred("hms", tc.payload)), tc.opts)
			if pushgate.ErrorCode(err) != pushgate.EINVALID || !strings.Contains(err.Error(), "providerCredentials[0].payload."+tc.want) {
				t.Errorf("got %v, want a problem with %q", err, tc.want)
			}
		})
	}
	// The test setting lets http through, to an address the guard allows.
	g, _ := pushgate.NewSSRFGuard("127.0.0.0/8")
	if _, _, err := ParseCreateRequest(body(t, noCallback, cred("hms", obj{"appId": "1", "appSecret": "x", "pushUrl": "http://127.0.0.1:9/v1"})),
		ParseOptions{AllowHTTPHMS: true, Guard: g}); err != nil {
		t.Errorf("http allowed by the test setting: %v", err)
	}
}

func TestFCMLegacyIsRefusedWithItsReplacement(t *testing.T) {
	_, _, err := ParseCreateRequest(body(t, noCallback, cred("fcm_legacy", obj{"serverKey": "AAAA"})), testOptions())
	var pe *pushgate.Error
	if pushgate.ErrorCode(err) != pushgate.EINVALID || !errors.As(err, &pe) || len(pe.Fields) != 1 ||
		!strings.Contains(pe.Fields[0], "providerCredentials[0].type: ") || !strings.Contains(pe.Fields[0], "2024") || !strings.Contains(pe.Fields[0], "fcm_v1") {
		t.Errorf("got %v", err)
	}
}
