package main

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/SherClockHolmes/webpush-go"
	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"

	"github.com/pushgate/pushgate/providers/providertest"
)

// bare sends o.n notifications with the vendor library alone (no pushgate)
// from 100 goroutines to the same fake, for the ratio in docs/performance.md.
func bare(t *tb, o options) {
	var send func(i int) error
	switch o.bare {
	case "apns":
		fake := providertest.NewAPNS(t)
		fake.SetCountOnly(true)
		key := providertest.APNSTestKey(t)
		fake.TrustKey(key.KeyID, key.TeamID, key.Public())
		authKey, err := token.AuthKeyFromBytes([]byte(key.P8))
		if err != nil {
			t.Fatal(err)
		}
		client := apns2.NewTokenClient(&token.Token{AuthKey: authKey, KeyID: key.KeyID, TeamID: key.TeamID})
		client.Host = fake.URL
		client.HTTPClient = fake.Client()
		payload := []byte(`{"aps":{"alert":{"title":"Load test","body":"Hello from sendload"}},"messageId":"01a2099a-abf1-7684-a110-cea7e7c18e3a"}`)
		tokens := make([]string, 1000)
		for i := range tokens {
			tokens[i] = providertest.APNSTestDeviceToken(t)
		}
		send = func(i int) error {
			res, err := client.PushWithContext(context.Background(), &apns2.Notification{DeviceToken: tokens[i%len(tokens)], Topic: "com.example.bench", Payload: payload})
			if err == nil && !res.Sent() {
				err = fmt.Errorf("%d %s", res.StatusCode, res.Reason)
			}
			return err
		}
	case "webpush":
		fake := providertest.NewWebPush(t)
		fake.SetCountOnly(true)
		vk, _ := ecdh.P256().GenerateKey(rand.Reader)
		pub, priv := base64.RawURLEncoding.EncodeToString(vk.PublicKey().Bytes()), base64.RawURLEncoding.EncodeToString(vk.Bytes())
		subs := make([]*webpush.Subscription, o.distinct)
		for i := range subs {
			s := fake.NewSubscriptionFor(pub)
			subs[i] = &webpush.Subscription{Endpoint: s.Endpoint, Keys: webpush.Keys{P256dh: s.P256dh, Auth: s.Auth}}
		}
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200, TLSClientConfig: &tls.Config{}}}
		payload := []byte(`{"title":"Load test","body":"Hello from sendload","data":{"messageId":"01a2099a-abf1-7684-a110-cea7e7c18e3a"}}`)
		send = func(i int) error {
			res, err := webpush.SendNotificationWithContext(context.Background(), payload[:len(payload):len(payload)], subs[i%len(subs)], &webpush.Options{
				HTTPClient: hc, Subscriber: "bench@example.com", VAPIDPublicKey: pub, VAPIDPrivateKey: priv, TTL: 3600,
			})
			if err != nil {
				return err
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 201 {
				return fmt.Errorf("status %d", res.StatusCode)
			}
			return nil
		}
	default:
		t.Fatalf("-bare takes apns or webpush")
	}
	var next atomic.Int64
	var failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < 100; g++ {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(o.n) {
					return
				}
				if err := send(int(i)); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Printf("bare %s: %d sends (%d failed) from 100 goroutines in %v: %.0f/s\n", o.bare, o.n, failed.Load(), elapsed.Round(time.Millisecond), float64(o.n)/elapsed.Seconds())
}
