package hms_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/providers/hms"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

func loopback(t testing.TB) hms.Options {
	t.Helper()
	g, err := pushgate.NewSSRFGuard("127.0.0.0/8,::1/128")
	if err != nil {
		t.Fatal(err)
	}
	return hms.Options{Guard: g}
}

func credential(fake *providertest.HMSFake) *buckets.Credential {
	id, secret := fake.NewApp()
	return &buckets.Credential{ID: "c1", Type: buckets.HMS, HMS: &buckets.HMSCredential{AppID: id, AppSecret: secret, PushURL: fake.PushURL, AuthURL: fake.AuthURL}}
}

func newProvider(t testing.TB, fake *providertest.HMSFake) *hms.Provider {
	t.Helper()
	p, err := hms.New(credential(fake), loopback(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func token(n int) string { return fmt.Sprintf("IQAAAACy0%04dBkJ3-Wq_hms+tok/%d=", n, n) }

func dataContext() *contexts.Context {
	badge := 3.0
	return &contexts.Context{ID: "ctx-1", Kind: contexts.KindData, Data: &contexts.Data{
		Title: "Spring sale", Body: "Everything -30%", Image: "https://cdn.example/sale.jpg", ChannelName: "offers", SmallIcon: "/raw/ic",
		Behaviour: "https://shop.example/sale", BehaviourHuawei: "https://shop.example/huawei", Tag: "sale", ExternalData: `{"c":7}`, BadgeMobile: &badge,
		Actions: []contexts.Action{{Action: "buy", Title: "Buy", Behaviour: "https://shop.example/cart", BehaviourHuawei: "https://shop.example/hcart"}},
	}}
}

func message(id string, c *contexts.Context, tok string) *providers.Message {
	return &providers.Message{ID: id, ForeignID: "f-" + id, Context: c, Receiver: providersReceiver(tok), ExpiresAt: time.Now().Add(time.Hour)}
}

func TestSendDataContext(t *testing.T) {
	fake := providertest.NewHMS(t)
	p := newProvider(t, fake)
	if err := p.Send(t.Context(), message("m1", dataContext(), token(1))); err != nil {
		t.Fatal(err)
	}
	got := fake.Delivered()
	if len(got) != 1 || got[0].Token != token(1) {
		t.Fatalf("delivered %+v", got)
	}
	var data map[string]string
	if err := json.Unmarshal([]byte(got[0].Data), &data); err != nil {
		t.Fatalf("data %q: %v", got[0].Data, err)
	}
	if data["messageId"] != "m1" || data["contextId"] != "ctx-1" || data["foreignId"] != "f-m1" || data["externalData"] != `{"c":7}` ||
		!strings.Contains(data["actionsMap"], `"buy":"https://shop.example/hcart"`) || !strings.Contains(data["actionsMap"], `"default":"https://shop.example/huawei"`) {
		t.Errorf("data %v", data)
	}
	a := got[0].Android
	n, _ := a["notification"].(map[string]any)
	click, _ := n["click_action"].(map[string]any)
	if a["urgency"] != "HIGH" || a["ttl"] == nil || !strings.HasSuffix(a["ttl"].(string), "s") || n["title"] != "Spring sale" || n["body"] != "Everything -30%" ||
		n["image"] != "https://cdn.example/sale.jpg" || n["channel_id"] != "offers" || n["tag"] != "sale" || n["icon"] != "/raw/ic" ||
		click["type"] != 2.0 || click["url"] != "https://shop.example/huawei" {
		t.Errorf("android %v", a)
	}
}

func TestSendSilentContext(t *testing.T) {
	fake := providertest.NewHMS(t)
	p := newProvider(t, fake)
	c := &contexts.Context{ID: "ctx-s", Kind: contexts.KindSilent, Silent: &contexts.Silent{ExternalData: "x"}}
	if err := p.Send(t.Context(), message("m1", c, token(1))); err != nil {
		t.Fatal(err)
	}
	got := fake.Delivered()[0]
	if got.Android["notification"] != nil || !strings.Contains(got.Data, `"_silent":"true"`) || !strings.Contains(got.Data, `"messageId":"m1"`) {
		t.Errorf("silent message %+v", got)
	}
}

func TestSendRawContext(t *testing.T) {
	fake := providertest.NewHMS(t)
	p := newProvider(t, fake)
	ck, target, ttl := 2.0, 1.0, 60.0
	c := &contexts.Context{ID: "ctx-r", Kind: contexts.KindRaw, Raw: &contexts.Raw{
		Common: &contexts.RawCommon{Title: "Common title", Body: "Common body"},
		Huawei: &contexts.RawHuawei{Notification: json.RawMessage(`{"title":"Huawei title","click_action":{"type":1,"intent":"#Intent;end"}}`),
			BiTag: "campaign-7", CollapseKey: &ck, FastAppTarget: &target, ReceiptID: "r1", TTL: &ttl},
	}}
	if err := p.Send(t.Context(), message("m1", c, token(1))); err != nil {
		t.Fatal(err)
	}
	a := fake.Delivered()[0].Android
	n := a["notification"].(map[string]any)
	if n["title"] != "Huawei title" || n["body"] != "Common body" || a["bi_tag"] != "campaign-7" || a["collapse_key"] != 2.0 ||
		a["fast_app_target"] != 1.0 || a["receipt_id"] != "r1" || a["ttl"] != "60s" {
		t.Errorf("android %v", a)
	}
}

// Messages whose rendered message is the same (a raw context whose
// huawei.data replaces the data) share requests of up to 1000 tokens;
// messages with their own ids get one request each.
func TestSendBatchSharesRequests(t *testing.T) {
	fake := providertest.NewHMS(t)
	p := newProvider(t, fake)
	shared := &contexts.Context{ID: "ctx-b", Kind: contexts.KindRaw, Raw: &contexts.Raw{
		Common: &contexts.RawCommon{Title: "T", Body: "B"}, Huawei: &contexts.RawHuawei{Data: `{"offer":1}`}}}
	var ms []*providers.Message
	for i := range 1500 {
		ms = append(ms, message(fmt.Sprint("m", i), shared, token(i)))
	}
	for i, err := range p.SendBatch(t.Context(), ms) {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if n := fake.Requests(); n != 2 {
		t.Errorf("1500 identical messages took %d requests, want 2", n)
	}
	got := fake.Delivered()
	sizes := map[int]int{}
	for _, m := range got {
		sizes[m.Tokens]++
		if m.Data != `{"offer":1}` {
			t.Fatalf("delivered %+v", m)
		}
	}
	if len(got) != 1500 || sizes[1000] != 1000 || sizes[500] != 500 {
		t.Errorf("delivered %d, by request size %v", len(got), sizes)
	}
	before := fake.Requests()
	ms = ms[:10]
	for i := range ms {
		ms[i].Context = dataContext()
	}
	for _, err := range p.SendBatch(t.Context(), ms) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := fake.Requests() - before; n != 10 {
		t.Errorf("10 messages with their own ids took %d requests", n)
	}
}

func TestPartialSuccessMapsIllegalTokens(t *testing.T) {
	fake := providertest.NewHMS(t)
	p := newProvider(t, fake)
	c := &contexts.Context{ID: "ctx-b", Kind: contexts.KindRaw, Raw: &contexts.Raw{Huawei: &contexts.RawHuawei{Data: "x"}}}
	fake.Unregister(token(1))
	fake.Unregister(token(3))
	var ms []*providers.Message
	for i := range 5 {
		ms = append(ms, message(fmt.Sprint("m", i), c, token(i)))
	}
	errs := p.SendBatch(t.Context(), ms)
	for i, err := range errs {
		o := providers.Classify(err)
		if i == 1 || i == 3 {
			if o == nil || o.Reason != providers.ReasonUnregistered || !o.Permanent {
				t.Errorf("token %d: %v, want permanent unregistered", i, err)
			}
		} else if err != nil {
			t.Errorf("token %d: %v", i, err)
		}
	}
	if fake.Requests() != 1 || len(fake.Delivered()) != 3 {
		t.Errorf("%d requests, %d delivered", fake.Requests(), len(fake.Delivered()))
	}
}

func TestSendClassifiesAnswers(t *testing.T) {
	cases := []struct {
		name      string
		reply     providertest.HMSReply
		reason    providers.Reason
		permanent bool
		retry     time.Duration
	}{
		{"flow control", providertest.HMSReply{Status: 503, Code: "80300013", Msg: "flow control", RetryAfter: "7"}, providers.ReasonRateLimited, false, 7 * time.Second},
		{"internal", providertest.HMSReply{Status: 500, Code: "81000001", Msg: "System inner error"}, providers.ReasonUnavailable, false, 0},
		{"too large", providertest.HMSReply{Status: 400, Code: "80300008", Msg: "The message body size exceeds the default value"}, providers.ReasonPayloadTooLarge, true, 0},
		{"invalid token", providertest.HMSReply{Status: 400, Code: "80300007", Msg: "All the tokens are invalid"}, providers.ReasonUnregistered, true, 0},
		{"bad message", providertest.HMSReply{Status: 400, Code: "80100003", Msg: "Illegal payload"}, providers.ReasonInvalidPayload, true, 0},
		{"no app", providertest.HMSReply{Status: 404, Code: "", Msg: "not found"}, providers.ReasonBadCredentials, true, 0},
		{"partial without list", providertest.HMSReply{Status: 200, Code: "80100000", Msg: "garbled"}, providers.ReasonUnavailable, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := providertest.NewHMS(t)
			p := newProvider(t, fake)
			fake.FailNext(1, tc.reply)
			o := providers.Classify(p.Send(t.Context(), message("m1", dataContext(), token(1))))
			if o == nil || o.Reason != tc.reason || o.Permanent != tc.permanent || o.RetryAfter != tc.retry {
				t.Errorf("outcome %v, want %s permanent=%v retry %s", o, tc.reason, tc.permanent, tc.retry)
			}
		})
	}
}

// The access token is fetched once and shared by every send; an expired
// one is replaced once, and the send goes through.
func TestAccessTokenIsSharedAndRefreshedOnce(t *testing.T) {
	fake := providertest.NewHMS(t)
	p := newProvider(t, fake)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if err := p.Send(t.Context(), message(fmt.Sprint("m", i), dataContext(), token(i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := fake.TokensIssued(); n != 1 {
		t.Errorf("50 concurrent sends fetched %d access tokens", n)
	}
	fake.ExpireTokens()
	if err := p.Send(t.Context(), message("m-after", dataContext(), token(99))); err != nil {
		t.Fatalf("send after expiry: %v", err)
	}
	if n := fake.TokensIssued(); n != 2 {
		t.Errorf("%d access tokens after one expiry, want 2", n)
	}
	// A token refused twice is a bad credential, not a loop.
	fake.FailNext(2, providertest.HMSReply{Status: 401, Code: "80200003", Msg: "Oauth Token expired"})
	if o := providers.Classify(p.Send(t.Context(), message("m-x", dataContext(), token(98)))); o == nil || o.Reason != providers.ReasonBadCredentials {
		t.Errorf("twice refused: %v", o)
	}
}

// The token is kept until shortly before it expires.
func TestShortLivedTokenIsRenewedBeforeExpiry(t *testing.T) {
	fake := providertest.NewHMS(t)
	fake.SetTokenLifetime(2 * time.Second)
	p := newProvider(t, fake)
	now := time.Now()
	hms.SetClock(p, func() time.Time { return now })
	send := func() {
		t.Helper()
		if err := p.Send(t.Context(), message("m", dataContext(), token(1))); err != nil {
			t.Fatal(err)
		}
	}
	send()
	send()
	if n := fake.TokensIssued(); n != 1 {
		t.Fatalf("%d tokens for two sends", n)
	}
	now = now.Add(1500 * time.Millisecond) // past half the lifetime
	send()
	if n := fake.TokensIssued(); n != 2 {
		t.Errorf("%d tokens after the first neared expiry, want 2", n)
	}
}

func TestWrongSecretIsBadCredentials(t *testing.T) {
	fake := providertest.NewHMS(t)
	cred := credential(fake)
	cred.HMS.AppSecret = "not-the-secret"
	p, err := hms.New(cred, loopback(t))
	if err != nil {
		t.Fatal(err)
	}
	var ms []*providers.Message
	for i := range 20 {
		ms = append(ms, message(fmt.Sprint("m", i), dataContext(), token(i)))
	}
	for _, err := range p.SendBatch(t.Context(), ms) {
		if o := providers.Classify(err); o == nil || o.Reason != providers.ReasonBadCredentials || !o.Permanent {
			t.Errorf("outcome %v", o)
		}
	}
	if fake.Requests() != 0 {
		t.Errorf("a send reached Push Kit without a token")
	}
	if n := fake.TokenRequests(); n != 1 {
		t.Errorf("20 messages asked the token endpoint %d times after it refused the secret", n)
	}
}

func TestURLsGoThroughTheGuard(t *testing.T) {
	fake := providertest.NewHMS(t)
	p, err := hms.New(credential(fake), hms.Options{}) // empty allow-list: loopback refused
	if err != nil {
		t.Fatal(err)
	}
	o := providers.Classify(p.Send(t.Context(), message("m1", dataContext(), token(1))))
	if o == nil || o.Reason != providers.ReasonForbiddenAddress || !o.Permanent {
		t.Errorf("outcome %v", o)
	}
	if fake.TokensIssued() != 0 || fake.Requests() != 0 {
		t.Errorf("the fake on loopback was reached")
	}
}

func TestExpiredMessageIsNotSent(t *testing.T) {
	fake := providertest.NewHMS(t)
	p := newProvider(t, fake)
	m := message("m1", dataContext(), token(1))
	m.ExpiresAt = time.Now().Add(-time.Second)
	if o := providers.Classify(p.Send(t.Context(), m)); o == nil || o.Reason != providers.ReasonExpired {
		t.Errorf("outcome %v", o)
	}
	if fake.TokensIssued() != 0 {
		t.Errorf("an expired message fetched a token")
	}
}

func TestNewRefusesOtherCredentials(t *testing.T) {
	for _, c := range []*buckets.Credential{nil, {Type: buckets.FCMv1}, {Type: buckets.HMS, HMS: &buckets.HMSCredential{AppID: "1"}}} {
		_, err := hms.New(c, hms.Options{})
		var o *providers.Outcome
		if !errors.As(err, &o) || o.Reason != providers.ReasonBadCredentials {
			t.Errorf("New(%+v) = %v", c, err)
		}
	}
}

func TestCheck(t *testing.T) {
	if err := hms.Check(dataContext()); err != nil {
		t.Errorf("a plain data context: %v", err)
	}
	big := dataContext()
	big.Data.Body = strings.Repeat("x", 3900)
	if err := hms.Check(big); pushgate.ErrorCode(err) != pushgate.EINVALID || !strings.Contains(err.Error(), "too large") {
		t.Errorf("a body of 3900 bytes: %v", err)
	}
	bad := &contexts.Context{Kind: contexts.KindRaw, Raw: &contexts.Raw{Huawei: &contexts.RawHuawei{Notification: json.RawMessage(`[1]`)}}}
	if err := hms.Check(bad); pushgate.ErrorCode(err) != pushgate.EINVALID {
		t.Errorf("a notification that is not an object: %v", err)
	}
}

func TestRegister(t *testing.T) {
	fake := providertest.NewHMS(t)
	r := providers.NewRegistry()
	hms.Register(r, loopback(t))
	p, err := r.New(credential(fake))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, ok := p.(providers.BatchSender); !ok {
		t.Error("the registered provider does not batch")
	}
}

func BenchmarkSend(b *testing.B) {
	fake := providertest.NewHMS(b)
	p := newProvider(b, fake)
	c := dataContext()
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if err := p.Send(b.Context(), message("m", c, token(i%64))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
}

// BenchmarkSendBatch sends 1000 receivers of a context whose message is the
// same for all (one request each 1000).
func BenchmarkSendBatch(b *testing.B) {
	fake := providertest.NewHMS(b)
	p := newProvider(b, fake)
	c := &contexts.Context{ID: "ctx-b", Kind: contexts.KindRaw, Raw: &contexts.Raw{
		Common: &contexts.RawCommon{Title: "T", Body: "B"}, Huawei: &contexts.RawHuawei{Data: `{"offer":1}`}}}
	ms := make([]*providers.Message, 1000)
	for i := range ms {
		ms[i] = message(fmt.Sprint("m", i), c, token(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, err := range p.SendBatch(b.Context(), ms) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(ms))/b.Elapsed().Seconds(), "messages/s")
}

func providersReceiver(tok string) recipients.Receiver {
	return recipients.Receiver{CredentialID: "c1", Token: tok}
}
