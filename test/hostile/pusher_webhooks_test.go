package hostile

import (
	"fmt"
	"strings"
	"testing"
)

// TestChannelWebhookSettings gives PATCH /v1/app hostile Pusher settings:
// a channelWebhookUrl that is not a string, not an absolute http(s) URL,
// with credentials or a fragment, over the bound, or with control
// characters; a subscriptionCount that is not a boolean; a standard
// (non-admin) key; and no key. Each is refused in the error shape naming
// the field (or 401/403), and the app's settings stay as they were.
func TestChannelWebhookSettings(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, backend string) {
		n := startNode(t, nodeConfig(t, backend))
		const good = "https://hooks.example/pusher"
		n.must(200, n.admin, "PATCH", "/v1/app", map[string]any{"channelWebhookUrl": good, "subscriptionCount": true}, nil)
		var std struct{ Key string }
		n.must(201, n.admin, "POST", "/v1/app/keys", map[string]any{"name": "std", "role": "standard"}, &std)

		type scase struct {
			name   string
			key    string
			body   string
			status int
			field  string
		}
		cases := []scase{
			{"a number", n.admin, `{"channelWebhookUrl":42}`, 400, "channelWebhookUrl"},
			{"an object", n.admin, `{"channelWebhookUrl":{"url":"https://x.example"}}`, 400, "channelWebhookUrl"},
			{"ftp", n.admin, `{"channelWebhookUrl":"ftp://hooks.example/x"}`, 400, "channelWebhookUrl"},
			{"relative", n.admin, `{"channelWebhookUrl":"/hooks"}`, 400, "channelWebhookUrl"},
			{"no host", n.admin, `{"channelWebhookUrl":"https://:443/x"}`, 400, "channelWebhookUrl"},
			{"javascript", n.admin, `{"channelWebhookUrl":"javascript:alert(1)"}`, 400, "channelWebhookUrl"},
			{"credentials", n.admin, `{"channelWebhookUrl":"https://user:pw@hooks.example/x"}`, 400, "channelWebhookUrl"},
			{"a fragment", n.admin, `{"channelWebhookUrl":"https://hooks.example/x#y"}`, 400, "channelWebhookUrl"},
			{"too long", n.admin, fmt.Sprintf(`{"channelWebhookUrl":"https://hooks.example/%s"}`, strings.Repeat("a", 2100)), 400, "channelWebhookUrl"},
			{"a NUL", n.admin, `{"channelWebhookUrl":"https://hooks.example/\u0000"}`, 400, "channelWebhookUrl"},
			{"a newline", n.admin, `{"channelWebhookUrl":"https://hooks.example/\nX-Evil: 1"}`, 400, "channelWebhookUrl"},
			{"metadata address", n.admin, `{"channelWebhookUrl":"http://169.254.169.254/latest"}`, 400, "channelWebhookUrl"},
			{"subscriptionCount a string", n.admin, `{"subscriptionCount":"yes"}`, 400, "subscriptionCount"},
			{"subscriptionCount null", n.admin, `{"subscriptionCount":null}`, 400, "subscriptionCount"},
			{"a standard key", std.Key, `{"channelWebhookUrl":"https://evil.example/"}`, 403, ""},
			{"no key", "", `{"channelWebhookUrl":"https://evil.example/"}`, 401, ""},
			{"a revoked-looking key", "pgk_nothing", `{"channelWebhookUrl":"https://evil.example/"}`, 401, ""},
		}
		for _, c := range cases {
			name := "pusher settings: " + c.name
			a := n.call(c.key, "PATCH", "/v1/app", c.body, nil)
			var p []string
			if a.status != c.status {
				p = append(p, fmt.Sprintf("answered %s, want %d", a, c.status))
			}
			p = append(p, errorShape(a)...)
			if _, errs, _ := errorOf(a); c.field != "" && !namesField(errs, c.field, "\x00") {
				p = append(p, fmt.Sprintf("errors %q do not name %s", errs, c.field))
			}
			var now struct {
				ChannelWebhookURL string `json:"channelWebhookUrl"`
				SubscriptionCount bool   `json:"subscriptionCount"`
			}
			n.must(200, n.admin, "GET", "/v1/app", nil, &now)
			if now.ChannelWebhookURL != good || !now.SubscriptionCount {
				p = append(p, fmt.Sprintf("the settings changed to %+v", now))
			}
			t.Run(name, func(t *testing.T) { judge(t, backend, name, p) })
		}
		n.alive()
	})
}
