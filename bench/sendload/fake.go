package main

import (
	"bufio"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pushgate/pushgate/providers/providertest"
)

// hello is what the fake process prints on its first line of output: where
// each fake listens, and what a client needs to be trusted by them.
type hello struct {
	APNS, FCM, WebPush string
	// Control serves GET /counts and POST /webpush/subscriptions?n=&key=.
	Control string
	// CertPEM is the APNS fake's TLS certificate (the others speak plain
	// HTTP).
	CertPEM string
	// P8, KeyID and TeamID are an APNS provider key the fake trusts.
	P8, KeyID, TeamID string
	// ServiceAccount is an FCM service account the fake trusts.
	ServiceAccount json.RawMessage
	// VAPIDPublic and VAPIDPrivate are a VAPID key pair (base64url);
	// subscriptions made with the public one accept only it.
	VAPIDPublic, VAPIDPrivate string
}

// counts are the fakes' counters, as GET /counts answers them.
type counts struct {
	APNS    providertest.APNSCounts
	FCM     providertest.FCMCounts
	WebPush providertest.WebPushCounts
}

// delivered is how many pushes the provider's fake accepted.
func (c counts) delivered(provider string) int64 {
	switch provider {
	case "apns":
		return c.APNS.Accepted
	case "fcm":
		return c.FCM.Accepted
	default:
		return c.WebPush.Accepted
	}
}

// serveFake is the fake process: it starts the three fakes, prints a hello
// line, and serves until its standard input closes (the load tool ended).
func serveFake(t *tb, o options) {
	apns, fcm, web := providertest.NewAPNS(t), providertest.NewFCM(t), providertest.NewWebPush(t)
	countOnly := o.serveFake == "count"
	apns.SetCountOnly(countOnly)
	fcm.SetCountOnly(countOnly)
	web.SetCountOnly(countOnly)
	for _, x := range []interface{ SetLatency(time.Duration) }{apns, fcm, web} {
		x.SetLatency(o.latency)
	}
	key := providertest.APNSTestKey(t)
	apns.TrustKey(key.KeyID, key.TeamID, key.Public())
	vk, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /counts", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(counts{APNS: apns.Counts(), FCM: fcm.Counts(), WebPush: web.Counts()})
	})
	mux.HandleFunc("POST /webpush/subscriptions", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		subs := make([]providertest.WebPushSubscription, n)
		for i := range subs {
			subs[i] = web.NewSubscriptionFor(r.URL.Query().Get("key"))
		}
		json.NewEncoder(w).Encode(subs)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(ln, mux)
	h := hello{
		APNS: apns.URL, FCM: fcm.URL, WebPush: web.URL, Control: "http://" + ln.Addr().String(),
		CertPEM: string(apns.CertificatePEM()), P8: key.P8, KeyID: key.KeyID, TeamID: key.TeamID,
		ServiceAccount: fcm.ServiceAccountJSON("bench"),
		VAPIDPublic:    base64.RawURLEncoding.EncodeToString(vk.PublicKey().Bytes()),
		VAPIDPrivate:   base64.RawURLEncoding.EncodeToString(vk.Bytes()),
	}
	line, _ := json.Marshal(h)
	fmt.Printf("%s\n", line)
	io.Copy(io.Discard, os.Stdin)
}

// fakeProc is the fake process as the load tool sees it.
type fakeProc struct {
	hello
	pid int
	// certFile holds CertPEM, for SSL_CERT_FILE of the processes that
	// connect to the APNS fake.
	certFile string
}

// startFake starts this command again as the fake process and reads its
// hello. The process ends when this one does: its standard input closes.
func startFake(t *tb, o options) *fakeProc {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-serve-fake", o.fake, "-fake-latency", o.latency.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	f := &fakeProc{pid: cmd.Process.Pid}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		t.Fatalf("fake process: %v", err)
	}
	if err := json.Unmarshal(line, &f.hello); err != nil {
		t.Fatalf("fake process said %q", line)
	}
	f.certFile = filepath.Join(t.TempDir(), "fake-ca.pem")
	if err := os.WriteFile(f.certFile, []byte(f.CertPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeProc) counts(t *tb) counts {
	var c counts
	res, err := http.Get(f.Control + "/counts")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// subscriptions makes n Web Push subscriptions at the fake that accept
// pushes signed with the fake's VAPID key.
func (f *fakeProc) subscriptions(t *tb, n int) []providertest.WebPushSubscription {
	res, err := http.Post(fmt.Sprintf("%s/webpush/subscriptions?n=%d&key=%s", f.Control, n, f.VAPIDPublic), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var subs []providertest.WebPushSubscription
	if err := json.NewDecoder(res.Body).Decode(&subs); err != nil {
		t.Fatal(err)
	}
	return subs
}

// waitDelivered polls the fake until it accepted total pushes of provider
// (besides those it had before) and returns when the last one arrived, to
// within the polling interval (10 ms). It gives up when nothing arrives for
// stall.
func (f *fakeProc) waitDelivered(t *tb, provider string, before, total int64, stall time.Duration) time.Time {
	last, lastChange := before, time.Now()
	for {
		c := f.counts(t)
		got := c.delivered(provider)
		if got-before >= total {
			return time.Now()
		}
		if got != last {
			last, lastChange = got, time.Now()
		} else if time.Since(lastChange) > stall {
			t.Fatalf("the fake accepted %d of %d pushes and no more for %v (rejected: APNS %v, FCM %d, Web Push %d)",
				got-before, total, stall, c.APNS.ByReason, c.FCM.Rejected, c.WebPush.Rejected)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
