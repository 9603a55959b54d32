package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

// resendWindow bounds what a SIGKILL at full speed may send twice in
// TestKilledAtFullSpeedResendsFew, as time at the rate the node delivered
// just before the kill: re-sends are that rate times what the node had
// not recorded (the sends in flight, up to one delivery_result_interval
// and one write of results), so a bound in time holds on a fast machine
// and on a loaded one alike, where a fraction of the messages would not.
// The figures measured are in docs/reliability.md (tens of milliseconds;
// over a second before results were written every 25 ms). The bound is
// loose because a shared two-core machine stalls writes for long.
const resendWindow = 500 * time.Millisecond

// TestKilledAtFullSpeedResendsFew kills the node with SIGKILL while it
// delivers at full speed with the default concurrency and chunk size,
// starts it again, and counts the devices that received their notification
// twice: messages whose delivery the node had not recorded when it died.
func TestKilledAtFullSpeedResendsFew(t *testing.T) {
	bin := buildBinary(t)
	fake := providertest.NewAPNS(t)
	key := providertest.APNSTestKey(t)
	fake.TrustKey(key.KeyID, key.TeamID, key.Public())
	certFile := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(certFile, fake.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := crashEnv(t, "SSL_CERT_FILE="+certFile, "PUSHGATE_APNS_HOST="+fake.URL,
		// A lease well over a chunk's sending time even on a slow machine:
		// a shorter one would have the sweep hand chunks still being sent
		// to a second worker, sending them twice with no crash at all.
		"PUSHGATE_DELIVERY_LEASE=10s", "PUSHGATE_DELIVERY_STALE_AFTER=2s", "PUSHGATE_MAINTENANCE_INTERVAL=1s")
	p := startProcess(t, bin, env)
	creds := parseCredentials(t, p.out)
	var bucket struct {
		BucketID    string
		Credentials []struct{ ID string }
	}
	body := fmt.Sprintf(`{"providerCredentials":[{"type":"apns_token","payload":{"key":%q,"keyId":%q,"teamId":%q,"appBundleId":"com.example.app"}}],
		"callbackConfig":{"type":"none"}}`, key.P8, key.KeyID, key.TeamID)
	if code := p.call(t, creds.APIKey, "POST", "/v1/bucket", body, &bucket); code != 200 {
		t.Fatalf("bucket: %d", code)
	}
	var c struct{ ContextID string }
	p.call(t, creds.APIKey, "POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Crash test","body":"once"}`, &c)

	// PUSHGATE_TEST_RESEND_N sets the messages (a multiple of 1000) for
	// the long form: 50,000 is issue 18's run.
	n, perSend := 20000, 1000
	if v, err := strconv.Atoi(os.Getenv("PUSHGATE_TEST_RESEND_N")); err == nil && v >= 2*perSend {
		n = v / perSend * perSend
	}
	tokens := map[string]bool{}
	for range n / perSend {
		receivers := make([]recipients.Receiver, perSend)
		for i := range receivers {
			receivers[i] = recipients.Receiver{CredentialID: bucket.Credentials[0].ID, Token: providertest.APNSTestDeviceToken(t)}
			tokens[receivers[i].Token] = true
		}
		if code := p.call(t, creds.APIKey, "POST", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID+"/send", map[string]any{"receivers": receivers}, nil); code != 200 {
			t.Fatalf("send: %d", code)
		}
	}
	waitFor(t, 60*time.Second, func() bool { return fake.Counts().Accepted >= int64(n/3) }, "a third of the messages delivered")
	// The rate just before the kill, over a quarter second.
	c0, t0 := fake.Counts().Accepted, time.Now()
	time.Sleep(250 * time.Millisecond)
	p.cmd.Process.Kill()
	rate := float64(fake.Counts().Accepted-c0) / time.Since(t0).Seconds()
	p.cmd.Wait()
	atKill := fake.Counts().Accepted
	if atKill >= int64(n) {
		t.Fatalf("everything was delivered before the kill; the test proves nothing")
	}
	before := map[string]bool{}
	for _, r := range fake.Delivered() {
		if before[r.DeviceToken] {
			t.Fatalf("a device got its notification twice before the kill")
		}
		before[r.DeviceToken] = true
	}

	startProcess(t, bin, env)
	reached, read := map[string]bool{}, 0
	waitFor(t, 90*time.Second, func() bool {
		d := fake.Delivered()
		for _, r := range d[read:] {
			reached[r.DeviceToken] = true
		}
		read = len(d)
		return len(reached) >= n
	}, "every device reached after the restart")
	// Sends of the last chunks may still be on their way: wait until the
	// fake has heard nothing for longer than a lease.
	for last := int64(-1); ; time.Sleep(4 * time.Second) {
		now := fake.Counts().Accepted
		if now == last {
			break
		}
		last = now
	}
	seen := map[string]int{}
	for _, r := range fake.Delivered() {
		if !tokens[r.DeviceToken] {
			t.Fatalf("the fake got a token nobody sent to: %s", r.DeviceToken)
		}
		seen[r.DeviceToken]++
	}
	twice := 0
	for _, k := range seen {
		twice += k - 1
	}
	window := time.Duration(float64(twice) / rate * float64(time.Second))
	t.Logf("%d of %d delivered before the kill, at %.0f/s; %d sent again after the restart: %.2f%% of those accepted, %v of sends (bound %v)",
		atKill, n, rate, twice, 100*float64(twice)/float64(n), window.Round(time.Millisecond), resendWindow)
	if window > resendWindow {
		t.Fatalf("%d messages sent twice after a SIGKILL: %v of sends at %.0f/s, more than %v", twice, window.Round(time.Millisecond), rate, resendWindow)
	}
}

func waitFor(t *testing.T, d time.Duration, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
