package fcm

import (
	"cmp"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/messaging"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"
	"google.golang.org/api/option"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/providers"
)

// Options configure every FCM provider built with them.
type Options struct {
	// Endpoint is the FCM v1 base URL, e.g. a fake's URL+"/v1"; "" is
	// Google's (https://fcm.googleapis.com/v1). With Google's endpoint the
	// service account's token_uri must be Google's too, so a credential
	// cannot make pushgate post signed assertions to an address it names.
	Endpoint string
	// Guard screens every connection to a service account's token_uri,
	// which is tenant input: with Endpoint set any token_uri is accepted,
	// and without the guard a service account could make the node post to
	// an internal address. Endpoint's own host and port are trusted (the
	// operator chose them). nil is a guard with an empty allow-list.
	Guard *pushgate.SSRFGuard
	// HTTPClient, if set, carries the requests to Endpoint (its Transport
	// and Timeout are used; authentication is added on top), never those
	// to the token_uri. By default each provider has its own connection
	// pool and a 30 s timeout per request.
	HTTPClient *http.Client
}

// Provider sends through FCM v1 with one service account. It is safe for
// concurrent use.
type Provider struct {
	client *messaging.Client
	tokens oauth2.TokenSource
	// owned is the transport New created, closed by Close; nil when the
	// caller supplied the HTTP client.
	owned *http.Transport
	// tokenTransport carries the requests to the token_uri, through the
	// guard.
	tokenTransport *http.Transport
	now            func() time.Time
}

var _ providers.Provider = (*Provider)(nil)

// scopeMessaging is the narrowest OAuth scope that allows FCM sends.
const scopeMessaging = "https://www.googleapis.com/auth/firebase.messaging"

const defaultTimeout = 30 * time.Second

// serviceAccount is the part of a Google service-account key file used here.
type serviceAccount struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// New returns a provider for an fcm_v1 credential. A credential that cannot
// work is reported as a permanent bad_credentials outcome.
func New(cred *buckets.Credential, opts Options) (*Provider, error) {
	if cred == nil || cred.FCM == nil {
		return nil, badCredentials(errors.New("not an fcm_v1 credential"))
	}
	sa, err := parseServiceAccount(cred.FCM.ServiceAccountJSON, opts.Endpoint == "")
	if err != nil {
		return nil, badCredentials(err)
	}
	project := cmp.Or(cred.FCM.ProjectID, sa.ProjectID)
	if project == "" {
		return nil, badCredentials(errors.New("the service account names no project_id"))
	}

	p := &Provider{now: time.Now}
	var base http.RoundTripper
	timeout := defaultTimeout
	if opts.HTTPClient != nil {
		base, timeout = opts.HTTPClient.Transport, opts.HTTPClient.Timeout
		if base == nil {
			base = http.DefaultTransport
		}
	} else {
		p.owned = newTransport()
		base = p.owned
	}

	// The token source keeps this context for every token fetch; it only
	// carries the HTTP client, never a deadline. Every send waits on a
	// fetch in progress, so a fetch always has a time limit.
	tokenTimeout := timeout
	if tokenTimeout <= 0 {
		tokenTimeout = defaultTimeout
	}
	p.tokenTransport = opts.Guard.Trusting(opts.Endpoint).Transport()
	tokenClient := &http.Client{
		Transport:     refusalTransport{p.tokenTransport},
		Timeout:       tokenTimeout,
		CheckRedirect: pushgate.NoRedirects,
	}
	tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, tokenClient)
	conf := &jwt.Config{
		Email:        sa.ClientEmail,
		PrivateKey:   []byte(sa.PrivateKey),
		PrivateKeyID: sa.PrivateKeyID,
		Scopes:       []string{scopeMessaging},
		TokenURL:     sa.TokenURI,
	}
	p.tokens = conf.TokenSource(tokenCtx)
	hc := &http.Client{Transport: &oauth2.Transport{Source: p.tokens, Base: base}, Timeout: timeout, CheckRedirect: pushgate.NoRedirects}

	// The SDK gets a ready, authenticated client rather than the JSON:
	// its own credential loading accepts any credential type, and its
	// token failures come back as retried, stringified network errors that
	// could not be told apart from an outage.
	fopts := []option.ClientOption{option.WithHTTPClient(hc)}
	if opts.Endpoint != "" {
		fopts = append(fopts, option.WithEndpoint(strings.TrimSuffix(opts.Endpoint, "/")))
	}
	ctx := context.Background()
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: project}, fopts...)
	if err != nil {
		return nil, fmt.Errorf("fcm: %w", err)
	}
	if p.client, err = app.Messaging(ctx); err != nil {
		return nil, fmt.Errorf("fcm: %w", err)
	}
	return p, nil
}

// newTransport is a connection pool for one provider. Google answers over
// HTTP/2, where one connection carries every concurrent send; the large
// idle pool matters over HTTP/1.1 (proxies, fakes), where each concurrent
// send needs its own connection and the default of 2 idle ones per host
// would make every burst reconnect.
func newTransport() *http.Transport {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true, IdleConnTimeout: 90 * time.Second}
	}
	t.MaxIdleConns = 0
	t.MaxIdleConnsPerHost = 256
	return t
}

func parseServiceAccount(b []byte, googleOnly bool) (*serviceAccount, error) {
	var sa serviceAccount
	if err := json.Unmarshal(b, &sa); err != nil {
		return nil, fmt.Errorf("the service account is not JSON: %v", err)
	}
	if sa.Type != "service_account" {
		return nil, fmt.Errorf("the credential is of type %q, not a service account", sa.Type)
	}
	if sa.ClientEmail == "" {
		return nil, errors.New("the service account has no client_email")
	}
	if err := checkPrivateKey(sa.PrivateKey); err != nil {
		return nil, err
	}
	if sa.TokenURI == "" {
		sa.TokenURI = "https://oauth2.googleapis.com/token"
	}
	u, err := url.Parse(sa.TokenURI)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("the service account's token_uri %q is not a URL", sa.TokenURI)
	}
	if googleOnly && (u.Scheme != "https" || !googleTokenHost(u.Hostname())) {
		return nil, fmt.Errorf("the service account's token_uri %q is not Google's", sa.TokenURI)
	}
	return &sa, nil
}

func googleTokenHost(host string) bool {
	switch host {
	case "oauth2.googleapis.com", "accounts.google.com", "www.googleapis.com":
		return true
	}
	return false
}

// checkPrivateKey parses the key now so a broken one is refused when the
// provider is built, not on the first send.
func checkPrivateKey(s string) error {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return errors.New("the service account's private_key is not PEM")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if _, ok := k.(*rsa.PrivateKey); !ok {
			return errors.New("the service account's private_key is not an RSA key")
		}
		return nil
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
		return errors.New("the service account's private_key is not an RSA private key")
	}
	return nil
}

func badCredentials(err error) error {
	return providers.Permanent(providers.ReasonBadCredentials, 0, fmt.Errorf("fcm: %w", err))
}

// Send sends m with one FCM request (the Admin SDK may repeat it on 503 or
// a network error). It returns nil once FCM accepted the message.
func (p *Provider) Send(ctx context.Context, m *providers.Message) error {
	if m == nil || m.Context == nil {
		return providers.Permanent(providers.ReasonInvalidPayload, 0, errors.New("fcm: message without a context"))
	}
	if m.Receiver.Token == "" {
		return providers.Permanent(providers.ReasonInvalidToken, 0, fmt.Errorf("fcm: message %s has no registration token", m.ID))
	}
	ttl, ok := ttlAt(m.ExpiresAt, p.now())
	if !ok {
		return providers.Permanent(providers.ReasonExpired, 0,
			fmt.Errorf("fcm: message %s expired at %s", m.ID, m.ExpiresAt.Format(time.RFC3339)))
	}
	id := identity{messageID: m.ID, contextID: m.Context.ID, foreignID: cmp.Or(m.ForeignID, m.Receiver.ForeignID)}
	msg, err := build(m.Context, id, m.Receiver.Token, ttl)
	if err != nil {
		return providers.Permanent(providers.ReasonInvalidPayload, 0, fmt.Errorf("fcm: rendering message %s: %w", m.ID, err))
	}
	// Fetching the access token here, not inside the SDK, keeps a refused
	// credential distinguishable; the transport then reuses the cached token.
	if _, err := p.tokens.Token(); err != nil {
		return classifyTokenError(err)
	}
	_, err = p.client.Send(ctx, msg)
	return classify(err, p.now())
}

// Close releases the provider's idle connections. Sends after Close still
// work, on new connections.
func (p *Provider) Close() error {
	if p.owned != nil {
		p.owned.CloseIdleConnections()
	}
	p.tokenTransport.CloseIdleConnections()
	return nil
}

// refusalTransport turns the guard's refusal of a token_uri into an answer.
// golang.org/x/oauth2's JWT flow flattens a transport error into text, but
// hands a non-2xx answer back whole (oauth2.RetrieveError), so the refusal
// survives as that answer. Its request carries the refusal in its context,
// where refusalOf finds it and no server could have put it.
type refusalTransport struct{ base http.RoundTripper }

type refusalKey struct{}

func (t refusalTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req)
	var ae *pushgate.AddressError
	if err != nil && errors.As(err, &ae) {
		return &http.Response{
			StatusCode: http.StatusForbidden, Status: "403 Forbidden",
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:  http.Header{},
			Body:    io.NopCloser(strings.NewReader(ae.Error())),
			Request: req.WithContext(context.WithValue(req.Context(), refusalKey{}, ae)),
		}, nil
	}
	return res, err
}

// refusalOf returns the guard's refusal that res stands for, if it does.
func refusalOf(res *http.Response) (*pushgate.AddressError, bool) {
	if res == nil || res.Request == nil {
		return nil, false
	}
	ae, ok := res.Request.Context().Value(refusalKey{}).(*pushgate.AddressError)
	return ae, ok
}

// Register makes r build FCM providers with opts and check contexts for
// fcm_v1 credentials.
func Register(r *providers.Registry, opts Options) {
	r.Register(buckets.FCMv1, func(cred *buckets.Credential) (providers.Provider, error) {
		p, err := New(cred, opts)
		if err != nil {
			return nil, err
		}
		return p, nil
	}, Check)
}
