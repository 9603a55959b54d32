package apns_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/providers/apns"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

const topic = "com.example.app"

var clock = time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return clock }

func options(f *providertest.APNSFake) apns.Options {
	return apns.Options{Host: f.URL, RootCAs: f.CertPool(), Timeout: 10 * time.Second}
}

// tokenProvider returns a fake that trusts a new key and a provider for it.
func tokenProvider(t testing.TB, topic string) (*providertest.APNSFake, *apns.Provider, *providertest.APNSKey) {
	t.Helper()
	f := providertest.NewAPNS(t)
	k := providertest.APNSTestKey(t)
	f.TrustKey(k.KeyID, k.TeamID, k.Public())
	p := newProvider(t, tokenCredential(k, topic), options(f))
	return f, p, k
}

func tokenCredential(k *providertest.APNSKey, topic string) *buckets.Credential {
	return &buckets.Credential{ID: "cred-1", Type: buckets.APNSToken, APNSToken: &buckets.APNSTokenCredential{
		Key: k.P8, KeyID: k.KeyID, TeamID: k.TeamID, Topic: topic,
	}}
}

func newProvider(t testing.TB, cred *buckets.Credential, opts apns.Options) *apns.Provider {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	p, err := apns.New(cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func message(t testing.TB, c *contexts.Context) *providers.Message {
	return &providers.Message{
		ID:        pushgate.NewID(),
		ForeignID: "user-42",
		Context:   c,
		Receiver:  recipient(t),
		ExpiresAt: clock.Add(2 * time.Hour),
	}
}

func recipient(t testing.TB) recipients.Receiver {
	return recipients.Receiver{CredentialID: "cred-1", Token: providertest.APNSTestDeviceToken(t)}
}

func num(f float64) *float64 { return &f }

// sendOne sends m and returns what the fake accepted.
func sendOne(t *testing.T, f *providertest.APNSFake, p *apns.Provider, m *providers.Message) (providertest.APNSRequest, map[string]any) {
	t.Helper()
	if err := p.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	d := f.Delivered()
	if len(d) == 0 {
		t.Fatal("the fake received nothing")
	}
	r := d[len(d)-1]
	var body map[string]any
	if err := json.Unmarshal(r.Payload, &body); err != nil {
		t.Fatalf("payload %s: %v", r.Payload, err)
	}
	return r, body
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSendWithClientCertificate(t *testing.T) {
	f := providertest.NewAPNS(t)
	cert := providertest.APNSTestCert(t, topic)
	f.TrustClientCert(cert.Cert)
	p := newProvider(t, &buckets.Credential{ID: "cred-1", Type: buckets.APNSCert, APNSCert: &buckets.APNSCertCredential{
		CertPEM: cert.CertPEM, KeyPEM: cert.KeyPEM, Topic: topic,
	}}, options(f))
	m := message(t, &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi"}})
	r, body := sendOne(t, f, p, m)
	if r.CertSubject != cert.Cert.Subject.CommonName || r.KeyID != "" || r.Topic != topic {
		t.Errorf("request %+v, want certificate auth for %s", r, topic)
	}
	if body["messageId"] != m.ID {
		t.Errorf("payload %v", body)
	}
}

func TestCertificateNamesTheTopic(t *testing.T) {
	f := providertest.NewAPNS(t)
	cert := providertest.APNSTestCert(t, "com.example.fromcert")
	f.TrustClientCert(cert.Cert)
	p := newProvider(t, &buckets.Credential{ID: "c", Type: buckets.APNSCert, APNSCert: &buckets.APNSCertCredential{
		CertPEM: cert.CertPEM, KeyPEM: cert.KeyPEM,
	}}, options(f))
	r, _ := sendOne(t, f, p, message(t, &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi"}}))
	if r.Topic != "com.example.fromcert" {
		t.Errorf("topic %q, want the bundle id in the certificate's UID", r.Topic)
	}
}

func TestOutcomes(t *testing.T) {
	data := &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi"}}
	tests := []struct {
		name       string
		script     func(f *providertest.APNSFake, token string)
		reason     providers.Reason
		permanent  bool
		retryAfter time.Duration
		apple      string
	}{
		{"unregistered", func(f *providertest.APNSFake, tok string) { f.Unregister(tok) }, providers.ReasonUnregistered, true, 0, "Unregistered"},
		{"bad device token", func(f *providertest.APNSFake, tok string) {
			f.FailToken(tok, providertest.APNSReply{Status: 400, Reason: "BadDeviceToken"})
		}, providers.ReasonInvalidToken, true, 0, "BadDeviceToken"},
		{"token for another topic", func(f *providertest.APNSFake, tok string) {
			f.FailToken(tok, providertest.APNSReply{Status: 400, Reason: "DeviceTokenNotForTopic"})
		}, providers.ReasonInvalidToken, true, 0, "DeviceTokenNotForTopic"},
		{"throttled with Retry-After", func(f *providertest.APNSFake, _ string) {
			f.FailNext(1, providertest.APNSReply{Status: 429, Reason: "TooManyRequests", RetryAfter: 7 * time.Second})
		}, providers.ReasonRateLimited, false, 7 * time.Second, "TooManyRequests"},
		{"throttled without Retry-After", func(f *providertest.APNSFake, _ string) {
			f.FailNext(1, providertest.APNSReply{Status: 429, Reason: "TooManyRequests"})
		}, providers.ReasonRateLimited, false, 0, "TooManyRequests"},
		{"internal error", func(f *providertest.APNSFake, _ string) {
			f.FailNext(1, providertest.APNSReply{Status: 500, Reason: "InternalServerError"})
		}, providers.ReasonUnavailable, false, 0, "InternalServerError"},
		{"shutting down", func(f *providertest.APNSFake, _ string) {
			f.FailNext(1, providertest.APNSReply{Status: 503, Reason: "Shutdown", RetryAfter: 30 * time.Second})
		}, providers.ReasonUnavailable, false, 30 * time.Second, "Shutdown"},
		{"payload too large", func(f *providertest.APNSFake, tok string) {
			f.FailToken(tok, providertest.APNSReply{Status: 413, Reason: "PayloadTooLarge"})
		}, providers.ReasonPayloadTooLarge, true, 0, "PayloadTooLarge"},
		{"stale provider token", func(f *providertest.APNSFake, tok string) {
			f.FailToken(tok, providertest.APNSReply{Status: 403, Reason: "ExpiredProviderToken"})
		}, providers.ReasonBadCredentials, false, 0, "ExpiredProviderToken"},
		{"topic not allowed", func(f *providertest.APNSFake, _ string) { f.AllowTopics("com.example.other") }, providers.ReasonBadCredentials, true, 0, "TopicDisallowed"},
		{"other bad request", func(f *providertest.APNSFake, tok string) {
			f.FailToken(tok, providertest.APNSReply{Status: 400, Reason: "BadExpirationDate"})
		}, providers.ReasonInvalidPayload, true, 0, "BadExpirationDate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, p, _ := tokenProvider(t, topic)
			m := message(t, data)
			tt.script(f, m.Receiver.Token)
			err := p.Send(context.Background(), m)
			var o *providers.Outcome
			if !errors.As(err, &o) {
				t.Fatalf("Send returned %v, want a classified outcome", err)
			}
			if o.Reason != tt.reason || o.Permanent != tt.permanent || o.RetryAfter != tt.retryAfter {
				t.Errorf("outcome %s, permanent %v, retry after %v; want %s, %v, %v", o.Reason, o.Permanent, o.RetryAfter, tt.reason, tt.permanent, tt.retryAfter)
			}
			var ae *apns.Error
			if !errors.As(err, &ae) || ae.Reason != tt.apple || ae.Status != o.Status {
				t.Errorf("error %v, want Apple's reason %s", err, tt.apple)
			}
			if tt.apple == "Unregistered" && ae.Timestamp.IsZero() {
				t.Error("410 without the time Apple last saw the token")
			}
		})
	}
}

func TestUntrustedKeyIsBadCredentials(t *testing.T) {
	f := providertest.NewAPNS(t)
	f.TrustKey("SOMEKEYID1", "SOMETEAM01", providertest.APNSTestKey(t).Public())
	p := newProvider(t, tokenCredential(providertest.APNSTestKey(t), topic), options(f))
	err := p.Send(context.Background(), message(t, &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi"}}))
	o := providers.Classify(err)
	if o == nil || o.Reason != providers.ReasonBadCredentials || !o.Permanent || o.Status != 403 {
		t.Fatalf("outcome %v, want permanent bad_credentials (403)", err)
	}
	if f.Counts().Accepted != 0 {
		t.Error("the fake accepted a token it does not trust")
	}
}

func TestUntrustedCertificateIsBadCredentials(t *testing.T) {
	f := providertest.NewAPNS(t)
	cert := providertest.APNSTestCert(t, topic) // never trusted
	p := newProvider(t, &buckets.Credential{ID: "c", Type: buckets.APNSCert, APNSCert: &buckets.APNSCertCredential{
		CertPEM: cert.CertPEM, KeyPEM: cert.KeyPEM, Topic: topic,
	}}, options(f))
	err := p.Send(context.Background(), message(t, &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi"}}))
	if o := providers.Classify(err); o == nil || o.Reason != providers.ReasonBadCredentials || !o.Permanent {
		t.Fatalf("outcome %v, want permanent bad_credentials", err)
	}
}

func TestExpiredMessageIsNotSent(t *testing.T) {
	f, p, _ := tokenProvider(t, topic)
	m := message(t, &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi"}})
	m.ExpiresAt = clock.Add(-time.Second)
	o := providers.Classify(p.Send(context.Background(), m))
	if o == nil || o.Reason != providers.ReasonExpired || !o.Permanent {
		t.Fatalf("outcome %v, want permanent expired", o)
	}
	if f.Counts().Accepted+f.Counts().Rejected != 0 {
		t.Error("an expired message reached APNS")
	}
}

func TestOversizedMessageIsNotSent(t *testing.T) {
	f, p, _ := tokenProvider(t, topic)
	m := message(t, &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi", Body: strings.Repeat("b", 4100)}})
	o := providers.Classify(p.Send(context.Background(), m))
	if o == nil || o.Reason != providers.ReasonPayloadTooLarge || !o.Permanent {
		t.Fatalf("outcome %v, want permanent payload_too_large", o)
	}
	if f.Counts().Accepted+f.Counts().Rejected != 0 {
		t.Error("an oversized message reached APNS")
	}
}

func TestNetworkErrorIsUnclassified(t *testing.T) {
	f := providertest.NewAPNS(t)
	k := providertest.APNSTestKey(t)
	opts := options(f)
	opts.Host = "https://127.0.0.1:1" // nothing listens on port 1
	p := newProvider(t, tokenCredential(k, topic), opts)
	err := p.Send(context.Background(), message(t, &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi"}}))
	if err == nil {
		t.Fatal("Send succeeded with no server")
	}
	var o *providers.Outcome
	if errors.As(err, &o) {
		t.Errorf("a network error was classified as %v; its outcome is unknown", o)
	}
	if c := providers.Classify(err); c.Permanent {
		t.Errorf("Classify made a network error permanent: %v", c)
	}
}

func TestServerCertificateIsVerified(t *testing.T) {
	f := providertest.NewAPNS(t)
	k := providertest.APNSTestKey(t)
	f.TrustKey(k.KeyID, k.TeamID, k.Public())
	opts := options(f)
	opts.RootCAs = nil // system roots do not know the fake
	p := newProvider(t, tokenCredential(k, topic), opts)
	err := p.Send(context.Background(), message(t, &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi"}}))
	if err == nil || f.Counts().Accepted != 0 {
		t.Fatalf("sent to a server whose certificate no root vouches for (err %v)", err)
	}
}

func TestNewRefusesBrokenCredentials(t *testing.T) {
	k := providertest.APNSTestKey(t)
	cert := providertest.APNSTestCert(t, topic)
	tests := map[string]*buckets.Credential{
		"nil":          nil,
		"no payload":   {ID: "c", Type: buckets.APNSToken},
		"wrong type":   {ID: "c", Type: buckets.FCMv1, APNSToken: tokenCredential(k, topic).APNSToken},
		"bad key":      {ID: "c", Type: buckets.APNSToken, APNSToken: &buckets.APNSTokenCredential{Key: "not a key", KeyID: k.KeyID, TeamID: k.TeamID, Topic: topic}},
		"no key id":    {ID: "c", Type: buckets.APNSToken, APNSToken: &buckets.APNSTokenCredential{Key: k.P8, TeamID: k.TeamID, Topic: topic}},
		"no topic":     tokenCredential(k, ""),
		"cert and key": {ID: "c", Type: buckets.APNSCert, APNSCert: &buckets.APNSCertCredential{CertPEM: cert.CertPEM, KeyPEM: k.P8, Topic: topic}},
	}
	for name, cred := range tests {
		t.Run(name, func(t *testing.T) {
			if p, err := apns.New(cred, apns.Options{}); err == nil {
				p.Close()
				t.Error("New accepted it")
			}
		})
	}
}

func TestRegister(t *testing.T) {
	f := providertest.NewAPNS(t)
	k := providertest.APNSTestKey(t)
	f.TrustKey(k.KeyID, k.TeamID, k.Public())
	cert := providertest.APNSTestCert(t, topic)
	f.TrustClientCert(cert.Cert)
	reg := providers.NewRegistry()
	apns.Register(reg, options(f))

	creds := []*buckets.Credential{
		tokenCredential(k, topic),
		{ID: "c2", Type: buckets.APNSCert, APNSCert: &buckets.APNSCertCredential{CertPEM: cert.CertPEM, KeyPEM: cert.KeyPEM, Topic: topic}},
	}
	for _, cred := range creds {
		p, err := reg.New(cred)
		if err != nil {
			t.Fatalf("%s: %v", cred.Type, err)
		}
		m := message(t, &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi"}})
		m.ExpiresAt = time.Now().Add(time.Hour) // the registry's providers run on the real clock
		if err := p.Send(context.Background(), m); err != nil {
			t.Errorf("%s: %v", cred.Type, err)
		}
		p.Close()
		huge := &contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{Body: strings.Repeat("b", 5000)}}
		if reg.Check(cred.Type, huge) == nil {
			t.Errorf("%s: registry check accepted an oversized context", cred.Type)
		}
	}
	if _, err := reg.New(&buckets.Credential{Type: buckets.APNSToken}); err == nil {
		t.Error("registry built a provider from an empty credential")
	}
	if f.Counts().Accepted != 2 {
		t.Errorf("fake accepted %d, want 2", f.Counts().Accepted)
	}
}

func TestConcurrentSends(t *testing.T) {
	f, p, _ := tokenProvider(t, topic)
	gone := providertest.APNSTestDeviceToken(t)
	f.Unregister(gone)
	const workers, each = 32, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				c := &contexts.Context{ID: fmt.Sprintf("ctx-%d", w), Kind: contexts.KindData, Data: &contexts.Data{Title: fmt.Sprintf("n%d", i)}}
				m := message(t, c)
				if i == 0 {
					m.Receiver.Token = gone
				}
				err := p.Send(context.Background(), m)
				if i == 0 {
					if o := providers.Classify(err); o == nil || o.Reason != providers.ReasonUnregistered {
						errs <- fmt.Errorf("unregistered token gave %v", err)
					}
					continue
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := f.Counts().Accepted, int64(workers*(each-1)); got != want {
		t.Errorf("fake accepted %d, want %d", got, want)
	}
	ids := map[string]bool{}
	for _, r := range f.Delivered() {
		var b struct{ MessageID string }
		if err := json.Unmarshal(r.Payload, &b); err != nil || ids[b.MessageID] {
			t.Fatalf("payload %s duplicated or unreadable", r.Payload)
		}
		ids[b.MessageID] = true
	}
}

func BenchmarkSend(b *testing.B) {
	f, p, _ := tokenProvider(b, topic)
	f.SetCountOnly(true)
	c := &contexts.Context{ID: pushgate.NewID(), Kind: contexts.KindData, Data: &contexts.Data{
		Title: "Sale", Body: "50% off everything today", Image: "https://cdn.example/sale.png", Tag: "sale",
		Behaviour: "https://shop.example/sale",
		Actions:   []contexts.Action{{Action: "buy", Title: "Buy", Behaviour: "https://shop.example/cart"}},
	}}
	token := providertest.APNSTestDeviceToken(b)
	// Sends wait on the network far more than on CPU, as delivery workers do.
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m := &providers.Message{ID: pushgate.NewID(), ForeignID: "user-42", Context: c, ExpiresAt: clock.Add(time.Hour)}
		m.Receiver.Token = token
		for pb.Next() {
			if err := p.Send(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if f.Counts().Accepted < int64(b.N) {
		b.Fatalf("fake accepted %d of %d", f.Counts().Accepted, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
}

func TestBurstOpensOneConnection(t *testing.T) {
	f, p, _ := tokenProvider(t, topic)
	const n = 64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := p.Send(context.Background(), message(t, &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi"}})); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if f.Counts().Accepted != n || f.Counts().Connections != 1 {
		t.Errorf("%d sends accepted over %d connections; want %d over one", f.Counts().Accepted, f.Counts().Connections, n)
	}
}

func TestMaxConnsWaitsForStreams(t *testing.T) {
	f := providertest.NewAPNS(t)
	k := providertest.APNSTestKey(t)
	f.TrustKey(k.KeyID, k.TeamID, k.Public())
	// Hold every stream long enough that more sends are in flight than one
	// connection's stream limit (a Go server allows 250).
	f.SetLatency(50 * time.Millisecond)
	opts := options(f)
	opts.MaxConns = 1
	p := newProvider(t, tokenCredential(k, topic), opts)
	const n = 300
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := p.Send(context.Background(), message(t, &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi"}})); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if f.Counts().Accepted != n || f.Counts().Connections != 1 {
		t.Errorf("%d sends accepted over %d connections; want %d over one", f.Counts().Accepted, f.Counts().Connections, n)
	}
}

func TestSendAfterClose(t *testing.T) {
	f, p, _ := tokenProvider(t, topic)
	m := message(t, &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi"}})
	if err := p.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	p.Close()
	err := p.Send(context.Background(), m)
	if o := providers.Classify(err); o == nil || o.Permanent {
		t.Errorf("send after Close gave %v, want a transient failure", err)
	}
	if f.Counts().Accepted != 1 {
		t.Errorf("fake accepted %d, want only the send before Close", f.Counts().Accepted)
	}
}

// TestRedirectIsNotFollowed: Apple never redirects; a redirect from the
// APNS host (a proxy gone wrong) is an answer, not an instruction.
func TestRedirectIsNotFollowed(t *testing.T) {
	var followed atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/3/device/") {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
			return
		}
		followed.Add(1)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	k := providertest.APNSTestKey(t)
	p := newProvider(t, tokenCredential(k, topic), apns.Options{Host: srv.URL, RootCAs: pool, Timeout: 10 * time.Second})
	if err := p.Send(context.Background(), message(t, &contexts.Context{ID: "c", Kind: contexts.KindData, Data: &contexts.Data{Title: "t"}})); err == nil {
		t.Error("a send answered with a redirect succeeded")
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}
