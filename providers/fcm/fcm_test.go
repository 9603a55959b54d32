package fcm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/providers/fcm"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

func credential(saJSON []byte, project string) *buckets.Credential {
	return &buckets.Credential{ID: "cred-fcm", Type: buckets.FCMv1,
		FCM: &buckets.FCMCredential{ServiceAccountJSON: saJSON, ProjectID: project}}
}

// newProvider returns a provider for a fresh service account of project
// that fake trusts, reading the time from a clock fixed at the returned
// instant.
func newProvider(t testing.TB, fake *providertest.FCMFake, project string) (*fcm.Provider, time.Time) {
	t.Helper()
	p, err := fcm.New(credential(fake.ServiceAccountJSON(project), project), fcm.Options{Endpoint: fake.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	now := time.Now()
	fcm.SetClock(p, func() time.Time { return now })
	return p, now
}

func token(n int) string { return fmt.Sprintf("fcmtok%d:APA91bHUn3xZ-%04d_q", n, n) }

func message(id string, c *contexts.Context, tok string) *providers.Message {
	return &providers.Message{ID: id, Context: c, Receiver: recipients.Receiver{CredentialID: "cred-fcm", Token: tok}}
}

func float(f float64) *float64 { return &f }

func onlyMessage(t *testing.T, fake *providertest.FCMFake) providertest.FCMMessage {
	t.Helper()
	msgs := fake.Delivered()
	if len(msgs) != 1 {
		t.Fatalf("the fake accepted %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

func TestSendDataContext(t *testing.T) {
	fake := providertest.NewFCM(t)
	p, now := newProvider(t, fake, "shop-app")
	c := &contexts.Context{ID: "ctx-1", Kind: contexts.KindData, Data: &contexts.Data{
		Title: "Sale", Body: "50% off today", Image: "https://cdn.example/sale.png",
		ChannelName: "promotions", SmallIcon: "ic_sale", Sound: "default", SoundAndroid: "chime",
		Tag: "sale-7", Badge: float(9), BadgeMobile: float(3),
		Behaviour: "https://shop.example/", BehaviourAndroid: "https://shop.example/sale?src=push&v=2",
		Actions: []contexts.Action{
			{Action: "buy", Title: "Buy", Behaviour: "https://shop.example/cart"},
			{Action: "later", Title: "Later", Behaviour: "https://shop.example/web", BehaviourAndroid: "https://shop.example/app"},
			{Action: "dismiss", Title: "Dismiss"},
		},
		ExternalData: `{"order":7}`,
	}}
	m := message("msg-1", c, token(1))
	m.ForeignID = "user-42"
	m.ExpiresAt = now.Add(time.Hour)

	if err := p.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := onlyMessage(t, fake)
	if got.Project != "shop-app" || got.Token != token(1) {
		t.Errorf("sent to project %q token %q", got.Project, got.Token)
	}
	if n := got.Notification; n == nil || *n != (providertest.FCMNotification{Title: "Sale", Body: "50% off today", Image: "https://cdn.example/sale.png"}) {
		t.Errorf("notification = %+v", n)
	}
	wantData := map[string]string{"messageId": "msg-1", "contextId": "ctx-1", "foreignId": "user-42", "externalData": `{"order":7}`}
	data := maps.Clone(got.Data)
	am := data["actionsMap"]
	delete(data, "actionsMap")
	if !maps.Equal(data, wantData) {
		t.Errorf("data = %v, want %v plus actionsMap", got.Data, wantData)
	}
	var actions map[string]string
	if err := json.Unmarshal([]byte(am), &actions); err != nil {
		t.Fatalf("actionsMap %q is not a JSON object of strings: %v", am, err)
	}
	wantActions := map[string]string{
		"default": "https://shop.example/sale?src=push&v=2",
		"buy":     "https://shop.example/cart",
		"later":   "https://shop.example/app",
	}
	if !maps.Equal(actions, wantActions) {
		t.Errorf("actionsMap = %v, want %v", actions, wantActions)
	}
	if strings.Contains(am, `\u0026`) {
		t.Errorf("actionsMap escapes & in URLs: %s", am)
	}
	a := got.Android
	if a == nil {
		t.Fatal("no android section")
	}
	if a.Priority != "high" || a.TTL != "3600s" || a.CollapseKey != "sale-7" {
		t.Errorf("android priority %q ttl %q collapse_key %q, want high 3600s sale-7", a.Priority, a.TTL, a.CollapseKey)
	}
	an := a.Notification
	if an == nil {
		t.Fatal("no android.notification")
	}
	if an.ChannelID != "promotions" || an.Icon != "ic_sale" || an.Sound != "chime" || an.Tag != "sale-7" ||
		an.Image != "https://cdn.example/sale.png" || an.NotificationCount == nil || *an.NotificationCount != 3 {
		t.Errorf("android.notification = %+v (count %v)", an, an.NotificationCount)
	}
}

func TestSendSilentContext(t *testing.T) {
	fake := providertest.NewFCM(t)
	p, _ := newProvider(t, fake, "shop-app")
	c := &contexts.Context{ID: "ctx-s", Kind: contexts.KindSilent, Silent: &contexts.Silent{}}
	if err := p.Send(context.Background(), message("msg-s", c, token(1))); err != nil {
		t.Fatal(err)
	}
	got := onlyMessage(t, fake)
	if got.Notification != nil {
		t.Errorf("a silent message has a notification: %+v", got.Notification)
	}
	want := map[string]string{"messageId": "msg-s", "contextId": "ctx-s", "_silent": "true"}
	if !maps.Equal(got.Data, want) {
		t.Errorf("data = %v, want %v (no empty foreignId or externalData)", got.Data, want)
	}
	if a := got.Android; a == nil || a.Priority != "high" || a.TTL != "2419200s" || a.Notification != nil {
		t.Errorf("android = %+v, want priority high, ttl 28 days, no notification", a)
	}
}

func TestSendRawContext(t *testing.T) {
	fake := providertest.NewFCM(t)
	p, now := newProvider(t, fake, "shop-app")
	c := &contexts.Context{ID: "ctx-r", Kind: contexts.KindRaw, Raw: &contexts.Raw{
		Common: &contexts.RawCommon{
			Title: "Common title", Body: "Common body", ImageURL: "https://cdn.example/c.png", CollapseKey: "orders",
			Data: &contexts.StringOrMap{Map: map[string]string{"k": "from common", "extra": "1"}},
		},
		Android: json.RawMessage(`{
			"notification": {"title": "Raw title"},
			"data": {"k": "v", "messageId": "spoofed"},
			"android": {"ttl": "60s", "notification": {"channel_id": "orders", "color": "#ff8800"}}
		}`),
	}}
	m := message("msg-r", c, token(1))
	m.ForeignID = "user-1"
	m.ExpiresAt = now.Add(time.Hour)
	if err := p.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := onlyMessage(t, fake)
	if n := got.Notification; n == nil || *n != (providertest.FCMNotification{Title: "Raw title", Body: "Common body", Image: "https://cdn.example/c.png"}) {
		t.Errorf("notification = %+v: the section's title, common's body and imageUrl", n)
	}
	want := map[string]string{"k": "v", "extra": "1", "messageId": "msg-r", "contextId": "ctx-r", "foreignId": "user-1"}
	if !maps.Equal(got.Data, want) {
		t.Errorf("data = %v, want %v", got.Data, want)
	}
	a := got.Android
	if a == nil || a.TTL != "60s" || a.CollapseKey != "orders" || a.Priority != "high" {
		t.Fatalf("android = %+v, want the section's ttl 60s, common's collapse key, priority high", a)
	}
	if an := a.Notification; an == nil || an.ChannelID != "orders" || an.Color != "#ff8800" {
		t.Errorf("android.notification = %+v", an)
	}
}

func TestSendRawContextLimits(t *testing.T) {
	fake := providertest.NewFCM(t)
	p, now := newProvider(t, fake, "shop-app")
	c := &contexts.Context{ID: "ctx-r2", Kind: contexts.KindRaw, Raw: &contexts.Raw{
		Common:  &contexts.RawCommon{Data: &contexts.StringOrMap{String: "opaque"}},
		Android: json.RawMessage(`{"android": {"ttl": "2000000s", "priority": "normal", "data": {"only": "android"}}}`),
	}}
	m := message("msg-r2", c, token(2))
	m.ExpiresAt = now.Add(90 * time.Second)
	if err := p.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := onlyMessage(t, fake)
	if got.Notification != nil {
		t.Errorf("notification = %+v, want none: nothing sets a title, body or image", got.Notification)
	}
	if got.Data["data"] != "opaque" || got.Data["messageId"] != "msg-r2" {
		t.Errorf("data = %v, want common's string under \"data\" and the identity", got.Data)
	}
	a := got.Android
	if a.TTL != "90s" || a.Priority != "normal" {
		t.Errorf("android ttl %q priority %q, want the message's earlier expiry 90s and the section's priority", a.TTL, a.Priority)
	}
	// Android devices get android.data instead of data.
	if a.Data["only"] != "android" || a.Data["messageId"] != "msg-r2" || a.Data["contextId"] != "ctx-r2" {
		t.Errorf("android.data = %v, want the section's keys and the identity", a.Data)
	}
}

func TestSendExpiredMessageIsNotSent(t *testing.T) {
	fake := providertest.NewFCM(t)
	p, now := newProvider(t, fake, "shop-app")
	m := message("msg-x", &contexts.Context{ID: "c", Kind: contexts.KindSilent, Silent: &contexts.Silent{}}, token(1))
	m.ExpiresAt = now.Add(-time.Second)
	o := providers.Classify(p.Send(context.Background(), m))
	if o == nil || o.Reason != providers.ReasonExpired || !o.Permanent {
		t.Fatalf("outcome %v, want permanent expired", o)
	}
	if n := fake.Counts().Requests; n != 0 {
		t.Errorf("the fake saw %d sends of an expired message", n)
	}
}

func TestSendClassifiesFCMAnswers(t *testing.T) {
	fake := providertest.NewFCM(t)
	p, _ := newProvider(t, fake, "shop-app")
	silent := &contexts.Context{ID: "c", Kind: contexts.KindSilent, Silent: &contexts.Silent{}}
	tests := []struct {
		name       string
		answer     *providertest.FCMError
		reason     providers.Reason
		permanent  bool
		status     int
		retryAfter time.Duration
	}{
		{"unregistered", providertest.FCMUnregistered(), providers.ReasonUnregistered, true, 404, 0},
		{"invalid registration token", providertest.FCMInvalidRegistration(), providers.ReasonInvalidToken, true, 400, 0},
		{"sender id mismatch", providertest.FCMSenderIDMismatch(), providers.ReasonInvalidToken, true, 403, 0},
		{"invalid payload", providertest.FCMInvalidArgument("message.android.ttl", "Invalid value at 'message.android.ttl'"), providers.ReasonInvalidPayload, true, 400, 0},
		{"too big", providertest.FCMInvalidArgument("message", "Android message is too big"), providers.ReasonPayloadTooLarge, true, 400, 0},
		{"third party auth", providertest.FCMThirdPartyAuthError(), providers.ReasonBadCredentials, true, 401, 0},
		{"quota exceeded", providertest.FCMQuotaExceeded(30 * time.Second), providers.ReasonRateLimited, false, 429, 30 * time.Second},
		{"internal", providertest.FCMInternal(), providers.ReasonUnavailable, false, 500, 0},
		// A Retry-After past the SDK's two-minute limit stops its own
		// retries, so the 503 comes straight back.
		{"unavailable", providertest.FCMUnavailable(10 * time.Minute), providers.ReasonUnavailable, false, 503, 10 * time.Minute},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := token(100 + i)
			fake.FailToken(tok, tt.answer)
			err := p.Send(context.Background(), message("m", silent, tok))
			var o *providers.Outcome
			if !errors.As(err, &o) {
				t.Fatalf("Send returned %v, not an Outcome", err)
			}
			if o.Reason != tt.reason || o.Permanent != tt.permanent || o.Status != tt.status || o.RetryAfter != tt.retryAfter {
				t.Errorf("outcome %s permanent=%v status=%d retryAfter=%v, want %s %v %d %v",
					o.Reason, o.Permanent, o.Status, o.RetryAfter, tt.reason, tt.permanent, tt.status, tt.retryAfter)
			}
		})
	}
	if n := len(fake.Delivered()); n != 0 {
		t.Errorf("the fake accepted %d messages", n)
	}
}

func TestSendRefusedByFCMChecks(t *testing.T) {
	fake := providertest.NewFCM(t)
	p, _ := newProvider(t, fake, "shop-app")
	big := &contexts.Context{ID: "c", Kind: contexts.KindData, Data: &contexts.Data{Title: "t", Body: strings.Repeat("x", 5000)}}
	if o := providers.Classify(p.Send(context.Background(), message("m", big, token(1)))); o == nil || o.Reason != providers.ReasonPayloadTooLarge || !o.Permanent {
		t.Errorf("oversized message: outcome %v, want permanent payload_too_large", o)
	}
	small := &contexts.Context{ID: "c", Kind: contexts.KindSilent, Silent: &contexts.Silent{}}
	if o := providers.Classify(p.Send(context.Background(), message("m", small, "not a token!"))); o == nil || o.Reason != providers.ReasonInvalidToken || !o.Permanent {
		t.Errorf("malformed token: outcome %v, want permanent invalid_token", o)
	}
}

func TestSendSurvivesOneUnavailable(t *testing.T) {
	fake := providertest.NewFCM(t)
	p, _ := newProvider(t, fake, "shop-app")
	fake.FailNext(1, providertest.FCMUnavailable(0))
	c := &contexts.Context{ID: "c", Kind: contexts.KindSilent, Silent: &contexts.Silent{}}
	if err := p.Send(context.Background(), message("m", c, token(1))); err != nil {
		t.Fatalf("the SDK's own retry of a 503 should have delivered: %v", err)
	}
	if c := fake.Counts(); c.Requests != 2 || c.Accepted != 1 {
		t.Errorf("counts %+v, want 2 requests and 1 accepted", c)
	}
}

func TestSendGivesUpWithTheCaller(t *testing.T) {
	fake := providertest.NewFCM(t)
	p, _ := newProvider(t, fake, "shop-app")
	fake.SetLatency(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	c := &contexts.Context{ID: "c", Kind: contexts.KindSilent, Silent: &contexts.Silent{}}
	o := providers.Classify(p.Send(ctx, message("m", c, token(1))))
	if o == nil || o.Permanent || o.Reason != providers.ReasonUnavailable {
		t.Errorf("outcome %v, want transient unavailable: the outcome is unknown", o)
	}
}

func TestUntrustedServiceAccountIsBadCredentials(t *testing.T) {
	fake := providertest.NewFCM(t)
	p, err := fcm.New(credential(fake.UntrustedServiceAccountJSON("shop-app"), "shop-app"), fcm.Options{Endpoint: fake.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := &contexts.Context{ID: "c", Kind: contexts.KindSilent, Silent: &contexts.Silent{}}
	o := providers.Classify(p.Send(context.Background(), message("m", c, token(1))))
	if o == nil || o.Reason != providers.ReasonBadCredentials || !o.Permanent || o.Status != 400 {
		t.Fatalf("outcome %v, want permanent bad_credentials from the token endpoint's 400", o)
	}
	if c := fake.Counts(); c.TokensRefused == 0 || c.Requests != 0 {
		t.Errorf("counts %+v, want a refused assertion and no send", c)
	}
}

func TestServiceAccountOfAnotherProjectIsBadCredentials(t *testing.T) {
	fake := providertest.NewFCM(t)
	p, err := fcm.New(credential(fake.ServiceAccountJSON("other-app"), "shop-app"), fcm.Options{Endpoint: fake.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := &contexts.Context{ID: "c", Kind: contexts.KindSilent, Silent: &contexts.Silent{}}
	o := providers.Classify(p.Send(context.Background(), message("m", c, token(1))))
	if o == nil || o.Reason != providers.ReasonBadCredentials || !o.Permanent || o.Status != 403 {
		t.Fatalf("outcome %v, want permanent bad_credentials (403)", o)
	}
}

func TestNewRefusesBrokenCredentials(t *testing.T) {
	fake := providertest.NewFCM(t)
	good := fake.ServiceAccountJSON("shop-app")
	edit := func(change func(map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name string
		json []byte
		opts fcm.Options
	}{
		{"not JSON", []byte("{"), fcm.Options{Endpoint: fake.URL + "/v1"}},
		{"another credential type", edit(func(m map[string]any) { m["type"] = "external_account" }), fcm.Options{Endpoint: fake.URL + "/v1"}},
		{"no client_email", edit(func(m map[string]any) { delete(m, "client_email") }), fcm.Options{Endpoint: fake.URL + "/v1"}},
		{"broken key", edit(func(m map[string]any) {
			m["private_key"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
		}), fcm.Options{Endpoint: fake.URL + "/v1"}},
		{"foreign token_uri with Google's endpoint", good, fcm.Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := fcm.New(credential(tt.json, "shop-app"), tt.opts)
			if err == nil {
				p.Close()
				t.Fatal("New accepted the credential")
			}
			if o := providers.Classify(err); o.Reason != providers.ReasonBadCredentials || !o.Permanent {
				t.Errorf("error %v classifies as %v, want permanent bad_credentials", err, o)
			}
		})
	}
	if c := fake.Counts(); c.TokensIssued+c.TokensRefused != 0 {
		t.Errorf("building providers reached the token endpoint: %+v", c)
	}
}

func TestCheck(t *testing.T) {
	data := func(body string) *contexts.Context {
		return &contexts.Context{ID: "c", Kind: contexts.KindData, Data: &contexts.Data{Title: "t", Body: body}}
	}
	raw := func(android string) *contexts.Context {
		return &contexts.Context{ID: "c", Kind: contexts.KindRaw, Raw: &contexts.Raw{Android: json.RawMessage(android)}}
	}
	tests := []struct {
		name  string
		c     *contexts.Context
		field string // "" when Check must accept
	}{
		{"small data", data("hello"), ""},
		{"oversized data", data(strings.Repeat("x", 4000)), "data"},
		{"oversized silent", &contexts.Context{ID: "c", Kind: contexts.KindSilent, Silent: &contexts.Silent{ExternalData: strings.Repeat("e", 4000)}}, "externalData"},
		{"raw", raw(`{"notification":{"title":"t"},"android":{"ttl":"60s"}}`), ""},
		{"raw not JSON", raw(`{"notification":`), "android"},
		{"raw with a target", raw(`{"token":"abc"}`), "android"},
		{"raw data not strings", raw(`{"data":{"n":1}}`), "android"},
		{"raw bad priority", raw(`{"android":{"priority":"urgent"}}`), "android"},
		{"raw oversized", raw(`{"data":{"blob":"` + strings.Repeat("b", 4000) + `"}}`), "android"},
		{"data with a bad image", &contexts.Context{ID: "c", Kind: contexts.KindData, Data: &contexts.Data{Image: "not a url"}}, "data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fcm.Check(tt.c)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Check refused: %v", err)
				}
				return
			}
			var pe *pushgate.Error
			if !errors.As(err, &pe) || pe.Code != pushgate.EINVALID {
				t.Fatalf("Check returned %v, want a %s error", err, pushgate.EINVALID)
			}
			if len(pe.Fields) != 1 || !strings.HasPrefix(pe.Fields[0], tt.field+": ") {
				t.Errorf("fields %q, want one about %s", pe.Fields, tt.field)
			}
		})
	}
}

// TestCheckAssumesTheLongestIdentity shows Check refusing a context that
// fits with short ids but would not with a 255-character foreignId.
func TestCheckAssumesTheLongestIdentity(t *testing.T) {
	fake := providertest.NewFCM(t)
	p, _ := newProvider(t, fake, "shop-app")
	c := &contexts.Context{ID: "c", Kind: contexts.KindData, Data: &contexts.Data{Body: strings.Repeat("x", 3900)}}
	if err := p.Send(context.Background(), message("m", c, token(1))); err != nil {
		t.Fatalf("FCM refused the context with short ids: %v", err)
	}
	if err := fcm.Check(c); pushgate.ErrorCode(err) != pushgate.EINVALID {
		t.Errorf("Check = %v, want it refused for the longest ids", err)
	}
}

func TestRegister(t *testing.T) {
	fake := providertest.NewFCM(t)
	reg := providers.NewRegistry()
	fcm.Register(reg, fcm.Options{Endpoint: fake.URL + "/v1"})
	prov, err := reg.New(credential(fake.ServiceAccountJSON("shop-app"), "shop-app"))
	if err != nil {
		t.Fatal(err)
	}
	defer prov.Close()
	c := &contexts.Context{ID: "c", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi"}}
	if err := prov.Send(context.Background(), message("m", c, token(1))); err != nil {
		t.Fatal(err)
	}
	if len(fake.Delivered()) != 1 {
		t.Error("the registered provider did not deliver")
	}
	big := &contexts.Context{ID: "c", Kind: contexts.KindData, Data: &contexts.Data{Body: strings.Repeat("x", 5000)}}
	if err := reg.Check(buckets.FCMv1, big); pushgate.ErrorCode(err) != pushgate.EINVALID {
		t.Errorf("registry check = %v, want %s", err, pushgate.EINVALID)
	}
	if _, err := reg.New(credential([]byte("{}"), "shop-app")); err == nil {
		t.Error("the registry built a provider from an empty credential")
	}
}

func TestConcurrentSends(t *testing.T) {
	fake := providertest.NewFCM(t)
	p, _ := newProvider(t, fake, "shop-app")
	c := &contexts.Context{ID: "c", Kind: contexts.KindData, Data: &contexts.Data{Title: "hi", Behaviour: "https://x.example/"}}
	const workers, each = 32, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n := w*each + i
				if err := p.Send(context.Background(), message(fmt.Sprint("m", n), c, token(n))); err != nil {
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
	seen := map[string]string{}
	for _, m := range fake.Delivered() {
		if prev, dup := seen[m.Token]; dup {
			t.Errorf("token %s got messages %s and %s", m.Token, prev, m.Data["messageId"])
		}
		seen[m.Token] = m.Data["messageId"]
	}
	if len(seen) != workers*each {
		t.Errorf("%d tokens got a message, want %d", len(seen), workers*each)
	}
	if n := fake.Counts().TokensIssued; n != 1 {
		t.Errorf("%d access tokens fetched, want 1 shared by every send", n)
	}
}

func BenchmarkSend(b *testing.B) {
	fake := providertest.NewFCM(b)
	fake.SetCountOnly(true)
	p, _ := newProvider(b, fake, "bench-app")
	c := &contexts.Context{ID: "ctx-bench", Kind: contexts.KindData, Data: &contexts.Data{
		Title: "Sale", Body: "50% off", Behaviour: "https://shop.example/", Tag: "sale",
		Actions: []contexts.Action{{Action: "buy", Behaviour: "https://shop.example/cart"}},
	}}
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := p.Send(context.Background(), message("m", c, token(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if got := fake.Counts().Accepted; got < int64(b.N) {
		b.Errorf("fake accepted %d of %d", got, b.N)
	}
}
