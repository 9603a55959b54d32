package webpush

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/SherClockHolmes/webpush-go"

	pushgate "github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/providers"
)

// maxRetryAfter caps a push service's Retry-After: the endpoint is chosen
// by whoever subscribed, and must not be able to park retries for ever.
const maxRetryAfter = 24 * time.Hour

// classifyResponse turns a push service's answer into Send's result. Push
// services differ in their bodies but agree on statuses (RFC 8030 and the
// vendors' documentation), so only the status is read.
func classifyResponse(resp *http.Response, now time.Time) error {
	s := resp.StatusCode
	switch s {
	case http.StatusCreated, http.StatusOK, http.StatusAccepted:
		return nil
	}
	err := fmt.Errorf("push service answered %s: %s", resp.Status, detail(resp.Body))
	switch {
	case s == http.StatusNotFound || s == http.StatusGone:
		return providers.Permanent(providers.ReasonUnregistered, s, err)
	case s == http.StatusRequestEntityTooLarge:
		return providers.Permanent(providers.ReasonPayloadTooLarge, s, err)
	case s == http.StatusBadRequest:
		return providers.Permanent(providers.ReasonInvalidPayload, s, err)
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return providers.Permanent(providers.ReasonBadCredentials, s, err)
	case s == http.StatusTooManyRequests:
		return providers.Transient(providers.ReasonRateLimited, s, retryAfter(resp.Header.Get("Retry-After"), now), err)
	case s >= 500 || s == http.StatusRequestTimeout:
		return providers.Transient(providers.ReasonUnavailable, s, retryAfter(resp.Header.Get("Retry-After"), now), err)
	}
	// A redirect (never followed: it could point anywhere) or another
	// client error means the endpoint does not take Web Push as a push
	// service does: the subscription is not usable.
	return providers.Permanent(providers.ReasonInvalidToken, s, err)
}

// classifyError classifies what webpush-go or the HTTP client returned
// instead of an answer. What it leaves unclassified (network errors,
// timeouts) providers.Classify treats as transient.
func classifyError(err error) error {
	var ae *pushgate.AddressError
	switch {
	case errors.As(err, &ae):
		// The SSRF guard refused the address the endpoint's name resolved
		// to: the subscription may be fine, but no retry can reach it.
		return providers.Permanent(providers.ReasonForbiddenAddress, 0, err)
	case errors.Is(err, webpush.ErrMaxPadExceeded):
		return providers.Permanent(providers.ReasonPayloadTooLarge, 0, err)
	}
	return err
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110 §10.2.3). Anything else is no advice.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || n > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), maxRetryAfter)
}

// detail is the start of an error answer's body, for logs: push services
// explain themselves there (Apple's {"reason": ...}, FCM's text).
func detail(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, 256))
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	if s == "" {
		return "(no body)"
	}
	return s
}
