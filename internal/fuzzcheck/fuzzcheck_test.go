package fuzzcheck

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/pushgate/pushgate"
)

// receiver stands for a parser's type, which encoding/json names in errors.
type receiver struct{ Token string }

func TestGoSpelling(t *testing.T) {
	var r receiver
	jsonErr := json.Unmarshal([]byte(`[1]`), &r)
	var m map[string]any
	mapErr := json.Unmarshal([]byte(`[1]`), &m)
	for _, msg := range []string{
		jsonErr.Error(),
		mapErr.Error(),
		"receiver: cannot read recipients.Receiver",
		"token: expected string, got map[string]interface {}",
		"key: is a *ecdh.PrivateKey",
		"body: expected struct, got array",
		"p12: []uint8 is too long",
		"x: cannot unmarshal number into Go struct field .y of type int64",
	} {
		if GoSpelling(msg) == "" {
			t.Errorf("GoSpelling(%q) found nothing", msg)
		}
	}
	for _, msg := range []string{
		"receivers[3].token: must be an APNS device token (64 to 200 hexadecimal digits)",
		`providerCredentials[0].type: unknown credential type "recipients.Receiver" (allowed: apns_token, vapid)`,
		`callbackConfig.payload.headers["map[string]int"]: is not a valid HTTP header name`,
		"subject: must be mailto:<address> or an https: URL",
		"appBundleId: must be an identifier of letters, digits, '-' and '.' (at most 255)",
		"body: expected an object, got an array",
		"image is 2000x3000: more than 1.5 megapixels",
	} {
		if s := GoSpelling(msg); s != "" {
			t.Errorf("GoSpelling(%q) = %q, want nothing", msg, s)
		}
	}
}

func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		err      error
		prefixes []string
		ok       bool
	}{
		{pushgate.Invalid("bad", "a.b: is required"), nil, true},
		{pushgate.Invalid("bad", "a.b: is required"), []string{"a."}, true},
		{pushgate.Invalid("bad", "a.b: is required"), []string{"c"}, false},
		{pushgate.Invalid("bad"), nil, false},
		{pushgate.Invalid("", "a: x"), nil, false},
		{pushgate.Invalid("bad", "no field here"), nil, false},
		{pushgate.Invalid("bad", "a: json: cannot unmarshal array into Go value of type x.Y"), nil, false},
		{pushgate.Invalid("bad", "android.data.G: must be a string"), nil, true},
		{pushgate.Invalid("bad", "receiver: cannot read recipients.Receiver"), nil, false},
		{&pushgate.Error{Code: pushgate.EINTERNAL, Message: "x", Fields: []string{"a: b"}}, nil, false},
		{errors.New("a: b"), nil, false},
		{nil, nil, false},
	} {
		if got := Refused(tc.err, tc.prefixes...); (got == "") != tc.ok {
			t.Errorf("Refused(%v, %q) = %q, want ok %v", tc.err, tc.prefixes, got, tc.ok)
		}
	}
}
