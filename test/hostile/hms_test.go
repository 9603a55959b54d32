package hostile

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pushgate/pushgate/server"
)

// TestHMSCredentialRefusals gives hms credentials a client must not get
// through, and the retired fcm_legacy type, to a node without the test
// setting that allows http: each is a 400 in the one error shape naming
// the field, and what it says.
func TestHMSCredentialRefusals(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, backend string) {
		s := newSSRFNode(t, backend, []string{server.RoleAPI})
		hms := func(p map[string]any) any { return map[string]any{"type": "hms", "payload": p} }
		cases := []struct {
			name string
			cred any
			want []string // every one in one error
		}{
			{"http pushUrl", hms(map[string]any{"appId": "1", "appSecret": "x", "pushUrl": "http://push-api.cloud.huawei.com/v1"}), []string{"pushUrl", "https"}},
			{"http authUrl", hms(map[string]any{"appId": "1", "appSecret": "x", "authUrl": "http://oauth-login.cloud.huawei.com/oauth2/v3/token"}), []string{"authUrl", "https"}},
			{"authUrl with a query", hms(map[string]any{"appId": "1", "appSecret": "x", "authUrl": "https://auth.example/t?x=1"}), []string{"authUrl"}},
			{"app id that is a path", hms(map[string]any{"appId": "../../admin", "appSecret": "x"}), []string{"appId"}},
			{"app id an object", hms(map[string]any{"appId": map[string]any{}, "appSecret": "x"}), []string{"appId"}},
			{"no secret", hms(map[string]any{"appId": "1"}), []string{"appSecret", "required"}},
			{"payload a string", map[string]any{"type": "hms", "payload": "appId=1"}, []string{"payload", "object"}},
			{"fcm_legacy", map[string]any{"type": "fcm_legacy", "payload": map[string]any{"serverKey": "AAAA"}}, []string{"type", "2024", "fcm_v1"}},
		}
		for _, tc := range cases {
			name := "hms credential: " + tc.name + " is refused"
			t.Run(name, func(t *testing.T) {
				a := s.call(s.admin, "POST", "/v1/bucket", map[string]any{"providerCredentials": []any{tc.cred}, "callbackConfig": map[string]any{"type": "none"}}, nil)
				var p []string
				_, errs, code := errorOf(a)
				if a.status != 400 || code != "validation_failed" {
					p = append(p, fmt.Sprintf("answer %s, want 400 validation_failed", a))
				}
				if len(errs) != 1 || !containsAll(errs[0], tc.want) {
					p = append(p, fmt.Sprintf("errors %q, want one naming %q", errs, tc.want))
				}
				judge(t, backend, name, append(p, errorShape(a)...))
			})
		}
	})
}

func containsAll(s string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}
