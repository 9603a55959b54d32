package apns

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/providers"
)

// DefaultTTL is how long Apple keeps trying a message that sets no expiry:
// the same 28 days as FCM and the Web Push services (docs/payloads.md).
const DefaultTTL = 28 * 24 * time.Hour

// tokenRefreshFloor is the youngest provider token Send will throw away
// after an ExpiredProviderToken answer: Apple refuses tokens renewed more
// often than every 20 minutes.
const tokenRefreshFloor = 20 * time.Minute

// Options configure every APNS provider of a process.
type Options struct {
	// Host replaces both of Apple's hosts when set (PUSHGATE_APNS_HOST), e.g.
	// "https://127.0.0.1:8443" for a fake.
	Host string
	// RootCAs verify the APNS server; nil means the system roots.
	RootCAs *x509.CertPool
	// Timeout bounds one request, connecting included; zero means 30s.
	// Requests begun within an eighth of it share one timer, so a request
	// may get up to an eighth more.
	Timeout time.Duration
	// MaxConns caps the HTTP/2 connections of one credential. Zero means no
	// cap: a connection is added only when the open ones carry as many
	// concurrent streams as Apple allows on each (about 1000), so one is
	// the usual count. At the cap, sends wait for a free stream.
	MaxConns int
	// Now is the clock for expirations; nil means time.Now.
	Now func() time.Time
}

// Provider sends through one APNS credential. It is safe for concurrent use.
type Provider struct {
	// token signs provider tokens; nil for a certificate credential, whose
	// certificate authenticates the connection instead.
	token  *token.Token
	bearer atomic.Pointer[bearer] // the last token's header (authorization)
	pool   *connPool
	topic  string
	// safari is set for website push ids, whose raw payload is the safari one.
	safari    bool
	now       func() time.Time
	templates templates
}

var _ providers.Provider = (*Provider)(nil)

// New builds the provider of an apns_token or apns_cert credential. It does
// not connect: the first Send does.
func New(cred *buckets.Credential, opts Options) (*Provider, error) {
	if cred == nil {
		return nil, errors.New("apns: no credential")
	}
	p := &Provider{now: opts.Now}
	if p.now == nil {
		p.now = time.Now
	}
	host := opts.Host
	var production bool
	var certs []tls.Certificate
	switch {
	case cred.Type == buckets.APNSToken && cred.APNSToken != nil:
		c := cred.APNSToken
		key, err := token.AuthKeyFromBytes([]byte(c.Key))
		if err != nil {
			return nil, fmt.Errorf("apns: credential %s: key: %w", cred.ID, err)
		}
		if c.KeyID == "" || c.TeamID == "" {
			return nil, fmt.Errorf("apns: credential %s: key id and team id are required", cred.ID)
		}
		p.token = &token.Token{AuthKey: key, KeyID: c.KeyID, TeamID: c.TeamID}
		p.topic, production = c.Topic, c.Production
	case cred.Type == buckets.APNSCert && cred.APNSCert != nil:
		c := cred.APNSCert
		pair, err := tls.X509KeyPair([]byte(c.CertPEM), []byte(c.KeyPEM))
		if err != nil {
			return nil, fmt.Errorf("apns: credential %s: certificate: %w", cred.ID, err)
		}
		certs = []tls.Certificate{pair}
		p.topic, production = c.Topic, c.Production
		if p.topic == "" {
			p.topic = certTopic(pair)
		}
	default:
		return nil, fmt.Errorf("apns: credential %s of type %s has no APNS payload", cred.ID, cred.Type)
	}
	if p.topic == "" {
		return nil, fmt.Errorf("apns: credential %s: a topic (bundle id or website push id) is required", cred.ID)
	}
	p.safari = strings.HasPrefix(p.topic, "web.")

	switch {
	case host != "":
		host = strings.TrimRight(host, "/")
	case production:
		host = apns2.HostProduction
	default:
		host = apns2.HostDevelopment
	}
	u, err := url.Parse(host)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("apns: host %q must be an https:// URL with no path", host)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	conf := &tls.Config{RootCAs: opts.RootCAs, Certificates: certs, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	p.pool = newConnPool(addr, u.Host, conf, opts.MaxConns, timeout)
	return p, nil
}

// certTopic is the bundle id the pair's certificate was issued for.
func certTopic(pair tls.Certificate) string {
	leaf := pair.Leaf
	if leaf == nil && len(pair.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(pair.Certificate[0])
	}
	if leaf == nil {
		return ""
	}
	return buckets.CertTopic(leaf)
}

// Send delivers m to its receiver's device token. A message whose ExpiresAt
// has passed is not sent.
func (p *Provider) Send(ctx context.Context, m *providers.Message) error {
	now := p.now()
	expires := m.ExpiresAt
	if expires.IsZero() {
		expires = now.Add(DefaultTTL)
	} else if !expires.After(now) {
		return providers.Permanent(providers.ReasonExpired, 0, fmt.Errorf("apns: message %s expired at %s", m.ID, m.ExpiresAt.Format(time.RFC3339)))
	}
	if m.Context == nil {
		return providers.Permanent(providers.ReasonInvalidPayload, 0, fmt.Errorf("apns: message %s has no context", m.ID))
	}
	r, err := p.templates.render(m.Context, identity{messageID: m.ID, contextID: m.Context.ID, foreignID: m.ForeignID}, p.safari)
	if err != nil {
		return providers.Permanent(providers.ReasonInvalidPayload, 0, fmt.Errorf("apns: %w", err))
	}
	if len(r.body) > MaxPayload {
		// Apple would answer 413; no need to ask.
		return providers.Permanent(providers.ReasonPayloadTooLarge, 0, fmt.Errorf("apns: payload of %d bytes exceeds %d", len(r.body), MaxPayload))
	}
	req := h2request{
		token: m.Receiver.Token, topic: p.topic, pushType: string(r.pushType), collapseID: r.collapseID,
		uniqueCollapseID: r.collapseID == m.ID, priority: r.priority, expiration: expires.Unix(), body: r.body,
	}
	if p.token != nil {
		req.bearer = p.authorization()
	}
	// No apns-id: Apple assigns one. A header value unique to every request
	// would be added to, and evicted from, the HTTP/2 header table of both
	// ends on every push, which costs more CPU than the whole render.
	ans, err := p.pool.roundTrip(ctx, &req) // bounded by Options.Timeout
	if err != nil {
		return fmt.Errorf("apns: %w", err)
	}
	return p.classify(ans)
}

// classify turns an answer into Send's result.
func (p *Provider) classify(ans h2answer) error {
	if ans.status == http.StatusOK {
		return nil // accepted: nothing to read, nothing to allocate
	}
	resp := &apns2.Response{StatusCode: ans.status, ApnsID: ans.apnsID}
	if ans.status != http.StatusOK && len(ans.body) > 0 {
		// A body that is not Apple's JSON leaves the reason empty; the
		// status alone classifies it.
		_ = json.Unmarshal(ans.body, resp)
		resp.StatusCode, resp.ApnsID = ans.status, ans.apnsID
	}
	var retryAfter time.Duration
	if ans.status == http.StatusTooManyRequests || ans.status >= 500 {
		retryAfter = parseRetryAfter(ans.retryAfter, p.now())
	}
	if resp.Reason == apns2.ReasonExpiredProviderToken {
		p.renewToken()
	}
	return classify(resp, retryAfter)
}

// authorization is the authorization header of the current provider
// token, made once a token rather than once a push.
func (p *Provider) authorization() string {
	t := p.token.GenerateIfExpired()
	if b := p.bearer.Load(); b != nil && b.token == t {
		return b.header
	}
	b := &bearer{token: t, header: "bearer " + t}
	p.bearer.Store(b)
	return b.header
}

// bearer is a provider token and the authorization header that carries it.
type bearer struct{ token, header string }

// renewToken makes the next Send sign a new provider token, unless the
// current one is too young to be replaced without Apple refusing the update.
func (p *Provider) renewToken() {
	t := p.token
	if t == nil {
		return
	}
	t.Lock()
	defer t.Unlock()
	// apns2 stamps tokens with the wall clock, not p.now.
	if time.Now().Unix()-t.IssuedAt >= int64(tokenRefreshFloor/time.Second) {
		t.IssuedAt = 0
	}
}

// Close closes the provider's connections; sends still in flight fail, and
// later ones are refused.
func (p *Provider) Close() error {
	p.pool.close()
	return nil
}

// Register makes r build APNS providers for both APNS credential types and
// check contexts against APNS's payload limit.
func Register(r *providers.Registry, opts Options) {
	factory := func(cred *buckets.Credential) (providers.Provider, error) {
		p, err := New(cred, opts)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	r.Register(buckets.APNSToken, factory, Check)
	r.Register(buckets.APNSCert, factory, Check)
}
