package buckets

import (
	"errors"
	"slices"
	"testing"

	"github.com/pushgate/pushgate"
)

// A URL with a port and no host name parses with a Host (":443"), and
// net/http dials it on the node itself: it is refused like any URL without
// a host.
func TestCallbackURLNeedsAHostName(t *testing.T) {
	for _, u := range []string{"https://:", "https://:443/hooks", "http://:80", "https://user@:8443/x"} {
		_, _, err := ParseCreateRequest(body(t, hook(u, nil), obj{"type": "websocket"}), testOptions())
		var e *pushgate.Error
		if !errors.As(err, &e) || !slices.Equal(e.Fields, []string{"callbackConfig.payload.url: must be an absolute http(s) URL"}) {
			t.Errorf("callback URL %q: %v, want it refused", u, err)
		}
	}
}
