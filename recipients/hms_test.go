package recipients_test

import (
	"strings"
	"testing"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/recipients"
)

func TestValidateHMSReceiver(t *testing.T) {
	cred := &buckets.Credential{ID: "h", Type: buckets.HMS}
	tok := "IQAAAACy0kT+Zt5/bsdeh-wq_3=="
	tests := []struct {
		r    recipients.Receiver
		want string // "" when accepted
	}{
		{recipients.Receiver{CredentialID: "h", Token: tok}, ""},
		{recipients.Receiver{CredentialID: "h", Type: "hms/android", Token: tok, Project: "736430079245"}, ""},
		{recipients.Receiver{CredentialID: "h", Type: "fcm/android", Token: tok}, "type: "},
		{recipients.Receiver{CredentialID: "h"}, "token: "},
		{recipients.Receiver{CredentialID: "h", Token: "with space"}, "token: "},
		{recipients.Receiver{CredentialID: "h", Token: "+/="}, "token: "},
		{recipients.Receiver{CredentialID: "h", Token: strings.Repeat("a", 513)}, "token: "},
		{recipients.Receiver{CredentialID: "h", Token: tok, Project: "../x y"}, "project: "},
		{recipients.Receiver{CredentialID: "h", Token: tok, Endpoint: "https://x.example"}, "endpoint: "},
		{recipients.Receiver{CredentialID: "h", Token: tok, UserID: "u"}, "userId: "},
	}
	for _, tc := range tests {
		errs := recipients.Validate(tc.r, cred, recipients.Options{})
		switch {
		case tc.want == "" && len(errs) > 0:
			t.Errorf("%+v refused: %v", tc.r, errs)
		case tc.want != "" && (len(errs) == 0 || !strings.HasPrefix(errs[0], tc.want)):
			t.Errorf("%+v: %v, want a problem with %q", tc.r, errs, tc.want)
		}
	}
}
