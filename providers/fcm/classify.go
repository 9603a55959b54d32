package fcm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"firebase.google.com/go/v4/errorutils"
	"firebase.google.com/go/v4/messaging"
	"golang.org/x/oauth2"

	"github.com/pushgate/pushgate/providers"
)

// classify turns an error of messaging.Client.Send into an Outcome. The
// SDK's predicates need its error unwrapped, so err is examined as returned
// and only wrapped in the Outcome.
func classify(err error, now time.Time) error {
	if err == nil {
		return nil
	}
	resp := errorutils.HTTPResponse(err)
	if resp == nil {
		return classifyNoAnswer(err)
	}
	status := resp.StatusCode
	retryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), now)
	wrapped := fmt.Errorf("fcm: %w", err)
	switch {
	case messaging.IsUnregistered(err):
		return providers.Permanent(providers.ReasonUnregistered, status, wrapped)
	case messaging.IsSenderIDMismatch(err):
		return providers.Permanent(providers.ReasonInvalidToken, status, wrapped)
	case messaging.IsThirdPartyAuthError(err):
		return providers.Permanent(providers.ReasonBadCredentials, status, wrapped)
	case messaging.IsQuotaExceeded(err) || status == http.StatusTooManyRequests:
		return providers.Transient(providers.ReasonRateLimited, status, retryAfter, wrapped)
	case messaging.IsUnavailable(err) || messaging.IsInternal(err) || status >= 500:
		return providers.Transient(providers.ReasonUnavailable, status, retryAfter, wrapped)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return providers.Permanent(providers.ReasonBadCredentials, status, wrapped)
	case status == http.StatusNotFound:
		// Not UNREGISTERED (handled above): FCM answers a bare 404 when
		// the project the credential names does not exist.
		return providers.Permanent(providers.ReasonBadCredentials, status, wrapped)
	case messaging.IsInvalidArgument(err) || status == http.StatusBadRequest:
		return providers.Permanent(invalidArgumentReason(err.Error()), status, wrapped)
	case status >= 400:
		return providers.Permanent(providers.ReasonInvalidPayload, status, wrapped)
	}
	return providers.Transient(providers.ReasonUnavailable, status, retryAfter, wrapped)
}

// invalidArgumentReason tells apart FCM's INVALID_ARGUMENT answers, which
// share one code for a bad token and a bad payload; only the message
// differs ("The registration token is not a valid FCM registration token",
// "Android message is too big", "Invalid value at 'message.data[0].value'").
func invalidArgumentReason(msg string) providers.Reason {
	msg = strings.ToLower(msg)
	switch {
	case strings.Contains(msg, "registration token"):
		return providers.ReasonInvalidToken
	case strings.Contains(msg, "too big") || strings.Contains(msg, "too large"):
		return providers.ReasonPayloadTooLarge
	}
	return providers.ReasonInvalidPayload
}

// classifyNoAnswer handles errors without an HTTP answer: the network, the
// caller's context, or the SDK refusing the message before sending it.
func classifyNoAnswer(err error) error {
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		// Whether FCM got the message is unknown: providers.Classify makes
		// it transient.
		return err
	case errorutils.IsUnavailable(err) || errorutils.IsDeadlineExceeded(err) || errorutils.IsUnknown(err):
		// The SDK's transport errors, after its own retries.
		return providers.Transient(providers.ReasonUnavailable, 0, 0, fmt.Errorf("fcm: %w", err))
	case strings.HasPrefix(err.Error(), "error while parsing response"):
		// A 2xx FCM's SDK could not read: the message may have gone.
		return providers.Transient(providers.ReasonUnavailable, 0, 0, fmt.Errorf("fcm: %w", err))
	}
	// What remains is the SDK's own validation of the message.
	return providers.Permanent(providers.ReasonInvalidPayload, 0, fmt.Errorf("fcm: %w", err))
}

// classifyTokenError classifies a failure to get an access token: the token
// endpoint refusing the assertion (a deleted key, a disabled account) is a
// bad credential; anything else is Google being unreachable.
func classifyTokenError(err error) error {
	wrapped := fmt.Errorf("fcm: getting an access token: %w", err)
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		if ae, ok := refusalOf(re.Response); ok {
			// The token_uri leads to an address the SSRF guard refuses.
			return providers.Permanent(providers.ReasonForbiddenAddress, 0, fmt.Errorf("fcm: the service account's token_uri: %w", ae))
		}
		status := re.Response.StatusCode
		switch {
		case status == http.StatusTooManyRequests:
			return providers.Transient(providers.ReasonRateLimited, status, 0, wrapped)
		case status >= 300 && status < 500:
			// A refused assertion, or a redirect, which is not followed.
			return providers.Permanent(providers.ReasonBadCredentials, status, wrapped)
		}
		return providers.Transient(providers.ReasonUnavailable, status, 0, wrapped)
	}
	return providers.Transient(providers.ReasonUnavailable, 0, 0, wrapped)
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		if secs <= 0 || secs > int64(365*24*time.Hour/time.Second) {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
