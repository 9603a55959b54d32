package webpush

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/SherClockHolmes/webpush-go"

	pushgate "github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/providers"
)

func TestClassifyResponse(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		status     int
		retryAfter string
		want       *providers.Outcome // nil: accepted
	}{
		{201, "", nil},
		{200, "", nil},
		{202, "", nil},
		{404, "", &providers.Outcome{Reason: providers.ReasonUnregistered, Permanent: true}},
		{410, "", &providers.Outcome{Reason: providers.ReasonUnregistered, Permanent: true}},
		{413, "", &providers.Outcome{Reason: providers.ReasonPayloadTooLarge, Permanent: true}},
		{400, "", &providers.Outcome{Reason: providers.ReasonInvalidPayload, Permanent: true}},
		{401, "", &providers.Outcome{Reason: providers.ReasonBadCredentials, Permanent: true}},
		{403, "", &providers.Outcome{Reason: providers.ReasonBadCredentials, Permanent: true}},
		{429, "", &providers.Outcome{Reason: providers.ReasonRateLimited}},
		{429, "120", &providers.Outcome{Reason: providers.ReasonRateLimited, RetryAfter: 2 * time.Minute}},
		{429, now.Add(90 * time.Second).Format(http.TimeFormat), &providers.Outcome{Reason: providers.ReasonRateLimited, RetryAfter: 90 * time.Second}},
		{500, "", &providers.Outcome{Reason: providers.ReasonUnavailable}},
		{502, "", &providers.Outcome{Reason: providers.ReasonUnavailable}},
		{503, "30", &providers.Outcome{Reason: providers.ReasonUnavailable, RetryAfter: 30 * time.Second}},
		{408, "", &providers.Outcome{Reason: providers.ReasonUnavailable}},
		{307, "", &providers.Outcome{Reason: providers.ReasonInvalidToken, Permanent: true}},
		{405, "", &providers.Outcome{Reason: providers.ReasonInvalidToken, Permanent: true}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.status, tt.retryAfter), func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Status: http.StatusText(tt.status), Header: http.Header{},
				Body: io.NopCloser(strings.NewReader(`{"reason":"BadDeviceToken"}`))}
			if tt.retryAfter != "" {
				resp.Header.Set("Retry-After", tt.retryAfter)
			}
			err := classifyResponse(resp, now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				return
			}
			o := providers.Classify(err)
			if o == nil || o.Reason != tt.want.Reason || o.Permanent != tt.want.Permanent || o.RetryAfter != tt.want.RetryAfter || o.Status != tt.status {
				t.Fatalf("got %+v, want %+v with status %d", o, tt.want, tt.status)
			}
			if !strings.Contains(err.Error(), "BadDeviceToken") {
				t.Errorf("error %q does not carry the service's explanation", err)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{" 5 ", 5 * time.Second},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(time.Hour).Format(http.TimeFormat), time.Hour},
		{"999999999999", maxRetryAfter},
		{"99999999999999999999999999", maxRetryAfter},
		{now.Add(400 * 24 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"120", "Sun, 01 Mar 2026 12:01:00 GMT", "Sunday, 01-Mar-26 12:01:00 GMT", "Sun Mar  1 12:01:00 2026", "x", "18446744073709551616"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d := retryAfter(s, now); d < 0 || d > maxRetryAfter {
			t.Errorf("retryAfter(%q) = %v, outside [0, %v]", s, d, maxRetryAfter)
		}
	})
}

func TestClassifyError(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &pushgate.AddressError{Host: "127.0.0.1", Kind: "loopback"}}
	tests := []struct {
		name      string
		err       error
		reason    providers.Reason
		permanent bool
	}{
		{"ssrf guard", fmt.Errorf("post: %w", refused), providers.ReasonForbiddenAddress, true},
		{"too long for webpush-go", webpush.ErrMaxPadExceeded, providers.ReasonPayloadTooLarge, true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, providers.ReasonUnavailable, false},
	}
	for _, tt := range tests {
		o := providers.Classify(classifyError(tt.err))
		if o.Reason != tt.reason || o.Permanent != tt.permanent {
			t.Errorf("%s: %+v, want %s permanent=%v", tt.name, o, tt.reason, tt.permanent)
		}
	}
}
