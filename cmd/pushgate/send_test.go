package main

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushgate/pushgate/providers/providertest"
)

// sendEnv lets pushgate send reach the fakes on 127.0.0.1 over plain HTTP.
func sendEnv(extra ...string) map[string]string {
	env := map[string]string{
		"PUSHGATE_SSRF_ALLOW": "127.0.0.0/8", "PUSHGATE_WEBPUSH_ALLOW_HTTP": "true", "PUSHGATE_HMS_ALLOW_HTTP": "true",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

func vapidCredential(t *testing.T) string {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{"type":"vapid","payload":{"publicKey":%q,"privateKey":%q,"subject":"mailto:ops@example.com"}}`,
		base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), base64.RawURLEncoding.EncodeToString(k.Bytes()))
}

// TestSendWebPush sends to the decrypting Web Push fake: a browser's
// PushSubscription JSON from a file, the outcome in text and as JSON, and
// an unsubscribed browser's 410 as a permanent failure (exit 1).
func TestSendWebPush(t *testing.T) {
	wp := providertest.NewWebPush(t)
	sub := wp.NewSubscription()
	subFile := filepath.Join(t.TempDir(), "subscription.json")
	os.WriteFile(subFile, fmt.Appendf(nil, `{"endpoint":%q,"expirationTime":null,"keys":{"p256dh":%q,"auth":%q}}`, sub.Endpoint, sub.P256dh, sub.Auth), 0o600)
	cred := vapidCredential(t)

	code, out, stderr := pushgateCmd(t, sendEnv(), "send", "--credential", cred, "--receiver", "@"+subFile, "--title", "Hi", "--body", "from the CLI")
	if code != 0 || !strings.HasPrefix(out, "sent: vapid accepted message ") {
		t.Fatalf("send: %d %q %s", code, out, stderr)
	}
	got := wp.DeliveredTo(sub)
	if len(got) != 1 || !strings.Contains(string(got[0].Payload), `"title":"Hi"`) || !strings.Contains(string(got[0].Payload), "from the CLI") {
		t.Fatalf("the fake decrypted %d pushes: %+v", len(got), got)
	}

	wp.Unregister(sub)
	recv := fmt.Sprintf(`{"endpoint":%q,"p256dh":%q,"auth":%q}`, sub.Endpoint, sub.P256dh, sub.Auth)
	code, out, _ = pushgateCmd(t, sendEnv(), "send", "--credential", cred, "--receiver", recv, "--json")
	var res struct {
		Status, Reason, Provider string
		Permanent                bool
		HTTPStatus               int
	}
	if code != 1 || json.Unmarshal([]byte(out), &res) != nil || res.Status != "failed" || res.Reason != "unregistered" || !res.Permanent || res.HTTPStatus != 410 {
		t.Fatalf("send to an unsubscribed browser: %d %s", code, out)
	}
	code, out, _ = pushgateCmd(t, sendEnv(), "send", "--credential", cred, "--receiver", recv)
	if code != 1 || !strings.Contains(out, "failed: vapid refused message") || !strings.Contains(out, "unregistered (permanent), HTTP 410") {
		t.Fatalf("text outcome of a refusal: %d %q", code, out)
	}
}

// TestSendFCMAndHMS sends a raw context to the FCM fake (OAuth checked)
// and a data context to the HMS fake, with the endpoints replaced as an
// operator would.
func TestSendFCMAndHMS(t *testing.T) {
	fcm := providertest.NewFCM(t)
	env := sendEnv("PUSHGATE_FCM_ENDPOINT", fcm.URL+"/v1")
	cred := fmt.Sprintf(`{"type":"fcm_v1","payload":%s}`, fcm.ServiceAccountJSON("p1"))
	code, out, stderr := pushgateCmd(t, env, "send", "--credential", cred, "--receiver", `{"token":"fcm-device-1"}`,
		"--kind", "raw", "--context", `{"android":{"notification":{"title":"Raw"}}}`)
	if code != 0 || !strings.HasPrefix(out, "sent: fcm_v1") {
		t.Fatalf("fcm: %d %q %s", code, out, stderr)
	}
	if got := fcm.DeliveredTo("fcm-device-1"); len(got) != 1 {
		t.Fatalf("the FCM fake got %d messages", len(got))
	}

	hms := providertest.NewHMS(t)
	appID, secret := hms.NewApp()
	hcred := fmt.Sprintf(`{"type":"hms","payload":{"appId":%q,"appSecret":%q,"pushUrl":%q,"authUrl":%q}}`, appID, secret, hms.PushURL, hms.AuthURL)
	if code, out, stderr = pushgateCmd(t, sendEnv(), "send", "--credential", hcred, "--receiver", `{"token":"hms-device-1"}`); code != 0 {
		t.Fatalf("hms: %d %q %s", code, out, stderr)
	}
	if got := hms.Delivered(); len(got) != 1 || got[0].Token != "hms-device-1" || got[0].AppID != appID {
		t.Fatalf("the HMS fake got %+v", got)
	}
	wrong := strings.Replace(hcred, secret, strings.Repeat("x", len(secret)), 1)
	if code, out, _ = pushgateCmd(t, sendEnv(), "send", "--credential", wrong, "--receiver", `{"token":"hms-device-1"}`); code != 1 || !strings.Contains(out, "bad_credentials") {
		t.Fatalf("hms with a wrong secret: %d %q", code, out)
	}
}

// TestSendInvalidInput: what the API would refuse is a usage error (exit
// 2) that names the field, and nothing is sent.
func TestSendInvalidInput(t *testing.T) {
	wp := providertest.NewWebPush(t)
	sub := wp.NewSubscription()
	recv := fmt.Sprintf(`{"endpoint":%q,"p256dh":%q,"auth":%q}`, sub.Endpoint, sub.P256dh, sub.Auth)
	cred := vapidCredential(t)
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"no receiver":         {[]string{"--credential", cred}, "--receiver"},
		"receiver not JSON":   {[]string{"--credential", cred, "--receiver", "nope"}, "--receiver is not JSON"},
		"missing file":        {[]string{"--credential", "@/nonexistent/cred.json", "--receiver", recv}, "no such file"},
		"bad credential":      {[]string{"--credential", `{"type":"vapid","payload":{}}`, "--receiver", recv}, "credential.payload.publicKey"},
		"unknown type":        {[]string{"--credential", `{"type":"carrier_pigeon","payload":{}}`, "--receiver", recv}, "credential.type"},
		"websocket":           {[]string{"--credential", `{"type":"websocket","payload":{}}`, "--receiver", `{"userId":"u1"}`}, "inbox"},
		"receiver of a token": {[]string{"--credential", cred, "--receiver", `{"token":"abc"}`}, "receiver.endpoint"},
		"bad context":         {[]string{"--credential", cred, "--receiver", recv, "--context", `{"title":7}`}, "title"},
		"bad kind":            {[]string{"--credential", cred, "--receiver", recv, "--kind", "loud"}, "--kind"},
		"internal endpoint":   {[]string{"--credential", cred, "--receiver", recv}, "endpoint"},
	} {
		env := sendEnv()
		if name == "internal endpoint" {
			env = map[string]string{"PUSHGATE_WEBPUSH_ALLOW_HTTP": "true"} // no ssrf_allow: 127.0.0.1 is refused
		}
		code, out, stderr := pushgateCmd(t, env, append([]string{"send"}, c.args...)...)
		if name == "missing file" {
			if code != 1 || !strings.Contains(stderr, c.want) {
				t.Errorf("%s: %d %q %q", name, code, out, stderr)
			}
			continue
		}
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q (want 2 and %q)", name, code, stderr, c.want)
		}
	}
	if n := wp.Counts().Accepted; n != 0 {
		t.Fatalf("invalid input reached the push service %d times", n)
	}
}

// TestSendAPNSBinary runs the real binary against the APNS fake, whose
// certificate the process trusts through SSL_CERT_FILE: a provider JWT the
// fake verifies, and a device token it refuses.
func TestSendAPNSBinary(t *testing.T) {
	bin := buildBinary(t)
	apns := providertest.NewAPNS(t)
	key := providertest.APNSTestKey(t)
	apns.TrustKey(key.KeyID, key.TeamID, key.Public())
	certFile := filepath.Join(t.TempDir(), "roots.pem")
	os.WriteFile(certFile, apns.CertificatePEM(), 0o600)
	credFile := filepath.Join(t.TempDir(), "apns.json")
	os.WriteFile(credFile, fmt.Appendf(nil, `{"type":"apns_token","payload":{"key":%q,"keyId":%q,"teamId":%q,"appBundleId":"com.example.app"}}`,
		key.P8, key.KeyID, key.TeamID), 0o600)
	token := providertest.APNSTestDeviceToken(t)
	send := func(token string) (int, string) {
		cmd := exec.Command(bin, "send", "--credential", "@"+credFile, "--receiver", fmt.Sprintf(`{"token":%q}`, token), "--apns-host", apns.URL)
		cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+certFile)
		out, _ := cmd.Output()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := send(token); code != 0 || !strings.HasPrefix(out, "sent: apns_token") {
		t.Fatalf("apns: %d %q", code, out)
	}
	if got := apns.Delivered(); len(got) != 1 || got[0].DeviceToken != token {
		t.Fatalf("the APNS fake got %+v", got)
	}
	apns.Unregister(token)
	if code, out := send(token); code != 1 || !strings.Contains(out, "unregistered (permanent), HTTP 410") {
		t.Fatalf("apns to an unregistered device: %d %q", code, out)
	}
}
