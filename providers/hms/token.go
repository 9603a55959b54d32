package hms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/providers"
)

// tokenMargin is how long before its stated expiry an access token stops
// being used, so one never expires on its way to Push Kit.
const tokenMargin = 5 * time.Minute

// tokenSource fetches the app-level access token of one credential and
// keeps it for every send until shortly before it expires. One fetch runs
// at a time; concurrent sends wait for it.
type tokenSource struct {
	client   *http.Client
	url      string
	clientID string
	secret   string
	now      func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
	// refused is the token endpoint's last permanent refusal, answered
	// again until refusedUntil instead of asking once per message.
	refused      error
	refusedUntil time.Time
}

// refusalMemory is how long a permanent refusal of the app id and secret
// is answered from memory: a bucket with a wrong secret must not make one
// token request per message of a 1000-receiver send.
const refusalMemory = 30 * time.Second

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	TokenType   string `json:"token_type"`
	Error       any    `json:"error"`
	Description string `json:"error_description"`
}

// get returns a valid access token, fetching one if the cached token is
// missing, near expiry, or is stale (the one a send was refused with).
func (s *tokenSource) get(ctx context.Context, stale string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.token != "" && s.token != stale && now.Before(s.expires) {
		return s.token, nil
	}
	if s.refused != nil && now.Before(s.refusedUntil) {
		return "", s.refused
	}
	tok, life, err := s.fetch(ctx)
	if err != nil {
		if o := providers.Classify(err); o.Permanent {
			s.refused, s.refusedUntil = err, now.Add(refusalMemory)
		}
		return "", err
	}
	s.refused = nil
	s.token, s.expires = tok, s.now().Add(max(life-tokenMargin, life/2))
	return tok, nil
}

func (s *tokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {s.clientID}, "client_secret": {s.secret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, providers.Permanent(providers.ReasonBadCredentials, 0, fmt.Errorf("hms: authUrl: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := s.client.Do(req)
	if err != nil {
		return "", 0, transportError("getting an access token", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var a tokenAnswer
	jsonErr := json.Unmarshal(body, &a)
	status := res.StatusCode
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return "", 0, providers.Transient(providers.ReasonRateLimited, status, retryAfter(res, s.now()), errors.New("hms: the token endpoint asked us to slow down"))
	case status >= 500:
		return "", 0, providers.Transient(providers.ReasonUnavailable, status, 0, fmt.Errorf("hms: the token endpoint answered %d", status))
	case status != http.StatusOK || jsonErr != nil || a.AccessToken == "":
		// A refused client id or secret (Huawei answers 4xx with an
		// error number and description), or an answer that is no token.
		return "", 0, providers.Permanent(providers.ReasonBadCredentials, status,
			fmt.Errorf("hms: the token endpoint refused the app id and secret: %s", describe(a.Description, body)))
	}
	life := time.Duration(a.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Hour // Huawei's documented lifetime, for an answer that omits it
	}
	return a.AccessToken, life, nil
}

// transportError classifies a request that got no answer: a refusal of the
// SSRF guard is permanent, anything else may pass.
func transportError(what string, err error) error {
	var ae *pushgate.AddressError
	if errors.As(err, &ae) {
		return providers.Permanent(providers.ReasonForbiddenAddress, 0, fmt.Errorf("hms: %s: %w", what, ae))
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return providers.Transient(providers.ReasonUnavailable, 0, 0, fmt.Errorf("hms: %s: %w", what, err))
}

// describe is a short, printable account of an answer for an error text.
func describe(desc string, body []byte) string {
	s := desc
	if s == "" {
		s = string(body)
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
