package hms

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pushgate/pushgate/providers"
)

// Push Kit's result codes (the "code" member of every answer).
const (
	codeSuccess        = "80000000" // every token accepted
	codePartial        = "80100000" // some tokens refused: msg lists them
	codeOAuthFailed    = "80200001" // the access token was refused
	codeTokenExpired   = "80200003" // the access token expired
	codeInvalidTokens  = "80300007" // every push token is invalid
	codeTooLarge       = "80300008" // the message body is too large
	codeTokenCount     = "80300010" // no token, or more than 1000
	codeInternalError  = "81000001" // Push Kit's own failure
	codeClassParameter = "801"      // prefix: the message's fields were refused
)

// answer is Push Kit's reply to a send.
type answer struct {
	Code       string `json:"code"`
	Msg        string `json:"msg"`
	RequestID  string `json:"requestId"`
	status     int
	retryAfter time.Duration
	raw        []byte
}

// tokenRefused reports an answer that a fresh access token may fix.
func (a *answer) tokenRefused() bool {
	return a.status == http.StatusUnauthorized || a.Code == codeTokenExpired || a.Code == codeOAuthFailed
}

func (a *answer) err(format string, args ...any) error {
	return fmt.Errorf("hms: "+format+" (HTTP %d, code %s, request %s)", append(args, a.status, a.Code, a.RequestID)...)
}

// outcome classifies the answer: the errors of the tokens a partial
// success names, and one error for every other token of the request (nil:
// accepted).
func (a *answer) outcome() (map[string]error, error) {
	st := a.status
	switch {
	case a.Code == codeSuccess && st == http.StatusOK:
		return nil, nil
	case a.Code == codePartial:
		return a.illegalTokens()
	case st == http.StatusTooManyRequests || st == http.StatusServiceUnavailable:
		// 503 is Push Kit's flow control.
		return nil, providers.Transient(providers.ReasonRateLimited, st, a.retryAfter, a.err("flow control"))
	case a.tokenRefused():
		return nil, providers.Permanent(providers.ReasonBadCredentials, st, a.err("the access token was refused: %s", describe(a.Msg, a.raw)))
	case a.Code == codeInvalidTokens:
		return nil, providers.Permanent(providers.ReasonUnregistered, st, a.err("the token is not valid"))
	case a.Code == codeTooLarge:
		return nil, providers.Permanent(providers.ReasonPayloadTooLarge, st, a.err("the message is too large"))
	case a.Code == codeInternalError || st >= 500 || (st == http.StatusOK && a.Code == ""):
		return nil, providers.Transient(providers.ReasonUnavailable, st, a.retryAfter, a.err("Push Kit failed: %s", describe(a.Msg, a.raw)))
	case st == http.StatusNotFound || st == http.StatusForbidden:
		// The app id names no app, or the pushUrl no Push Kit.
		return nil, providers.Permanent(providers.ReasonBadCredentials, st, a.err("the app or the pushUrl was not found"))
	case a.Code == codeTokenCount || strings.HasPrefix(a.Code, codeClassParameter) || st == http.StatusBadRequest:
		return nil, providers.Permanent(providers.ReasonInvalidPayload, st, a.err("the message was refused: %s", describe(a.Msg, a.raw)))
	}
	return nil, providers.Permanent(providers.ReasonInvalidPayload, st, a.err("unexpected answer: %s", describe(a.Msg, a.raw)))
}

// illegalTokens reads which tokens a partial success refused. Push Kit's
// msg is itself JSON: {"success":n,"failure":m,"illegal_tokens":[...]} in
// v1; later versions group them by cause ({"illegalTokens":{cause:[...]}}).
func (a *answer) illegalTokens() (map[string]error, error) {
	var m struct {
		IllegalTokens  []string            `json:"illegal_tokens"`
		IllegalByCause map[string][]string `json:"illegalTokens"`
	}
	out := map[string]error{}
	if err := json.Unmarshal([]byte(a.Msg), &m); err != nil {
		// Some tokens failed, but which is unknown: all are retried
		// rather than reported sent.
		return nil, providers.Transient(providers.ReasonUnavailable, a.status, 0, a.err("a partial success without its token list"))
	}
	for _, t := range m.IllegalTokens {
		out[t] = providers.Permanent(providers.ReasonUnregistered, a.status, a.err("Push Kit refused the token"))
	}
	for cause, ts := range m.IllegalByCause {
		reason := providers.ReasonUnregistered
		if cause == "tokenFormatError" || cause == "noRight" {
			reason = providers.ReasonInvalidToken
		}
		for _, t := range ts {
			out[t] = providers.Permanent(reason, a.status, a.err("Push Kit refused the token (%s)", describe(cause, nil)))
		}
	}
	return out, nil
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(res *http.Response, now time.Time) time.Duration {
	v := strings.TrimSpace(res.Header.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 || secs > 86400 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}
