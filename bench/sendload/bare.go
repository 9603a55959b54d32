package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/SherClockHolmes/webpush-go"
	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"

	"github.com/pushgate/pushgate/bench/internal/procstat"
	"github.com/pushgate/pushgate/providers/providertest"
)

// bare sends o.n notifications with the vendor library alone (no gateway)
// from 100 goroutines to the fake process: the floor a gateway's CPU per
// push compares with. The "node" is this process.
func bare(t *tb, o options, f *fakeProc) {
	var send func(i int) error
	switch o.bare {
	case "apns":
		send = bareAPNS(t, f)
	case "webpush":
		send = bareWebPush(t, o, f)
	default:
		t.Fatalf("-bare takes apns or webpush")
	}
	provider := o.bare
	w := watched{node: os.Getpid(), fake: f.pid}
	var next, failed atomic.Int64
	before, cpu0 := f.counts(t).delivered(provider), w.read()
	start := time.Now()
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(o.n); i = next.Add(1) {
				if err := send(int(i)); err != nil && failed.Add(1) == 1 {
					fmt.Fprintln(os.Stderr, "bare: first failure:", err)
				}
			}
		})
	}
	wg.Wait()
	end := f.waitDelivered(t, provider, before, int64(o.n)-failed.Load(), 10*time.Second)
	fmt.Printf("bare %s:  %d sends (%d failed) from 100 goroutines, fake %s\n", o.bare, o.n, failed.Load(), o.fake)
	r := result{label: orDefault(o.label, "bare "+o.bare+", 100 goroutines"), pushes: int64(o.n), elapsed: end.Sub(start), cpu: used(cpu0, w.read()), w: w}
	r.peakKiB, _ = procstat.StatusKiB(os.Getpid(), "VmHWM")
	r.print()
}

func bareAPNS(t *tb, f *fakeProc) func(i int) error {
	authKey, err := token.AuthKeyFromBytes([]byte(f.P8))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(f.CertPEM))
	client := apns2.NewTokenClient(&token.Token{AuthKey: authKey, KeyID: f.KeyID, TeamID: f.TeamID})
	client.Host = f.APNS
	client.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	payload := []byte(`{"aps":{"alert":{"title":"Load test","body":"Hello from sendload"}},"messageId":"01a2099a-abf1-7684-a110-cea7e7c18e3a"}`)
	tokens := make([]string, 1000)
	for i := range tokens {
		tokens[i] = providertest.APNSTestDeviceToken(t)
	}
	return func(i int) error {
		res, err := client.PushWithContext(context.Background(), &apns2.Notification{DeviceToken: tokens[i%len(tokens)], Topic: "com.example.bench", Payload: payload})
		if err == nil && !res.Sent() {
			err = fmt.Errorf("%d %s", res.StatusCode, res.Reason)
		}
		return err
	}
}

func bareWebPush(t *tb, o options, f *fakeProc) func(i int) error {
	subs := make([]*webpush.Subscription, 0, o.distinct)
	for _, s := range f.subscriptions(t, o.distinct) {
		subs = append(subs, &webpush.Subscription{Endpoint: s.Endpoint, Keys: webpush.Keys{P256dh: s.P256dh, Auth: s.Auth}})
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	payload := []byte(`{"title":"Load test","body":"Hello from sendload","data":{"messageId":"01a2099a-abf1-7684-a110-cea7e7c18e3a"}}`)
	return func(i int) error {
		res, err := webpush.SendNotificationWithContext(context.Background(), payload[:len(payload):len(payload)], subs[i%len(subs)], &webpush.Options{
			HTTPClient: hc, Subscriber: "bench@example.com", VAPIDPublicKey: f.VAPIDPublic, VAPIDPrivateKey: f.VAPIDPrivate, TTL: 3600,
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
}
