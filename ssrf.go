package pushgate

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// SSRFGuard refuses outgoing connections to addresses a caller-supplied URL
// must never reach: loopback, private, link-local (cloud metadata lives
// there), unique-local, multicast and unspecified addresses, unless an
// allow-list names them. It checks the address actually dialled, after DNS,
// so a name that resolves to a private address is refused too.
type SSRFGuard struct {
	allow []netip.Prefix
}

// NewSSRFGuard returns a guard that lets through the comma-separated CIDR
// prefixes in allow (for tests and on-premise targets).
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
	return g, nil
}

// metadata addresses outside the link-local range (Alibaba Cloud).
var metadataAddrs = []netip.Addr{netip.MustParseAddr("100.100.100.200")}

// Allowed reports whether a connection to ip may be made.
func (g *SSRFGuard) Allowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || !ip.IsValid() {
		return false
	}
	for _, m := range metadataAddrs {
		if ip == m {
			return false
		}
	}
	// 100.64.0.0/10 (carrier-grade NAT) is as internal as 10.0.0.0/8.
	if netip.MustParsePrefix("100.64.0.0/10").Contains(ip) {
		return false
	}
	return true
}

// control runs after DNS resolution, on the address about to be dialled.
func (g *SSRFGuard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("ssrf guard: %w", err)
	}
	if !g.Allowed(ap.Addr()) {
		return &Error{Code: EFORBIDDEN, Message: fmt.Sprintf("refusing to connect to %s: internal address (allow it with PUSHGATE_SSRF_ALLOW)", ap.Addr())}
	}
	return nil
}

// DialContext dials like net.Dialer, refusing internal addresses.
func (g *SSRFGuard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
	return d.DialContext(ctx, network, addr)
}

// Transport returns an HTTP transport (HTTP/2 where the server offers it)
// whose every connection passes the guard. Proxies from the environment
// are not used: the guard must see the real destination.
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
