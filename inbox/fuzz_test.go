package inbox

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/fuzzcheck"
)

// FuzzNotification: whatever a notification holds, it is refused with
// field problems, or accepted with storable text, an object or no extras,
// and 1 to 1000 distinct valid users (or none: a broadcast), and an image
// URL (if any) at no literal internal address.
func FuzzNotification(f *testing.F) {
	guard, _ := pushgate.NewSSRFGuard("")
	f.Add("t", "m", 5, int64(60), `{"a":1}`, "https://x/a.png", "myapp://x", "ann,bob,ann", true)
	f.Add("", "", 0, int64(0), `[1]`, "/a", "javascript:x", "", true)
	f.Add("t", "", 11, int64(-1), `{"a":"\u0000"}`, "ftp://x", "page", "a\nb,", false)
	f.Add("t", "", 5, int64(1), `{}`, "http://0x7f.1/a.png", "https://x", "a", false)
	f.Add("t", "", 5, int64(1), `{}`, "https://:443/a.png", "https://x", "a", false)
	f.Fuzz(func(t *testing.T, title, message string, priority int, ttl int64, extras, image, click, users string, targeted bool) {
		n := NewNotification{Title: title, Message: message, Priority: &priority, TTL: &ttl, Extras: json.RawMessage(extras),
			ImageURL: image, ClickURL: click}
		if targeted {
			n.To = &Recipients{UserIDs: strings.Split(users, ",")}
		}
		got, err := n.validate(guard)
		if err != nil {
			if p := fuzzcheck.Refused(err, "title", "message", "priority", "ttl", "extras", "imageUrl", "clickUrl", "to.userIds"); p != "" {
				t.Fatal(p)
			}
			return
		}
		for _, s := range []string{n.Title, n.Message, n.ImageURL, n.ClickURL, string(n.Extras)} {
			if !pushgate.StorableText(s) {
				t.Fatalf("accepted text %q that not every database stores", s)
			}
		}
		if n.ImageURL != "" && guard.CheckURL(n.ImageURL) != nil {
			t.Fatalf("accepted image %q at an internal address", n.ImageURL)
		}
		var obj map[string]any
		if n.Extras != nil && json.Unmarshal(n.Extras, &obj) != nil {
			t.Fatalf("accepted extras %q that are no object", n.Extras)
		}
		if !targeted {
			if got != nil {
				t.Fatalf("a broadcast has users %q", got)
			}
			return
		}
		seen := map[string]bool{}
		for _, u := range got {
			if seen[u] || checkUserID(u) != "" {
				t.Fatalf("accepted users %q", got)
			}
			seen[u] = true
		}
		if len(got) == 0 || len(got) > MaxRecipients {
			t.Fatalf("accepted %d users", len(got))
		}
	})
}
