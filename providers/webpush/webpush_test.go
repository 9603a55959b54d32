package webpush_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	wpgo "github.com/SherClockHolmes/webpush-go"

	pushgate "github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/providers/webpush"
)

func newCredential(t testing.TB, subject string) *buckets.Credential {
	t.Helper()
	priv, pub, err := wpgo.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	return &buckets.Credential{ID: "cred-1", Type: buckets.VAPID, VAPID: &buckets.VAPIDCredential{PublicKey: pub, PrivateKey: priv, Subject: subject}}
}

// loopbackOptions let the default, guarded client reach the fake.
func loopbackOptions(t testing.TB) webpush.Options {
	t.Helper()
	g, err := pushgate.NewSSRFGuard("127.0.0.0/8,::1/128")
	if err != nil {
		t.Fatal(err)
	}
	return webpush.Options{Guard: g}
}

func newProvider(t testing.TB, cred *buckets.Credential, opts webpush.Options) *webpush.Provider {
	t.Helper()
	p, err := webpush.New(cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func message(c *contexts.Context, sub providertest.WebPushSubscription) *providers.Message {
	return &providers.Message{ID: "msg-1", ForeignID: "user-7", Context: c, Receiver: sub.Receiver("cred-1")}
}

// payload decodes the one delivery the fake holds for sub.
func payload(t *testing.T, fake *providertest.WebPushFake, sub providertest.WebPushSubscription) (map[string]any, providertest.WebPushDelivery) {
	t.Helper()
	ds := fake.DeliveredTo(sub)
	if len(ds) != 1 {
		t.Fatalf("%d deliveries to the subscription, want 1", len(ds))
	}
	var v map[string]any
	if err := json.Unmarshal(ds[0].Payload, &v); err != nil {
		t.Fatalf("decrypted payload %q is not JSON: %v", ds[0].Payload, err)
	}
	return v, ds[0]
}

func TestSendDataContext(t *testing.T) {
	fake := providertest.NewWebPush(t)
	cred := newCredential(t, "mailto:ops@pushgate.test")
	p := newProvider(t, cred, loopbackOptions(t))
	sub := fake.NewSubscriptionFor(cred.VAPID.PublicKey)
	c := &contexts.Context{ID: "ctx-1", Kind: contexts.KindData, Data: &contexts.Data{
		Title: "Sale", Body: "50% off", Icon: "https://shop.example/i.png", Badge: new(3.0), Tag: "sale",
		BehaviourWebPush: "https://shop.example/sale",
		Actions:          []contexts.Action{{Action: "buy", Title: "Buy", Behaviour: "https://shop.example/cart"}},
		ExternalData:     "order-42",
	}}
	if err := p.Send(t.Context(), message(c, sub)); err != nil {
		t.Fatal(err)
	}
	got, d := payload(t, fake, sub)
	want := map[string]any{
		"title": "Sale", "body": "50% off", "icon": "https://shop.example/i.png", "tag": "sale",
		"actions": []any{map[string]any{"action": "buy", "title": "Buy"}},
		"data": map[string]any{
			"messageId": "msg-1", "contextId": "ctx-1", "foreignId": "user-7",
			"actionsMap":   map[string]any{"default": "https://shop.example/sale", "buy": "https://shop.example/cart"},
			"externalData": "order-42", "badge": 3.0,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decrypted\n%v\nwant\n%v", got, want)
	}
	if d.TTL != 28*24*3600 || d.Urgency != "high" || d.Topic != "sale" {
		t.Errorf("TTL %d, Urgency %q, Topic %q; want 2419200, high, sale", d.TTL, d.Urgency, d.Topic)
	}
	if d.VAPIDKey != cred.VAPID.PublicKey || d.Subject != "mailto:ops@pushgate.test" {
		t.Errorf("VAPID k %q sub %q; want the credential's key and its subject once prefixed", d.VAPIDKey, d.Subject)
	}
}

func TestSendSilentContext(t *testing.T) {
	fake := providertest.NewWebPush(t)
	p := newProvider(t, newCredential(t, "https://pushgate.test/contact"), loopbackOptions(t))
	sub := fake.NewSubscription()
	c := &contexts.Context{ID: "ctx-2", Kind: contexts.KindSilent, Silent: &contexts.Silent{ExternalData: "sync"}}
	if err := p.Send(t.Context(), message(c, sub)); err != nil {
		t.Fatal(err)
	}
	got, d := payload(t, fake, sub)
	want := map[string]any{"data": map[string]any{"messageId": "msg-1", "contextId": "ctx-2", "foreignId": "user-7", "externalData": "sync", "_silent": true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decrypted %v, want %v", got, want)
	}
	if d.Urgency != "normal" || d.Topic == "" || d.Subject != "https://pushgate.test/contact" {
		t.Errorf("Urgency %q, Topic %q, sub %q", d.Urgency, d.Topic, d.Subject)
	}
}

// TestSendRawByEndpointHost routes push services' host names to the fake, so
// the section chosen from the real endpoint host is what arrives.
func TestSendRawByEndpointHost(t *testing.T) {
	fake := providertest.NewWebPush(t)
	addr := strings.TrimPrefix(fake.URL, "http://")
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	p := newProvider(t, newCredential(t, "mailto:ops@pushgate.test"), webpush.Options{HTTPClient: client})
	c := &contexts.Context{ID: "ctx-3", Kind: contexts.KindRaw, Raw: &contexts.Raw{
		Common:      &contexts.RawCommon{Title: "common"},
		Chromium:    &contexts.RawWebPush{Title: "chromium"},
		Firefox:     &contexts.RawWebPush{Title: "firefox", Tag: "ff"},
		SafariVapid: &contexts.RawWebPush{Title: "safari"},
	}}
	for host, want := range map[string]string{
		"updates.push.services.mozilla.com": "firefox",
		"web.push.apple.com":                "safari",
		"wns2-par02p.notify.windows.com":    "chromium",
		"fcm.googleapis.com":                "chromium",
	} {
		sub := fake.NewSubscription()
		m := message(c, sub)
		m.Receiver.Endpoint = strings.Replace(sub.Endpoint, addr, host, 1)
		if err := p.Send(t.Context(), m); err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		got, d := payload(t, fake, sub)
		if got["title"] != want {
			t.Errorf("%s got title %v, want the %s section", host, got["title"], want)
		}
		if d.Urgency != "high" {
			t.Errorf("%s: Urgency %q, want high", host, d.Urgency)
		}
	}
}

func TestSendTTLFromExpiresAt(t *testing.T) {
	fake := providertest.NewWebPush(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	opts := loopbackOptions(t)
	opts.Now = func() time.Time { return now }
	p := newProvider(t, newCredential(t, "mailto:ops@pushgate.test"), opts)
	c := &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "t"}}
	for _, tt := range []struct {
		expiresAt time.Time
		want      int
	}{
		{now.Add(90 * time.Second), 90},
		{now.Add(365 * 24 * time.Hour), 2419200},
	} {
		sub := fake.NewSubscription()
		m := message(c, sub)
		m.ExpiresAt = tt.expiresAt
		if err := p.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		if _, d := payload(t, fake, sub); d.TTL != tt.want {
			t.Errorf("expiring at %v: TTL %d, want %d", tt.expiresAt, d.TTL, tt.want)
		}
	}
	// A raw section's own ttl replaces the message's (common's) expiry.
	raw := &contexts.Context{ID: "raw", Kind: contexts.KindRaw, CreatedAt: now.Add(-10 * time.Second), Raw: &contexts.Raw{
		Common:   &contexts.RawCommon{Title: "t", TTL: new(3600.0)},
		Chromium: &contexts.RawWebPush{TTL: new(130.0)},
	}}
	sub := fake.NewSubscription()
	m := message(raw, sub)
	m.ExpiresAt = now.Add(3590 * time.Second)
	if err := p.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if _, d := payload(t, fake, sub); d.TTL != 120 {
		t.Errorf("raw section with ttl 130 s, created 10 s ago: TTL %d, want 120", d.TTL)
	}

	m = message(c, fake.NewSubscription())
	m.ExpiresAt = now.Add(-time.Second)
	before := fake.Counts().Requests
	o := providers.Classify(p.Send(t.Context(), m))
	if o == nil || o.Reason != providers.ReasonExpired || !o.Permanent {
		t.Errorf("expired message: %+v, want permanent expired", o)
	}
	if fake.Counts().Requests != before {
		t.Error("an expired message was sent")
	}
}

func TestSendOutcomes(t *testing.T) {
	fake := providertest.NewWebPush(t)
	cred := newCredential(t, "mailto:ops@pushgate.test")
	p := newProvider(t, cred, loopbackOptions(t))
	c := &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "t"}}
	send := func(sub providertest.WebPushSubscription) *providers.Outcome {
		return providers.Classify(p.Send(t.Context(), message(c, sub)))
	}
	check := func(name string, o *providers.Outcome, reason providers.Reason, permanent bool, retryAfter time.Duration) {
		t.Helper()
		if o == nil || o.Reason != reason || o.Permanent != permanent || o.RetryAfter != retryAfter {
			t.Errorf("%s: %+v, want %s permanent=%v retryAfter=%v", name, o, reason, permanent, retryAfter)
		}
	}
	gone, forgotten := fake.NewSubscription(), fake.NewSubscription()
	fake.Unregister(gone)
	fake.Forget(forgotten)
	check("410", send(gone), providers.ReasonUnregistered, true, 0)
	check("404", send(forgotten), providers.ReasonUnregistered, true, 0)
	check("other VAPID key", send(fake.NewSubscriptionFor(newCredential(t, "").VAPID.PublicKey)), providers.ReasonBadCredentials, true, 0)

	sub := fake.NewSubscription()
	fake.FailNext(1, providertest.WebPushReply{Status: http.StatusTooManyRequests, RetryAfter: "17"})
	check("429", send(sub), providers.ReasonRateLimited, false, 17*time.Second)
	fake.FailNext(1, providertest.WebPushReply{Status: http.StatusInternalServerError})
	check("500", send(sub), providers.ReasonUnavailable, false, 0)
	fake.FailNext(1, providertest.WebPushReply{Status: http.StatusServiceUnavailable, RetryAfter: "5"})
	check("503", send(sub), providers.ReasonUnavailable, false, 5*time.Second)
	fake.FailNext(1, providertest.WebPushReply{Status: http.StatusRequestEntityTooLarge})
	check("413", send(sub), providers.ReasonPayloadTooLarge, true, 0)
	if o := send(sub); o != nil {
		t.Errorf("after the scripted failures: %v, want delivered", o)
	}

	bad := message(c, sub)
	bad.Receiver.P256dh = "not-a-key"
	if o := providers.Classify(p.Send(t.Context(), bad)); o == nil || o.Reason != providers.ReasonInvalidToken || !o.Permanent {
		t.Errorf("receiver with a bad p256dh: %+v, want permanent invalid_token", o)
	}
}

func TestSendTimesOutAsTransient(t *testing.T) {
	fake := providertest.NewWebPush(t)
	fake.SetLatency(time.Minute)
	opts := loopbackOptions(t)
	opts.Timeout = 50 * time.Millisecond
	p := newProvider(t, newCredential(t, "mailto:ops@pushgate.test"), opts)
	c := &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "t"}}
	o := providers.Classify(p.Send(t.Context(), message(c, fake.NewSubscription())))
	if o == nil || o.Permanent || o.Reason != providers.ReasonUnavailable {
		t.Errorf("slow push service: %+v, want transient unavailable", o)
	}
}

func TestSendOnePayloadToManyConcurrently(t *testing.T) {
	fake := providertest.NewWebPush(t)
	p := newProvider(t, newCredential(t, "mailto:ops@pushgate.test"), loopbackOptions(t))
	c := &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "Everyone", Body: strings.Repeat("b", 1000)}}
	subs := make([]providertest.WebPushSubscription, 50)
	for i := range subs {
		subs[i] = fake.NewSubscription()
	}
	var wg sync.WaitGroup
	for i, sub := range subs {
		wg.Go(func() {
			m := message(c, sub)
			m.ID = fmt.Sprintf("msg-%d", i)
			if err := p.Send(t.Context(), m); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, sub := range subs {
		got, _ := payload(t, fake, sub)
		data, _ := got["data"].(map[string]any)
		if got["title"] != "Everyone" || data["messageId"] != fmt.Sprintf("msg-%d", i) {
			t.Errorf("subscription %d got title %v, messageId %v", i, got["title"], data["messageId"])
		}
	}
}

func TestSSRFGuardRefusesLoopback(t *testing.T) {
	fake := providertest.NewWebPush(t)
	c := &contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "t"}}
	p := newProvider(t, newCredential(t, "mailto:ops@pushgate.test"), webpush.Options{})
	o := providers.Classify(p.Send(t.Context(), message(c, fake.NewSubscription())))
	// The endpoint is not a bad token: the address is what is refused.
	if o == nil || o.Reason != providers.ReasonForbiddenAddress || !o.Permanent || !strings.Contains(o.Error(), "127.0.0.1 is a forbidden address") {
		t.Errorf("loopback endpoint without an allow-list: %+v, want permanent forbidden_address", o)
	}
	if n := fake.Counts().Requests; n != 0 {
		t.Errorf("the fake received %d requests through the guard", n)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	fake := providertest.NewWebPush(t)
	sub := fake.NewSubscription()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, sub.Endpoint, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	p := newProvider(t, newCredential(t, "mailto:ops@pushgate.test"), loopbackOptions(t))
	m := message(&contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "t"}}, sub)
	m.Receiver.Endpoint = redirector.URL + "/push/x"
	if o := providers.Classify(p.Send(t.Context(), m)); o == nil || o.Reason != providers.ReasonInvalidToken || o.Status != http.StatusTemporaryRedirect {
		t.Errorf("redirecting endpoint: %+v, want permanent invalid_token with status 307", o)
	}
	if n := fake.Counts().Requests; n != 0 {
		t.Errorf("the redirect was followed: the fake got %d requests", n)
	}
}

func TestNewChecksTheCredential(t *testing.T) {
	good := newCredential(t, "mailto:ops@pushgate.test")
	other := newCredential(t, "")
	mismatched := *good.VAPID
	mismatched.PublicKey = other.VAPID.PublicKey
	noSubject := *good.VAPID
	noSubject.Subject = ""
	tests := []struct {
		name  string
		vapid *buckets.VAPIDCredential
		opts  webpush.Options
		field string // "" when New must succeed
	}{
		{"good", good.VAPID, webpush.Options{}, ""},
		{"keys of two pairs", &mismatched, webpush.Options{}, "publicKey"},
		{"short private key", &buckets.VAPIDCredential{PublicKey: good.VAPID.PublicKey, PrivateKey: "AAAA", Subject: "mailto:a@b.c"}, webpush.Options{}, "privateKey"},
		{"no subject", &noSubject, webpush.Options{}, "subject"},
		{"default subject", &noSubject, webpush.Options{DefaultSubject: "mailto:ops@pushgate.test"}, ""},
		{"plain address", &buckets.VAPIDCredential{PublicKey: good.VAPID.PublicKey, PrivateKey: good.VAPID.PrivateKey, Subject: "ops@pushgate.test"}, webpush.Options{}, "subject"},
	}
	for _, tt := range tests {
		p, err := webpush.New(&buckets.Credential{ID: "c", Type: buckets.VAPID, VAPID: tt.vapid}, tt.opts)
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.field != "" && (pushgate.ErrorCode(err) != pushgate.EINVALID || !strings.Contains(err.Error(), tt.field+":")):
			t.Errorf("%s: %v, want validation_failed naming %s", tt.name, err, tt.field)
		}
		if p != nil {
			p.Close()
		}
	}
	if _, err := webpush.New(&buckets.Credential{ID: "c", Type: buckets.FCMv1}, webpush.Options{}); err == nil {
		t.Error("New accepted an FCM credential")
	}
}

func TestRegister(t *testing.T) {
	fake := providertest.NewWebPush(t)
	r := providers.NewRegistry()
	webpush.Register(r, loopbackOptions(t))
	p, err := r.New(newCredential(t, "mailto:ops@pushgate.test"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sub := fake.NewSubscription()
	if err := p.Send(t.Context(), message(&contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "t"}}, sub)); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.DeliveredTo(sub)); n != 1 {
		t.Errorf("%d deliveries through the registry's provider", n)
	}
	big := &contexts.Context{Kind: contexts.KindData, Data: &contexts.Data{Body: strings.Repeat("x", 4000)}}
	if err := r.Check(buckets.VAPID, big); pushgate.ErrorCode(err) != pushgate.EINVALID {
		t.Errorf("registry check of an oversized context: %v", err)
	}
}

func TestClosedProviderRefuses(t *testing.T) {
	fake := providertest.NewWebPush(t)
	p := newProvider(t, newCredential(t, "mailto:ops@pushgate.test"), loopbackOptions(t))
	p.Close()
	m := message(&contexts.Context{ID: "ctx", Kind: contexts.KindData, Data: &contexts.Data{Title: "t"}}, fake.NewSubscription())
	if err := p.Send(t.Context(), m); err == nil || providers.Classify(err).Permanent {
		t.Errorf("send after Close: %v, want a transient error", err)
	}
}

// TestTopicFromMessageID: a context with no tag usable as a Topic sends
// each message with a Topic of its own id, so a message sent twice while
// the browser is away replaces itself at the push service: the same Topic
// each time, another for another message; a context's own tag wins.
func TestTopicFromMessageID(t *testing.T) {
	fake := providertest.NewWebPush(t)
	cred := newCredential(t, "mailto:ops@pushgate.test")
	p := newProvider(t, cred, loopbackOptions(t))
	sub := fake.NewSubscriptionFor(cred.VAPID.PublicKey)
	send := func(id string, c *contexts.Context) string {
		t.Helper()
		m := message(c, sub)
		m.ID = id
		if err := p.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		ds := fake.DeliveredTo(sub)
		return ds[len(ds)-1].Topic
	}
	plain := &contexts.Context{ID: "ctx-1", Kind: contexts.KindData, Data: &contexts.Data{Title: "Hi"}}
	id := pushgate.NewID()
	first, again, other := send(id, plain), send(id, plain), send(pushgate.NewID(), plain)
	if first == "" || first != again || other == first {
		t.Errorf("Topics %q, %q (one message twice), %q (another): want one Topic for the message, another for the other", first, again, other)
	}
	own := &contexts.Context{ID: "ctx-2", Kind: contexts.KindData, Data: &contexts.Data{Title: "Hi", Tag: "score"}}
	if got := send(id, own); got != "score" {
		t.Errorf("Topic %q, want the context's own tag", got)
	}
}
