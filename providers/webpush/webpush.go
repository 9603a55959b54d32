package webpush

import (
	"cmp"
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/SherClockHolmes/webpush-go"

	pushgate "github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/recipients"
)

// Options configure the provider.
type Options struct {
	// HTTPClient sends the pushes. Leave it nil outside tests: the default
	// dials through Guard and follows no redirects.
	HTTPClient *http.Client
	// Guard screens the addresses the default client dials (nil: a guard
	// with an empty allow-list, refusing every internal address).
	Guard *pushgate.SSRFGuard
	// Timeout bounds one push, request and answer (default 30 s).
	Timeout time.Duration
	// DefaultSubject is the VAPID contact (mailto: or https:) for
	// credentials that name none.
	DefaultSubject string
	// Now is the clock for TTLs and Retry-After dates (default time.Now).
	Now func() time.Time
}

// Provider sends Web Push messages signed with one VAPID credential. It is
// safe for concurrent use.
type Provider struct {
	client     *http.Client
	ownsClient bool
	timeout    time.Duration
	now        func() time.Time
	gate       encryptGate
	publicKey  string
	privateKey string
	// subscriber is the VAPID subject the way webpush-go wants it.
	subscriber string
	closed     atomic.Bool
}

var _ providers.Provider = (*Provider)(nil)

// New returns a provider for a VAPID credential, with an encryption gate
// of its own. Providers built by a Registry (see Register) share one.
func New(cred *buckets.Credential, opts Options) (*Provider, error) {
	return newProvider(cred, opts, newEncryptGate())
}

func newProvider(cred *buckets.Credential, opts Options, gate encryptGate) (*Provider, error) {
	if cred == nil || cred.Type != buckets.VAPID || cred.VAPID == nil {
		return nil, pushgate.Invalid("webpush: a vapid credential is required")
	}
	v := cred.VAPID
	var fields []string
	pub, err := decodeKey(v.PublicKey)
	if err != nil || len(pub) != 65 {
		fields = append(fields, "publicKey: must be an uncompressed P-256 point (65 bytes, base64url)")
	}
	priv, err := decodeKey(v.PrivateKey)
	if err != nil || len(priv) != 32 {
		fields = append(fields, "privateKey: must be a P-256 scalar (32 bytes, base64url)")
	} else if k, err := ecdh.P256().NewPrivateKey(priv); err != nil {
		fields = append(fields, "privateKey: is not a valid P-256 key")
	} else if len(fields) == 0 && string(k.PublicKey().Bytes()) != string(pub) {
		fields = append(fields, "publicKey: does not belong to privateKey")
	}
	subscriber, err := vapidSubscriber(cmp.Or(v.Subject, opts.DefaultSubject))
	if err != nil {
		fields = append(fields, "subject: "+err.Error())
	}
	if len(fields) > 0 {
		return nil, pushgate.Invalid("webpush: the vapid credential is not usable", fields...)
	}
	p := &Provider{
		client:     opts.HTTPClient,
		timeout:    opts.Timeout,
		now:        opts.Now,
		gate:       gate,
		publicKey:  base64.RawURLEncoding.EncodeToString(pub),
		privateKey: base64.RawURLEncoding.EncodeToString(priv),
		subscriber: subscriber,
	}
	if p.client == nil {
		p.client, p.ownsClient = guardedClient(opts.Guard), true
	}
	if p.timeout <= 0 {
		p.timeout = 30 * time.Second
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// factory builds the Web Push providers of one Registry. It owns what they
// share: the options (one HTTP client, so one connection pool) and the
// encryption gate, so the limit holds across every credential it serves.
type factory struct {
	opts Options
	gate encryptGate
}

func (f *factory) build(c *buckets.Credential) (providers.Provider, error) {
	return newProvider(c, f.opts, f.gate)
}

// Register makes r build Web Push providers for vapid credentials and check
// contexts against the Web Push payload limit.
func Register(r *providers.Registry, opts Options) {
	if opts.HTTPClient == nil {
		// One connection pool for every credential: they all talk to the
		// same few push services.
		opts.HTTPClient = guardedClient(opts.Guard)
	}
	f := &factory{opts: opts, gate: newEncryptGate()}
	r.Register(buckets.VAPID, f.build, Check)
}

// guardedClient returns a client whose every connection passes g.
func guardedClient(g *pushgate.SSRFGuard) *http.Client {
	if g == nil {
		g = &pushgate.SSRFGuard{}
	}
	t := g.Transport()
	t.MaxConnsPerHost = maxConnsPerHost
	return &http.Client{
		Transport: t,
		// A push service never redirects; a redirect from an endpoint is
		// an attempt to send the request somewhere else.
		CheckRedirect: pushgate.NoRedirects,
	}
}

// maxConnsPerHost bounds the connections to one push service. Over HTTP/2
// (FCM, Mozilla, Apple, Microsoft) a few connections carry every stream;
// over HTTP/1.1 each push in flight takes a connection, and a node with
// a thousand sends in flight would open a thousand: beyond this many they
// wait for one to be free.
const maxConnsPerHost = 128

var errClosed = errors.New("webpush: provider closed")

// encryptGate bounds how many pushes are encrypted and signed at once by
// the providers that share it (those of one Register: the node's), whatever
// the number of tasks and senders. That work (two ECDH operations, an ECDSA
// signature and deriving the VAPID public key on every push, all inside
// webpush-go) is pure CPU: a thousand senders doing it together only add
// scheduling and stacks, while the network wait that follows needs no CPU
// and is not gated (docs/performance.md has the figures).
type encryptGate chan struct{}

func newEncryptGate() encryptGate { return make(encryptGate, max(2, runtime.GOMAXPROCS(0))) }

// acquire waits for a slot of g, or for ctx to end.
func (g encryptGate) acquire(ctx context.Context) (*gateSlot, error) {
	select {
	case g <- struct{}{}:
		return &gateSlot{gate: g}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// gateSlot gives back one slot of its gate, once.
type gateSlot struct {
	once sync.Once
	gate encryptGate
}

func (s *gateSlot) release() { s.once.Do(func() { <-s.gate }) }

type gateSlotKey struct{}

// gatedClient is the client webpush-go sends through: the request it is
// given is encrypted and signed, so the sender's slot goes back first.
type gatedClient struct{ c *http.Client }

func (g gatedClient) Do(req *http.Request) (*http.Response, error) {
	if s, ok := req.Context().Value(gateSlotKey{}).(*gateSlot); ok {
		s.release()
	}
	return g.c.Do(req)
}

// Send encrypts m for its receiver's subscription and posts it to the
// subscription's endpoint.
func (p *Provider) Send(ctx context.Context, m *providers.Message) error {
	if p.closed.Load() {
		return errClosed
	}
	sub, err := subscription(m.Receiver)
	if err != nil {
		return providers.Permanent(providers.ReasonInvalidToken, 0, err)
	}
	r, err := render(m, browserFor(sub.Endpoint))
	if err != nil {
		return providers.Permanent(providers.ReasonInvalidPayload, 0, err)
	}
	body := r.body
	if len(body) > MaxPayload {
		return providers.Permanent(providers.ReasonPayloadTooLarge, 0, fmt.Errorf("payload is %d bytes; at most %d fit", len(body), MaxPayload))
	}
	expiresAt := m.ExpiresAt
	if r.ownExpiry {
		expiresAt = r.expiresAt
	}
	ttl, ok := ttlSeconds(expiresAt, p.now())
	if !ok {
		return providers.Permanent(providers.ReasonExpired, 0, fmt.Errorf("expired at %s", expiresAt.Format(time.RFC3339)))
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	// A slot of the encryption gate, held while webpush-go encrypts and
	// signs and given back when it hands the request to the client.
	slot, err := p.gate.acquire(ctx)
	if err != nil {
		return classifyError(err)
	}
	defer slot.release()
	ctx = context.WithValue(ctx, gateSlotKey{}, slot)
	// The full slice expression: webpush-go appends its padding to the
	// message, which must never write into an array someone else reads.
	resp, err := webpush.SendNotificationWithContext(ctx, body[:len(body):len(body)], sub, &webpush.Options{
		HTTPClient:      gatedClient{p.client},
		Subscriber:      p.subscriber,
		VAPIDPublicKey:  p.publicKey,
		VAPIDPrivateKey: p.privateKey,
		TTL:             ttl,
		Urgency:         r.urgency,
		Topic:           r.topic,
	})
	if err != nil {
		return classifyError(err)
	}
	defer func() {
		// Drained so the connection goes back to the pool.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	return classifyResponse(resp, p.now())
}

// Close releases idle connections of a client the provider made itself. A
// closed provider refuses to send.
func (p *Provider) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	if p.ownsClient {
		p.client.CloseIdleConnections()
	}
	return nil
}

// subscription checks a receiver's endpoint and keys, which webpush-go
// would otherwise report only as unclassifiable errors.
func subscription(r recipients.Receiver) (*webpush.Subscription, error) {
	u, err := url.Parse(r.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("endpoint %q is not an absolute http(s) URL", r.Endpoint)
	}
	p256dh, err := decodeKey(r.P256dh)
	if err != nil {
		return nil, fmt.Errorf("p256dh: %w", err)
	}
	if _, err := ecdh.P256().NewPublicKey(p256dh); err != nil {
		return nil, fmt.Errorf("p256dh is not a P-256 public key: %w", err)
	}
	auth, err := decodeKey(r.Auth)
	if err != nil || len(auth) != 16 {
		return nil, errors.New("auth must be a 16-byte secret, base64url")
	}
	return &webpush.Subscription{Endpoint: r.Endpoint, Keys: webpush.Keys{
		P256dh: base64.RawURLEncoding.EncodeToString(p256dh),
		Auth:   base64.RawURLEncoding.EncodeToString(auth),
	}}, nil
}

// decodeKey reads base64url (what browsers and key generators give), with
// or without padding, and plain base64, which some clients send.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// vapidSubscriber turns a VAPID subject into webpush-go's Subscriber, which
// prefixes "mailto:" to anything not starting with "https:".
func vapidSubscriber(subject string) (string, error) {
	scheme, rest, _ := strings.Cut(subject, ":")
	switch strings.ToLower(scheme) {
	case "mailto":
		if !strings.Contains(rest, "@") || strings.Contains(rest, ":") {
			return "", fmt.Errorf("%q is not a mailto: address", subject)
		}
		return rest, nil
	case "https":
		if !strings.HasPrefix(rest, "//") || len(rest) <= 2 {
			return "", fmt.Errorf("%q is not an https: URL", subject)
		}
		return "https:" + rest, nil
	case "":
		return "", errors.New("is required (mailto: or https:), in the credential or the default subject")
	}
	return "", fmt.Errorf("%q is neither a mailto: address nor an https: URL", subject)
}
