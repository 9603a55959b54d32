package pushgate_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/pushgate/pushgate"
)

// hostAddrs stand for this host's own addresses in the tests: one public
// IPv4 and one public IPv6 address, as a server with a public interface has.
var hostAddrs = []netip.Addr{netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("2a01:4f8:c17:1::5")}

func TestSSRFGuardTable(t *testing.T) {
	g, err := pushgate.NewSSRFGuard("")
	if err != nil {
		t.Fatal(err)
	}
	g = g.WithHostAddrs(hostAddrs)
	tests := []struct {
		ip   string
		ok   bool
		kind string // part of the refusal's description
	}{
		// Public addresses push services, webhooks and images live at.
		{"8.8.8.8", true, ""},
		{"1.1.1.1", true, ""},
		{"142.250.74.110", true, ""},
		{"17.253.144.10", true, ""},
		{"34.117.59.81", true, ""},
		{"100.63.255.255", true, ""},  // just below carrier-grade NAT
		{"100.128.0.1", true, ""},     // just above it
		{"172.15.255.255", true, ""},  // just below 172.16/12
		{"172.32.0.1", true, ""},      // just above it
		{"192.0.1.1", true, ""},       // between 192.0.0/24 and 192.0.2/24
		{"198.20.0.1", true, ""},      // just above benchmarking
		{"223.255.255.254", true, ""}, // just below multicast
		{"2001:4860:4860::8888", true, ""},
		{"2a00:1450:4001:80b::200a", true, ""},
		{"2606:4700:4700::1111", true, ""},
		{"2001:200::1", true, ""}, // just past 2001::/23
		{"::ffff:8.8.8.8", true, ""},
		{"64:ff9b::808:808", true, ""},        // NAT64 of 8.8.8.8
		{"64:ff9b:1::808:808", true, ""},      // local-use NAT64, /96 layout
		{"2002:808:808::1", true, ""},         // 6to4 of 8.8.8.8
		{"::8.8.8.8", true, ""},               // IPv4-compatible 8.8.8.8
		{"93.184.215.15", true, ""},           // next to this host's address
		{"2a01:4f8:c17:1::6", true, ""},       // next to this host's address
		{"fe80::1%eth0", false, "link-local"}, // zones do not help

		// IPv4 internal ranges.
		{"0.0.0.0", false, "this network"},
		{"0.1.2.3", false, "this network"},
		{"10.0.0.1", false, "private"},
		{"10.255.255.255", false, "private"},
		{"100.64.0.1", false, "carrier-grade NAT"},
		{"100.100.100.200", false, "cloud metadata"},
		{"127.0.0.1", false, "loopback"},
		{"127.255.255.254", false, "loopback"},
		{"169.254.169.254", false, "link-local"},
		{"169.254.0.23", false, "link-local"},
		{"172.16.0.1", false, "private"},
		{"172.31.255.255", false, "private"},
		{"192.0.0.8", false, "IETF"},
		{"192.0.0.170", false, "IETF"},
		{"192.0.2.1", false, "documentation"},
		{"192.88.99.1", false, "6to4 relay"},
		{"192.168.1.1", false, "private"},
		{"198.18.0.1", false, "benchmarking"},
		{"198.19.255.255", false, "benchmarking"},
		{"198.51.100.7", false, "documentation"},
		{"203.0.113.9", false, "documentation"},
		{"224.0.0.1", false, "multicast"},
		{"239.255.255.250", false, "multicast"},
		{"240.0.0.1", false, "reserved"},
		{"255.255.255.254", false, "reserved"},
		{"255.255.255.255", false, "broadcast"},
		{"93.184.215.14", false, "own address"},

		// IPv6 internal ranges.
		{"::", false, "unspecified"},
		{"::1", false, "loopback"},
		{"fe80::1", false, "link-local"},
		{"fc00::1", false, "unique-local"},
		{"fd00:ec2::254", false, "unique-local"}, // AWS metadata over IPv6
		{"fec0::1", false, "site-local"},
		{"ff02::1", false, "multicast"},
		{"100::1", false, "discard-only"},
		{"2001::1", false, "Teredo"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false, "Teredo"},
		{"2001:2::1", false, "IETF"},
		{"2001:db8::1", false, "documentation"},
		{"3fff::1", false, "documentation"},
		{"4000::1", false, "reserved"},
		{"2a01:4f8:c17:1::5", false, "own address"},

		// IPv6 addresses judged by the IPv4 address they carry.
		{"::ffff:127.0.0.1", false, "IPv4-mapped of 127.0.0.1, loopback"},
		{"::ffff:169.254.169.254", false, "IPv4-mapped of 169.254.169.254"},
		{"::127.0.0.1", false, "IPv4-compatible of 127.0.0.1, loopback"},
		{"::10.0.0.1", false, "IPv4-compatible of 10.0.0.1, private"},
		{"::ffff:0:10.0.0.1", false, "IPv4-translated of 10.0.0.1"},
		{"64:ff9b::a9fe:a9fe", false, "NAT64 of 169.254.169.254"},
		{"64:ff9b::7f00:1", false, "NAT64 of 127.0.0.1"},
		{"64:ff9b::a00:1", false, "NAT64 of 10.0.0.1"},
		{"64:ff9b:1::a9fe:a9fe", false, "local-use NAT64 of 169.254.169.254"},
		{"64:ff9b:1:0:a9:fea9:fe00:0", false, "local-use NAT64 of 169.254.169.254"}, // /64 layout
		{"64:ff9b:1:a9fe:a9:fe00::", false, "local-use NAT64 of 169.254.169.254"},   // /48 layout
		{"2002:a9fe:a9fe::1", false, "6to4 of 169.254.169.254"},
		{"2002:7f00:1::", false, "6to4 of 127.0.0.1"},
		{"2002:c0a8:101::1", false, "6to4 of 192.168.1.1"},
		{"2002:5db8:d70e::1", false, "6to4 of 93.184.215.14, this host's own address"},
	}
	if len(tests) < 60 {
		t.Fatalf("only %d addresses", len(tests))
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.ip)
		if got := g.Allowed(ip); got != tt.ok {
			t.Errorf("%s: allowed %v, want %v", tt.ip, got, tt.ok)
			continue
		}
		err := g.Check(ip)
		var ae *pushgate.AddressError
		switch {
		case tt.ok && err != nil:
			t.Errorf("%s: Check says %v", tt.ip, err)
		case !tt.ok && (!errors.As(err, &ae) || !strings.Contains(ae.Kind, tt.kind)):
			t.Errorf("%s: Check says %v, want a refusal naming %q", tt.ip, err, tt.kind)
		}
	}
}

func TestSSRFGuardAllowListWins(t *testing.T) {
	g, err := pushgate.NewSSRFGuard("127.0.0.0/8, 10.1.0.0/16, fd00:ec2::/32, 93.184.215.14/32")
	if err != nil {
		t.Fatal(err)
	}
	g = g.WithHostAddrs(hostAddrs)
	for _, ip := range []string{"127.0.0.1", "::ffff:127.0.0.1", "10.1.2.3", "64:ff9b::a01:203", "2002:a01:203::", "fd00:ec2::254", "93.184.215.14"} {
		if !g.Allowed(netip.MustParseAddr(ip)) {
			t.Errorf("allow-listed %s refused", ip)
		}
	}
	for _, ip := range []string{"10.2.0.1", "::1", "64:ff9b::a9fe:a9fe", "fd00:ec3::1"} {
		if g.Allowed(netip.MustParseAddr(ip)) {
			t.Errorf("%s allowed, though outside the allow-list", ip)
		}
	}
	if _, err := pushgate.NewSSRFGuard("10.0.0.0/8,nonsense"); err == nil {
		t.Fatal("bad allow-list accepted")
	}
}

func TestSSRFGuardReadsHostAddresses(t *testing.T) {
	g, err := pushgate.NewSSRFGuard("")
	if err != nil {
		t.Fatal(err)
	}
	// Whatever this machine's addresses are, the guard refuses each.
	for _, a := range ownInterfaceAddrs(t) {
		if g.Allowed(a) {
			t.Errorf("this host's address %s allowed", a)
		}
	}
	var zero *pushgate.SSRFGuard
	if zero.Allowed(netip.MustParseAddr("127.0.0.1")) || !zero.Allowed(netip.MustParseAddr("8.8.8.8")) {
		t.Error("a nil guard does not refuse exactly the internal ranges")
	}
}

func TestSSRFGuardCheckURL(t *testing.T) {
	g, _ := pushgate.NewSSRFGuard("")
	g = g.WithHostAddrs(hostAddrs).Trusting("http://127.0.0.1:9000/v1", "https://apns.internal")
	tests := []struct {
		url  string
		kind string // "" when the URL passes
	}{
		{"https://push.example.com/x", ""},
		{"https://fcm.googleapis.com/fcm/send/abc", ""},
		{"https://8.8.8.8/hook", ""},
		{"https://[2001:4860:4860::8888]/hook", ""},
		{"https://metadata.internal/x", ""},        // a name: judged at connect time
		{"http://127.0.0.1:9000/token", ""},        // the trusted endpoint
		{"https://apns.internal:443/3/device", ""}, // trusted, default port spelled out
		{"http://127.0.0.1:9001/token", "loopback"},
		{"http://127.0.0.1/hook", "loopback"},
		{"http://[::1]:8080/", "loopback"},
		{"http://[::ffff:127.0.0.1]/", "IPv4-mapped of 127.0.0.1"},
		{"http://169.254.169.254/latest/meta-data/", "link-local"},
		{"http://[64:ff9b::a9fe:a9fe]/", "NAT64 of 169.254.169.254"},
		{"http://[fe80::1%25eth0]/", "link-local"},
		{"http://10.0.0.7:8080/admin", "private"},
		{"http://93.184.215.14/", "own address"},
		{"http://localhost:8080/", "loopback"},
		{"http://LOCALHOST./", "loopback"},
		{"http://api.localhost/", "loopback"},
		{"http://2130706433/", "127.0.0.1, loopback"},
		{"http://0x7f.1/", "127.0.0.1, loopback"},
		{"http://0177.0.0.1/", "127.0.0.1, loopback"},
		{"http://10.1/", "10.0.0.1, private"},
		{"https://:443/push", "no host name"},
		{"http://user@:8080/x", "no host name"},
		{"https://cafe.be/x", ""}, // hex-looking labels are still a name
		{"not a url at all", ""},
	}
	for _, tt := range tests {
		err := g.CheckURL(tt.url)
		var ae *pushgate.AddressError
		switch {
		case tt.kind == "" && err != nil:
			t.Errorf("%s: %v", tt.url, err)
		case tt.kind != "" && (!errors.As(err, &ae) || !strings.Contains(ae.Kind, tt.kind)):
			t.Errorf("%s: %v, want a refusal naming %q", tt.url, err, tt.kind)
		}
	}
	allowed, _ := pushgate.NewSSRFGuard("127.0.0.0/8")
	for _, u := range []string{"http://localhost:8080/", "http://127.0.0.1/x", "http://2130706433/"} {
		if err := allowed.CheckURL(u); err != nil {
			t.Errorf("%s refused although 127.0.0.0/8 is allowed: %v", u, err)
		}
	}
}

func TestSSRFGuardTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	g, _ := pushgate.NewSSRFGuard("")
	_, err := (&http.Client{Transport: g.Transport()}).Get(srv.URL)
	var ae *pushgate.AddressError
	if !errors.As(err, &ae) || ae.Kind != "loopback" || !strings.Contains(err.Error(), "forbidden address") {
		t.Fatalf("request to loopback: %v", err)
	}
	// The guard works on the resolved address, so a name does not help.
	_, err = (&http.Client{Transport: g.Transport()}).Get(strings.Replace(srv.URL, "127.0.0.1", "localhost", 1))
	if !errors.As(err, &ae) {
		t.Fatalf("request to localhost by name: %v", err)
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

	// A trusted endpoint is reached at its exact host and port only.
	trusted := g.Trusting(srv.URL + "/v1")
	res, err = (&http.Client{Transport: trusted.Transport()}).Get(srv.URL + "/token")
	if err != nil {
		t.Fatalf("request to the trusted endpoint: %v", err)
	}
	res.Body.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer other.Close()
	if _, err := (&http.Client{Transport: trusted.Transport()}).Get(other.URL); !errors.As(err, &ae) {
		t.Fatalf("another port of the trusted host: %v", err)
	}
	if _, err := g.DialContext(context.Background(), "tcp", "127.0.0.1:1"); !errors.As(err, &ae) {
		t.Fatalf("dial: %v", err)
	}
}

func ownInterfaceAddrs(t *testing.T) []netip.Addr {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip("interfaces unreadable:", err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out
}
