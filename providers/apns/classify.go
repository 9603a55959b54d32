package apns

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sideshow/apns2"

	"github.com/pushgate/pushgate/providers"
)

// Error is Apple's refusal of one notification. It is the Err of the
// providers.Outcome that Send returns.
type Error struct {
	Status int
	Reason string
	ApnsID string
	// Timestamp is when Apple last saw the token valid (410 answers only).
	Timestamp time.Time
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("apns: HTTP %d", e.Status)
	}
	return fmt.Sprintf("apns: HTTP %d %s", e.Status, e.Reason)
}

// classify turns Apple's answer into an Outcome; nil when it was accepted.
// retryAfter is the answer's Retry-After, zero when it had none.
func classify(resp *apns2.Response, retryAfter time.Duration) error {
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	status := resp.StatusCode
	e := &Error{Status: status, Reason: resp.Reason, ApnsID: resp.ApnsID, Timestamp: resp.Timestamp.Time}
	permanent := func(r providers.Reason) error { return providers.Permanent(r, status, e) }
	transient := func(r providers.Reason) error { return providers.Transient(r, status, retryAfter, e) }

	switch {
	case status == http.StatusGone:
		// Unregistered and ExpiredToken alike: the app is gone from the device.
		return permanent(providers.ReasonUnregistered)
	case status == http.StatusRequestEntityTooLarge:
		return permanent(providers.ReasonPayloadTooLarge)
	case status == http.StatusTooManyRequests:
		return transient(providers.ReasonRateLimited)
	case status >= 500:
		return transient(providers.ReasonUnavailable)
	case status == http.StatusForbidden:
		if resp.Reason == apns2.ReasonExpiredProviderToken {
			// Stale, not wrong: the next token will do.
			return transient(providers.ReasonBadCredentials)
		}
		return permanent(providers.ReasonBadCredentials)
	case status == http.StatusBadRequest:
		switch resp.Reason {
		case apns2.ReasonBadDeviceToken, apns2.ReasonDeviceTokenNotForTopic, apns2.ReasonMissingDeviceToken:
			return permanent(providers.ReasonInvalidToken)
		case apns2.ReasonBadTopic, apns2.ReasonTopicDisallowed, apns2.ReasonMissingTopic:
			// The topic comes from the credential, so the credential is wrong.
			return permanent(providers.ReasonBadCredentials)
		case apns2.ReasonIdleTimeout:
			return transient(providers.ReasonUnavailable)
		}
		return permanent(providers.ReasonInvalidPayload)
	case status == http.StatusNotFound && resp.Reason == apns2.ReasonBadPath:
		// Only the device token varies in the path.
		return permanent(providers.ReasonInvalidToken)
	case status == http.StatusNotFound:
		// Not Apple's answer (it would give a reason): a misrouted host must
		// not get tokens pruned.
		return transient(providers.ReasonUnavailable)
	case status >= 400:
		return permanent(providers.ReasonInvalidPayload)
	}
	return transient(providers.ReasonUnavailable)
}

// maxRetryAfter bounds absurd waits so they cannot overflow a Duration.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads delay-seconds or an HTTP date; zero when absent,
// malformed or past.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return min(time.Duration(secs), maxRetryAfter/time.Second) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return min(at.Sub(now), maxRetryAfter)
	}
	return 0
}
