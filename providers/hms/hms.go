package hms

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/providers"
)

// MaxTokens is the most tokens Push Kit takes in one request.
const MaxTokens = 1000

const defaultTimeout = 30 * time.Second

// Options configure every Push Kit provider built with them.
type Options struct {
	// Guard screens every connection to a credential's pushUrl and authUrl,
	// both tenant input. nil is a guard with an empty allow-list.
	Guard *pushgate.SSRFGuard
	// Timeout bounds each request (default 30 s).
	Timeout time.Duration
	// Concurrency is how many requests one SendBatch has in flight when
	// its messages cannot share one (default 32).
	Concurrency int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Provider sends through Push Kit with one app's credential. It is safe
// for concurrent use; its access token is shared by every send.
type Provider struct {
	appID     string
	sendURL   string
	client    *http.Client
	transport *http.Transport
	tokens    *tokenSource
	workers   int
	now       func() time.Time
}

var (
	_ providers.Provider    = (*Provider)(nil)
	_ providers.BatchSender = (*Provider)(nil)
)

// New returns a provider for an hms credential.
func New(cred *buckets.Credential, opts Options) (*Provider, error) {
	if cred == nil || cred.HMS == nil {
		return nil, badCredentials(errors.New("not an hms credential"))
	}
	h := cred.HMS
	if h.AppID == "" || h.AppSecret == "" {
		return nil, badCredentials(errors.New("the credential has no appId or appSecret"))
	}
	pushURL, authURL := cmp.Or(h.PushURL, buckets.DefaultHMSPushURL), cmp.Or(h.AuthURL, buckets.DefaultHMSAuthURL)
	for _, u := range []string{pushURL, authURL} {
		if p, err := url.Parse(u); err != nil || p.Hostname() == "" {
			return nil, badCredentials(fmt.Errorf("%q is not a URL", u))
		}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	t := opts.Guard.Transport()
	t.MaxIdleConnsPerHost = 64
	client := &http.Client{Transport: t, Timeout: cmp.Or(opts.Timeout, defaultTimeout), CheckRedirect: pushgate.NoRedirects}
	return &Provider{
		appID:     h.AppID,
		sendURL:   pushURL + "/" + url.PathEscape(h.AppID) + "/messages:send",
		client:    client,
		transport: t,
		tokens:    &tokenSource{client: client, url: authURL, clientID: h.AppID, secret: h.AppSecret, now: now},
		workers:   cmp.Or(opts.Concurrency, 32),
		now:       now,
	}, nil
}

func badCredentials(err error) error {
	return providers.Permanent(providers.ReasonBadCredentials, 0, fmt.Errorf("hms: %w", err))
}

// MaxBatch is Push Kit's limit of tokens a request.
func (p *Provider) MaxBatch() int { return MaxTokens }

// Send sends one message.
func (p *Provider) Send(ctx context.Context, m *providers.Message) error {
	return p.SendBatch(ctx, []*providers.Message{m})[0]
}

// Close releases idle connections; sends after Close open new ones.
func (p *Provider) Close() error {
	p.transport.CloseIdleConnections()
	return nil
}

// Register makes r build Push Kit providers with opts and check contexts
// for hms credentials.
func Register(r *providers.Registry, opts Options) {
	r.Register(buckets.HMS, func(cred *buckets.Credential) (providers.Provider, error) {
		p, err := New(cred, opts)
		if err != nil {
			return nil, err
		}
		return p, nil
	}, Check)
}

// forEach runs f(i) for i in [0, n) on at most p.workers goroutines.
func (p *Provider) forEach(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, p.workers) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
