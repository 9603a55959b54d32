package inbox

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/pushgate/pushgate"
)

// ConnectAuthOptions tune a ConnectAuth.
type ConnectAuthOptions struct {
	// Client makes the calls. It must refuse internal addresses (the SSRF
	// guard's transport) and follow no redirects, and should time out
	// within a few seconds (NewConnectAuthClient makes such a client).
	Client *http.Client
	// CacheTTL is how long an answer is remembered (connect_auth_cache);
	// zero or less remembers none.
	CacheTTL time.Duration
	// MaxCached bounds the answers remembered (default 100,000).
	MaxCached int
	Now       func() time.Time // default time.Now
	Logger    *slog.Logger
}

// ConnectAuth authenticates connections that come without a client token
// by asking the app (its connectAuthUrl), as push-notification-service
// did: GET with the connection's Cookie and Authorization headers, and an
// answer 200 {"userId": "..."} admits that user. The first admission of a
// user makes the user one of the app's users (Store.JoinDelegated).
type ConnectAuth struct {
	svc    *Service
	client *http.Client
	ttl    time.Duration
	max    int
	now    func() time.Time
	log    *slog.Logger

	mu    sync.Mutex
	cache map[[sha256.Size]byte]delegated
}

// delegated is a remembered answer: a user id, or "" for a refusal.
type delegated struct {
	userID  string
	expires time.Time
}

// Bounds of a call to a connectAuthUrl.
const (
	ConnectAuthTimeout = 5 * time.Second
	// maxConnectAuthAnswer bounds the answer's body: a user id is short.
	maxConnectAuthAnswer = 4 << 10
	// connectAuthRetry is the Retry-After of a connectAuthUrl that cannot
	// be reached.
	connectAuthRetry = 5 * time.Second
)

// NewConnectAuthClient is the client ConnectAuth needs: transport (the SSRF
// guard's), no redirects followed (a redirect is an answer like any other
// that is not 200), and ConnectAuthTimeout for the whole call.
func NewConnectAuthClient(transport http.RoundTripper) *http.Client {
	return &http.Client{
		Transport:     transport,
		Timeout:       ConnectAuthTimeout,
		CheckRedirect: pushgate.NoRedirects,
	}
}

// NewConnectAuth returns a ConnectAuth that joins users through svc.
func NewConnectAuth(svc *Service, opts ConnectAuthOptions) *ConnectAuth {
	a := &ConnectAuth{svc: svc, client: opts.Client, ttl: opts.CacheTTL, max: opts.MaxCached, now: opts.Now,
		log: opts.Logger, cache: map[[sha256.Size]byte]delegated{}}
	if a.max <= 0 {
		a.max = 100_000
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a
}

var (
	// ErrConnectRefused is the app's refusal, or an answer it could not
	// have meant as an admission.
	ErrConnectRefused = &pushgate.Error{Code: pushgate.EUNAUTHORIZED,
		Message: "the app did not authenticate this connection"}
	errNoCredentials = &pushgate.Error{Code: pushgate.EUNAUTHORIZED,
		Message: "missing credentials: send a client token, or the app's cookie or Authorization header"}
	errConnectUnreachable = &pushgate.Error{Code: pushgate.EUNAVAILABLE, RetryAfter: connectAuthRetry,
		Message: "the app's connectAuthUrl cannot be reached; retry later (this is no refusal of the credentials)"}
)

// Authenticate returns the user the app's authURL admits with cookie and
// authorization (the request's header values, either may be empty): an
// EUNAUTHORIZED error when it answers anything but 200 and a valid user
// id, EUNAVAILABLE (with RetryAfter) when it cannot be reached at all.
// With neither header there is nothing to ask with: EUNAUTHORIZED, and no
// call.
func (a *ConnectAuth) Authenticate(ctx context.Context, appID, authURL, cookie, authorization string) (string, error) {
	if cookie == "" && authorization == "" {
		return "", errNoCredentials
	}
	key := cacheKey(appID, authURL, cookie, authorization)
	if userID, ok := a.cached(key); ok {
		if userID == "" {
			return "", ErrConnectRefused
		}
		return userID, nil
	}
	userID, final, err := a.call(ctx, authURL, cookie, authorization)
	if err == nil {
		if err = a.svc.store.JoinDelegated(ctx, appID, userID, a.svc.clock()); err != nil {
			return "", err
		}
	}
	if final {
		a.remember(key, userID)
	}
	return userID, err
}

// cacheKey hashes what the answer depends on, so that no cookie or
// Authorization value is kept in memory. The parts are length-prefixed so
// that no two different inputs run together the same way.
func cacheKey(parts ...string) [sha256.Size]byte {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		for i := range n {
			n[i] = byte(uint64(len(p)) >> (8 * i))
		}
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (a *ConnectAuth) cached(key [sha256.Size]byte) (string, bool) {
	if a.ttl <= 0 {
		return "", false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	d, ok := a.cache[key]
	if !ok || !a.now().Before(d.expires) {
		return "", false
	}
	return d.userID, true
}

// remember keeps an answer for the TTL. When the cache is full, expired
// answers go first, then any (Go's map order is random enough for a
// backstop that only a flood of distinct credentials reaches).
func (a *ConnectAuth) remember(key [sha256.Size]byte, userID string) {
	if a.ttl <= 0 {
		return
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= a.max {
		for k, d := range a.cache {
			if !now.Before(d.expires) {
				delete(a.cache, k)
			}
		}
		for k := range a.cache {
			if len(a.cache) < a.max {
				break
			}
			delete(a.cache, k)
		}
	}
	a.cache[key] = delegated{userID: userID, expires: now.Add(a.ttl)}
}

// call asks authURL. final says whether the answer may be remembered: an
// admission, or the app's 401 or 403. Other refusals (a 5xx, a redirect, a
// body that names no valid user) are the app's trouble of the moment and
// are asked again next time.
func (a *ConnectAuth) call(ctx context.Context, authURL, cookie, authorization string) (userID string, final bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, ConnectAuthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		// Checked when it was set; an app whose URL no longer parses is
		// refused like one that says no.
		return "", false, ErrConnectRefused
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "pushgate")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.log.Warn("connectAuthUrl cannot be reached", "host", req.URL.Host, "err", redactURLError(err))
		return "", false, errConnectUnreachable
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxConnectAuthAnswer+1))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", true, ErrConnectRefused
	case resp.StatusCode != http.StatusOK:
		return "", false, ErrConnectRefused
	case err != nil:
		a.log.Warn("connectAuthUrl answer unreadable", "host", req.URL.Host, "err", redactURLError(err))
		return "", false, errConnectUnreachable
	}
	var answer struct {
		UserID string `json:"userId"`
	}
	if len(body) > maxConnectAuthAnswer || json.Unmarshal(body, &answer) != nil || checkUserID(answer.UserID) != "" {
		a.log.Warn("connectAuthUrl answered 200 without a valid userId", "host", req.URL.Host)
		return "", false, ErrConnectRefused
	}
	return answer.UserID, true, nil
}

// redactURLError is err without the URL a *url.Error names: the query of
// a connectAuthUrl may hold a secret of the app's.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
