package apns

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sideshow/apns2"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		" 5 ":                           5 * time.Second,
		"0":                             0,
		"-3":                            0,
		"soon":                          0,
		"99999999999999999":             24 * time.Hour,
		"Tue, 01 Jan 2030 12:01:30 GMT": 90 * time.Second,
		"Tue, 01 Jan 2030 11:00:00 GMT": 0,
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

// Answers the fake cannot give: they come from Apple's edge cases or from
// something other than Apple on the path.
func TestClassifyEdgeCases(t *testing.T) {
	tests := []struct {
		status    int
		reason    string
		want      providers.Reason
		permanent bool
	}{
		{404, "BadPath", providers.ReasonInvalidToken, true},
		{404, "", providers.ReasonUnavailable, false},
		{400, "IdleTimeout", providers.ReasonUnavailable, false},
		{400, "MissingTopic", providers.ReasonBadCredentials, true},
		{400, "BadTopic", providers.ReasonBadCredentials, true},
		{403, "BadCertificateEnvironment", providers.ReasonBadCredentials, true},
		{403, "MissingProviderToken", providers.ReasonBadCredentials, true},
		{405, "MethodNotAllowed", providers.ReasonInvalidPayload, true},
		{410, "ExpiredToken", providers.ReasonUnregistered, true},
		{429, "TooManyProviderTokenUpdates", providers.ReasonRateLimited, false},
		{302, "", providers.ReasonUnavailable, false},
	}
	for _, tt := range tests {
		err := classify(&apns2.Response{StatusCode: tt.status, Reason: tt.reason}, 0)
		o := providers.Classify(err)
		if o == nil || o.Reason != tt.want || o.Permanent != tt.permanent || o.Status != tt.status {
			t.Errorf("%d %s: got %v, want %s (permanent %v)", tt.status, tt.reason, err, tt.want, tt.permanent)
		}
	}
	if err := classify(&apns2.Response{StatusCode: 200}, 0); err != nil {
		t.Errorf("200 classified as %v", err)
	}
}

// An ExpiredProviderToken answer makes the next send sign a new token, but
// never more often than Apple allows token updates.
func TestExpiredProviderTokenRenewsTheToken(t *testing.T) {
	f := providertest.NewAPNS(t)
	k := providertest.APNSTestKey(t)
	f.TrustKey(k.KeyID, k.TeamID, k.Public())
	p, err := New(&buckets.Credential{ID: "c", Type: buckets.APNSToken, APNSToken: &buckets.APNSTokenCredential{
		Key: k.P8, KeyID: k.KeyID, TeamID: k.TeamID, Topic: "com.example.app",
	}}, Options{Host: f.URL, RootCAs: f.CertPool()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tok := providertest.APNSTestDeviceToken(t)
	m := &providers.Message{ID: "m", Context: &contexts.Context{ID: "c", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi"}},
		Receiver: recipients.Receiver{Token: tok}}
	bearer := func() string {
		p.token.Lock()
		defer p.token.Unlock()
		return p.token.Bearer
	}

	if err := p.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	first := bearer()
	f.FailToken(tok, providertest.APNSReply{Status: 403, Reason: "ExpiredProviderToken"})
	err = p.Send(context.Background(), m)
	var ae *Error
	if !errors.As(err, &ae) || ae.Reason != "ExpiredProviderToken" {
		t.Fatalf("got %v, want ExpiredProviderToken", err)
	}
	_ = p.Send(context.Background(), m)
	if bearer() != first {
		t.Fatal("a token minutes old was replaced: Apple refuses updates more often than every 20 minutes")
	}

	p.token.Lock()
	p.token.IssuedAt = time.Now().Add(-30 * time.Minute).Unix()
	p.token.Unlock()
	_ = p.Send(context.Background(), m) // refused as expired: renew
	f.ClearToken(tok)
	if err := p.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if bearer() == first {
		t.Error("the provider kept sending a token Apple called expired")
	}
}
