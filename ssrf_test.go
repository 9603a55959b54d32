package pushgate_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/pushgate/pushgate"
)

func TestSSRFGuardRefusesInternalAddresses(t *testing.T) {
	g, err := pushgate.NewSSRFGuard("")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
		"fe80::1", "fc00::1", "0.0.0.0", "::", "100.100.100.200", "100.64.0.1", "224.0.0.1", "::ffff:127.0.0.1"} {
		if g.Allowed(netip.MustParseAddr(bad)) {
			t.Errorf("%s allowed", bad)
		}
	}
	for _, good := range []string{"8.8.8.8", "2001:4860:4860::8888", "142.250.0.1"} {
		if !g.Allowed(netip.MustParseAddr(good)) {
			t.Errorf("%s refused", good)
		}
	}
}

func TestSSRFGuardTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	g, _ := pushgate.NewSSRFGuard("")
	_, err := (&http.Client{Transport: g.Transport()}).Get(srv.URL)
	if err == nil || !strings.Contains(err.Error(), "internal address") {
		t.Fatalf("request to loopback: %v", err)
	}
	// The guard works on the resolved address, so a name does not help.
	_, err = (&http.Client{Transport: g.Transport()}).Get(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1))
	if err == nil {
		t.Fatal("request to localhost by name went through")
	}

	allowed, err := pushgate.NewSSRFGuard("127.0.0.0/8, ::1/128")
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&http.Client{Transport: allowed.Transport()}).Get(srv.URL)
	if err != nil {
		t.Fatalf("allow-listed request: %v", err)
	}
	res.Body.Close()

	if _, err := pushgate.NewSSRFGuard("10.0.0.0/8,nonsense"); err == nil {
		t.Fatal("bad allow-list accepted")
	}
	_, _ = g.DialContext(context.Background(), "tcp", "127.0.0.1:1")
}
