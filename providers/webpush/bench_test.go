package webpush_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	wpgo "github.com/SherClockHolmes/webpush-go"

	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers/providertest"
)

// benchContext is a typical data context: a title, a body, two actions.
func benchContext() *contexts.Context {
	return &contexts.Context{ID: "0190d7a4-4f0e-7d3a-9a55-3c1f8e2b6a10", Kind: contexts.KindData, Data: &contexts.Data{
		Title: "Spring sale", Body: strings.Repeat("Everything half price. ", 8), Icon: "https://shop.example/icon.png",
		Behaviour: "https://shop.example/sale", Tag: "sale",
		Actions: []contexts.Action{{Action: "buy", Title: "Buy", Behaviour: "https://shop.example/cart"}, {Action: "later", Title: "Later"}},
	}}
}

// BenchmarkSend is the adapter's whole path (render, encrypt, sign, post
// through the SSRF guard's transport, classify) against the fake, which
// verifies and decrypts every push but keeps only counts.
func BenchmarkSend(b *testing.B) {
	fake := providertest.NewWebPush(b)
	fake.SetCountOnly(true)
	p := newProvider(b, newCredential(b, "mailto:ops@pushgate.test"), loopbackOptions(b))
	subs := make([]providertest.WebPushSubscription, 64)
	for i := range subs {
		subs[i] = fake.NewSubscription()
	}
	c := benchContext()
	// Each push waits on a round trip: more goroutines than CPUs keep the
	// CPUs busy, so ns/op is throughput rather than latency.
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if err := p.Send(b.Context(), message(c, subs[i%len(subs)])); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pushes/s")
	if n := fake.Counts().Accepted; n < int64(b.N) {
		b.Errorf("fake accepted %d of %d pushes", n, b.N)
	}
}

// BenchmarkBareWebpushGo is webpush-go alone, with a pre-rendered body and
// a transport pooled like the guard's, for the adapter's overhead.
func BenchmarkBareWebpushGo(b *testing.B) {
	fake := providertest.NewWebPush(b)
	fake.SetCountOnly(true)
	cred := newCredential(b, "")
	subs := make([]providertest.WebPushSubscription, 64)
	for i := range subs {
		subs[i] = fake.NewSubscription()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1000, MaxIdleConnsPerHost: 100, IdleConnTimeout: 90 * time.Second}}
	msg := []byte(`{"title":"Spring sale","body":"` + strings.Repeat("Everything half price. ", 8) + `","data":{"messageId":"m","contextId":"c"}}`)
	// Each push waits on a round trip: more goroutines than CPUs keep the
	// CPUs busy, so ns/op is throughput rather than latency.
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			sub := subs[i%len(subs)]
			resp, err := wpgo.SendNotificationWithContext(b.Context(), msg[:len(msg):len(msg)],
				&wpgo.Subscription{Endpoint: sub.Endpoint, Keys: wpgo.Keys{P256dh: sub.P256dh, Auth: sub.Auth}},
				&wpgo.Options{HTTPClient: client, Subscriber: "ops@pushgate.test", VAPIDPublicKey: cred.VAPID.PublicKey,
					VAPIDPrivateKey: cred.VAPID.PrivateKey, TTL: 2419200, Urgency: wpgo.UrgencyHigh, Topic: "sale"})
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pushes/s")
	if n := fake.Counts().Accepted; n < int64(b.N) {
		b.Errorf("fake accepted %d of %d pushes", n, b.N)
	}
}
