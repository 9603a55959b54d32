package pushgate

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SSRFGuard is the one place that decides which addresses pushgate may
// connect to on behalf of a tenant: push endpoints, FCM token endpoints,
// webhook callbacks and image URLs, and every redirect any of them answers.
// It refuses internal addresses (loopback, private, link-local where cloud
// metadata lives, carrier-grade NAT, unique- and site-local, multicast,
// reserved, documentation and benchmarking ranges), IPv6 addresses that
// carry such an IPv4 address (IPv4-mapped and -compatible, NAT64, 6to4),
// Teredo, and this host's own addresses, unless the allow-list names them.
//
// It judges the address actually dialled, after DNS, so a name that
// resolves inward is refused too (DialContext, Transport); CheckURL judges
// what can be judged without DNS, for refusing input when it is created.
//
// Endpoints the operator configured (Trusting) are not tenant input and are
// let through by their exact host and port.
//
// A nil or zero guard refuses every internal address and allows nothing
// extra; it does not know the host's own addresses.
type SSRFGuard struct {
	allow []netip.Prefix
	// own are this host's addresses, refused like internal ones: services
	// listening on all interfaces are reachable through any of them.
	own map[netip.Addr]bool
	// trusted are "host:port" of endpoints the operator configured.
	trusted map[string]bool
}

// NewSSRFGuard returns a guard that lets through the comma-separated CIDR
// prefixes in allow (the ssrf_allow setting: tests and on-premise targets)
// and refuses this host's own addresses, read now from its interfaces.
func NewSSRFGuard(allow string) (*SSRFGuard, error) {
	g := &SSRFGuard{}
	for _, s := range strings.Split(allow, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("ssrf allow-list: %q is not a CIDR prefix", s)
		}
		g.allow = append(g.allow, p.Masked())
	}
	// Should the interfaces be unreadable, the ranges above still refuse
	// every private and loopback address; own addresses are a second line.
	addrs, _ := net.InterfaceAddrs()
	var own []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			own = append(own, p.Addr())
		}
	}
	return g.WithHostAddrs(own), nil
}

// WithHostAddrs returns a copy of g that takes addrs as this host's own
// addresses instead of those read from the interfaces (tests, and hosts
// whose public address is not on an interface, behind 1:1 NAT).
func (g *SSRFGuard) WithHostAddrs(addrs []netip.Addr) *SSRFGuard {
	c := g.clone()
	c.own = make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		c.own[a.Unmap().WithZone("")] = true
	}
	return c
}

// Trusting returns a copy of g that also connects to the host and port of
// each of the URLs (endpoints the operator configured, such as apns_host and
// fcm_endpoint), whatever their address. Empty or unparsable URLs are
// skipped: the settings are checked where they are read.
func (g *SSRFGuard) Trusting(endpoints ...string) *SSRFGuard {
	c := g.clone()
	for _, e := range endpoints {
		u, err := url.Parse(e)
		if e == "" || err != nil || u.Host == "" {
			continue
		}
		if c.trusted == nil {
			c.trusted = map[string]bool{}
		}
		c.trusted[authority(u)] = true
	}
	return c
}

func (g *SSRFGuard) clone() *SSRFGuard {
	c := &SSRFGuard{}
	if g == nil {
		return c
	}
	c.allow = g.allow
	c.own = g.own
	if len(g.trusted) > 0 {
		c.trusted = make(map[string]bool, len(g.trusted))
		for k := range g.trusted {
			c.trusted[k] = true
		}
	}
	return c
}

// authority is u's "host:port" as a dialler sees it, the scheme's default
// port filled in.
func authority(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

func (g *SSRFGuard) trustedAddr(hostport string) bool {
	if g == nil || len(g.trusted) == 0 {
		return false
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	return g.trusted[net.JoinHostPort(strings.ToLower(host), port)]
}

// AddressError is the guard's refusal of a destination. Its text names the
// address (or the name given), never the URL, so it is safe to show to API
// clients and to log.
type AddressError struct {
	// Host is what was refused: an IP address, or a name such as localhost.
	Host string
	// Kind says what sort of address it is: "loopback", "private",
	// "NAT64 of 169.254.169.254, link-local", ...
	Kind string
}

func (e *AddressError) Error() string {
	return fmt.Sprintf("%s is a forbidden address (%s); ssrf_allow can allow it", e.Host, e.Kind)
}

// Allowed reports whether a connection to ip may be made.
func (g *SSRFGuard) Allowed(ip netip.Addr) bool { return g.refusal(ip) == "" }

// Check returns an *AddressError when the guard refuses ip, else nil.
func (g *SSRFGuard) Check(ip netip.Addr) error {
	if kind := g.refusal(ip); kind != "" {
		return &AddressError{Host: ip.String(), Kind: kind}
	}
	return nil
}

// IsHTTPURL reports whether s is an absolute http(s) URL with a host
// name: what the node fetches or posts to. Hostname, not Host:
// "https://:443" has a Host, and would reach the node itself.
func IsHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != "" && u.Opaque == ""
}

// NoRedirects is an http.Client's CheckRedirect for a client that follows
// no redirect: the answer is the redirect itself, never a request sent
// somewhere the tenant's URL did not name.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// CheckURL reports, without resolving any name, whether the guard will
// refuse the host of rawURL: see CheckHost. It returns nil for what is not
// a URL with a host (the caller's own checks report that).
func (g *SSRFGuard) CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil
	}
	return g.CheckHost(u)
}

// CheckHost reports, without resolving any name, whether the guard will
// refuse the host of a parsed URL: an IP literal it refuses (IPv4 in any
// of the forms resolvers accept, such as 2130706433 or 0x7f.1, included),
// localhost and names under .localhost, which resolve to loopback
// everywhere, and a port with no host name ("https://:443"), which is
// dialled on the node itself. It returns an *AddressError, or nil for
// every other name (judged when connecting) and for trusted endpoints.
func (g *SSRFGuard) CheckHost(u *url.URL) error {
	if g.trustedAddr(authority(u)) {
		return nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "" {
		return &AddressError{Host: u.Host, Kind: "no host name, so this node itself"}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return g.Check(ip)
	}
	if ip, ok := legacyIPv4(host); ok {
		if kind := g.refusal(ip); kind != "" {
			return &AddressError{Host: host, Kind: ip.String() + ", " + kind}
		}
		return nil
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		// Resolvers answer 127.0.0.1 or ::1; either allowed lets it by.
		if g.Allowed(netip.MustParseAddr("127.0.0.1")) || g.Allowed(netip.IPv6Loopback()) {
			return nil
		}
		return &AddressError{Host: host, Kind: "loopback"}
	}
	return nil
}

// legacyIPv4 reads the IPv4 forms inet_aton accepts and some resolvers
// still honour: one to four parts, each decimal, octal (leading 0) or hex
// (0x), the last filling the remaining bytes ("127.1", "2130706433",
// "0x7f.0.0.1"). Dotted-quad decimal is netip's job.
func legacyIPv4(host string) (netip.Addr, bool) {
	// Most hosts are names: a last label that is not a number in any base
	// (a letter past "f", or past "x" after "0x") ends it without splitting.
	last := host[strings.LastIndexByte(host, '.')+1:]
	if host == "" || last == "" || strings.IndexFunc(strings.TrimPrefix(last, "0x"), func(r rune) bool {
		return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f')
	}) >= 0 {
		return netip.Addr{}, false
	}
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, p := range parts {
		base, digits := 10, p
		switch {
		case len(p) > 2 && (p[:2] == "0x"):
			base, digits = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals = append(vals, v)
	}
	lastVal := vals[len(vals)-1]
	if lastVal >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	var n uint64
	for _, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n = n<<8 | v
	}
	n = n<<(8*(5-len(vals))) | lastVal
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

type special struct {
	prefix netip.Prefix
	kind   string
}

func specials(kvs ...string) []special {
	out := make([]special, 0, len(kvs)/2)
	for i := 0; i < len(kvs); i += 2 {
		out = append(out, special{netip.MustParsePrefix(kvs[i]), kvs[i+1]})
	}
	return out
}

// IPv4 ranges that are not the public internet (IANA's special-purpose
// registry), in order: the first match names the address.
var specials4 = specials(
	"0.0.0.0/8", "\"this network\"",
	"10.0.0.0/8", "private",
	"100.100.100.200/32", "cloud metadata",
	"100.64.0.0/10", "carrier-grade NAT",
	"127.0.0.0/8", "loopback",
	"169.254.0.0/16", "link-local, where cloud metadata lives",
	"172.16.0.0/12", "private",
	"192.0.0.0/24", "IETF protocol assignment",
	"192.0.2.0/24", "documentation",
	"192.88.99.0/24", "6to4 relay anycast",
	"192.168.0.0/16", "private",
	"198.18.0.0/15", "benchmarking",
	"198.51.100.0/24", "documentation",
	"203.0.113.0/24", "documentation",
	"224.0.0.0/4", "multicast",
	"255.255.255.255/32", "broadcast",
	"240.0.0.0/4", "reserved",
)

// IPv6 ranges that are not the public internet. Those that embed an IPv4
// address are judged by it first (embedded6); anything outside 2000::/3,
// the global unicast space, is refused as well.
var specials6 = specials(
	"100::/64", "discard-only",
	"2001::/32", "Teredo",
	"2001::/23", "IETF protocol assignment",
	"2001:db8::/32", "documentation",
	"3fff::/20", "documentation",
	"5f00::/16", "segment routing",
	"fc00::/7", "unique-local",
	"fe80::/10", "link-local",
	"fec0::/10", "site-local",
	"ff00::/8", "multicast",
)

var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// embedding is an IPv6 range whose addresses carry an IPv4 address that
// the packet in effect goes to.
type embedding struct {
	prefix netip.Prefix
	kind   string
	// v4 returns the IPv4 addresses the IPv6 address may carry.
	v4 func(b [16]byte) []netip.Addr
}

func v4at(b [16]byte, i, j, k, l int) netip.Addr {
	return netip.AddrFrom4([4]byte{b[i], b[j], b[k], b[l]})
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

var embedded6 = []embedding{
	{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped", func(b [16]byte) []netip.Addr {
		return []netip.Addr{v4at(b, 12, 13, 14, 15)}
	}},
	// RFC 4291's deprecated IPv4-compatible form; stacks that still route
	// it send it to the IPv4 address. (:: and ::1 are judged before.)
	{netip.MustParsePrefix("::/96"), "IPv4-compatible", func(b [16]byte) []netip.Addr {
		return []netip.Addr{v4at(b, 12, 13, 14, 15)}
	}},
	// SIIT's IPv4-translated addresses (RFC 2765).
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "IPv4-translated", func(b [16]byte) []netip.Addr {
		return []netip.Addr{v4at(b, 12, 13, 14, 15)}
	}},
	// The well-known NAT64 prefix: on an IPv6-only network a DNS64 server
	// answers 64:ff9b::a9fe:a9fe for the metadata service.
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64", func(b [16]byte) []netip.Addr {
		return []netip.Addr{v4at(b, 12, 13, 14, 15)}
	}},
	// The local-use NAT64 prefix (RFC 8215) may be cut at /48, /56, /64 or
	// /96 (RFC 6052), and which one this network uses is unknown here:
	// every layout whose reserved bits are zero is a possible destination,
	// and each must be allowed.
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64", func(b [16]byte) []netip.Addr {
		// Shorter layouts first: their zero suffix makes them the likelier
		// reading, and the one a refusal should name.
		var out []netip.Addr
		if b[8] == 0 {
			if zero(b[11:]) {
				out = append(out, v4at(b, 6, 7, 9, 10)) // /48
			}
			if zero(b[12:]) {
				out = append(out, v4at(b, 7, 9, 10, 11)) // /56
			}
			if zero(b[13:]) {
				out = append(out, v4at(b, 9, 10, 11, 12)) // /64
			}
		}
		return append(out, v4at(b, 12, 13, 14, 15)) // /96
	}},
	// 6to4 (RFC 3056): 2002:AABB:CCDD::/48 is routed to AA.BB.CC.DD.
	{netip.MustParsePrefix("2002::/16"), "6to4", func(b [16]byte) []netip.Addr {
		return []netip.Addr{v4at(b, 2, 3, 4, 5)}
	}},
}

// refusal says what kind of internal address ip is, or "" when a
// connection to it may be made.
func (g *SSRFGuard) refusal(ip netip.Addr) string {
	ip = ip.WithZone("")
	if !ip.IsValid() {
		return "not an IP address"
	}
	if g != nil {
		for _, p := range g.allow {
			if p.Contains(ip) {
				return ""
			}
		}
	}
	if ip.Is4() {
		for _, s := range specials4 {
			if s.prefix.Contains(ip) {
				return s.kind
			}
		}
		return g.ownKind(ip)
	}
	switch ip {
	case netip.IPv6Unspecified():
		return "unspecified"
	case netip.IPv6Loopback():
		return "loopback"
	}
	for _, e := range embedded6 {
		if !e.prefix.Contains(ip) {
			continue
		}
		for _, v4 := range e.v4(ip.As16()) {
			if kind := g.refusal(v4); kind != "" {
				return fmt.Sprintf("%s of %s, %s", e.kind, v4, kind)
			}
		}
		return ""
	}
	for _, s := range specials6 {
		if s.prefix.Contains(ip) {
			return s.kind
		}
	}
	if !globalUnicast6.Contains(ip) {
		return "reserved"
	}
	return g.ownKind(ip)
}

func (g *SSRFGuard) ownKind(ip netip.Addr) string {
	if g != nil && g.own[ip] {
		return "this host's own address"
	}
	return ""
}

// control runs after DNS resolution, on the address about to be dialled.
func (g *SSRFGuard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("ssrf guard: %w", err)
	}
	return g.Check(ap.Addr())
}

// DialContext dials like net.Dialer, refusing internal addresses except on
// trusted endpoints. A refusal is an *AddressError in the error's chain.
func (g *SSRFGuard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !g.trustedAddr(addr) {
		d.Control = g.control
	}
	return d.DialContext(ctx, network, addr)
}

// Transport returns an HTTP transport (HTTP/2 where the server offers it)
// whose every connection passes the guard. Proxies from the environment
// are not used: the guard must see the real destination. The client that
// uses it decides about redirects; each hop is dialled through the guard.
func (g *SSRFGuard) Transport() *http.Transport {
	return &http.Transport{
		DialContext:       g.DialContext,
		ForceAttemptHTTP2: true,
		// As many idle connections per host as sends in flight: push
		// services without HTTP/2 would otherwise see a new connection for
		// most requests (HTTP/2 services multiplex one connection anyway).
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
}
