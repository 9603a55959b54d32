package contexts_test

import (
	"slices"
	"testing"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/contexts"
)

// TestParseRefusesInternalImageAddresses: an image the CDN would fetch from
// a literal internal address is refused when the context is created,
// naming the field, rather than failing when the images are processed.
func TestParseRefusesInternalImageAddresses(t *testing.T) {
	const hint = " is a forbidden address "
	tests := []struct {
		name string
		kind contexts.Kind
		body string
		want []string
	}{
		{"data image on loopback", contexts.KindData, `{"title": "t", "image": "http://127.0.0.1:8080/x.png"}`,
			[]string{"image: 127.0.0.1" + hint + "(loopback); ssrf_allow can allow it"}},
		{"data icon on the metadata service", contexts.KindData, `{"title": "t", "icon": "http://169.254.169.254/latest/x.png"}`,
			[]string{"icon: 169.254.169.254" + hint + "(link-local, where cloud metadata lives); ssrf_allow can allow it"}},
		{"data action icon on localhost", contexts.KindData, `{"title": "t", "actions": [{"action": "a", "title": "A", "icon": "https://localhost/a.png"}]}`,
			[]string{"actions[0].icon: localhost" + hint + "(loopback); ssrf_allow can allow it"}},
		{"raw common imageUrl on IPv6 loopback", contexts.KindRaw, `{"common": {"title": "t", "imageUrl": "http://[::1]/x.png"}}`,
			[]string{"common.imageUrl: ::1" + hint + "(loopback); ssrf_allow can allow it"}},
		{"raw chromium badge on a private address", contexts.KindRaw, `{"chromium": {"title": "t", "badge": "http://10.0.0.1/b.png"}}`,
			[]string{"chromium.badge: 10.0.0.1" + hint + "(private); ssrf_allow can allow it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := contexts.Options{}.Parse(tt.kind, []byte(tt.body), now)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := fields(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("fields:\n got %q\nwant %q", got, tt.want)
			}
			// The package function checks as strictly.
			if _, err := contexts.Parse(tt.kind, []byte(tt.body), now); err == nil {
				t.Error("contexts.Parse accepted it")
			}
			// Allow-listed, the same body is fine.
			allow, _ := pushgate.NewSSRFGuard("127.0.0.0/8,::1/128,10.0.0.0/8,169.254.0.0/16")
			if _, err := (contexts.Options{Guard: allow}).Parse(tt.kind, []byte(tt.body), now); err != nil {
				t.Errorf("refused although allow-listed: %v", err)
			}
		})
	}

	_, err := contexts.Options{}.ParseMetadata(contexts.KindData, []byte(`{"title": "t", "image": "http://127.0.0.1/x.png"}`), now)
	if got := fields(t, err); !slices.Equal(got, []string{"metadata.image: 127.0.0.1" + hint + "(loopback); ssrf_allow can allow it"}) {
		t.Errorf("transactional metadata: %q", got)
	}
	// A name is judged when the image is fetched, not here.
	if _, err := (contexts.Options{}).Parse(contexts.KindData, []byte(`{"title": "t", "image": "https://images.internal.example/x.png"}`), now); err != nil {
		t.Errorf("a name was refused: %v", err)
	}
}

// An image URL with a port and no host name ("http://:80/x.png") parses
// with a Host and would be fetched from the node itself: it is no URL of
// an image server, whatever the allow-list says.
func TestParseRefusesAnImageURLWithoutAHostName(t *testing.T) {
	allow, _ := pushgate.NewSSRFGuard("0.0.0.0/0,::/0")
	for _, g := range []*pushgate.SSRFGuard{nil, allow} {
		_, err := contexts.Options{Guard: g}.Parse(contexts.KindData, []byte(`{"title": "t", "image": "http://:80/x.png"}`), now)
		if got := fields(t, err); !slices.Equal(got, []string{"image: must be an absolute http(s) URL"}) {
			t.Errorf("guard %v: %q", g, got)
		}
	}
}
