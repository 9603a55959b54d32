package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

// TestBinaryReachesReplacedPushHosts runs the real binary with the fixed
// settings that point it away from Apple and Google: PUSHGATE_APNS_HOST
// (whose certificate the process trusts through SSL_CERT_FILE, as the
// system roots) and PUSHGATE_FCM_ENDPOINT.
func TestBinaryReachesReplacedPushHosts(t *testing.T) {
	bin := buildBinary(t)
	apns, fcm := providertest.NewAPNS(t), providertest.NewFCM(t)
	key := providertest.APNSTestKey(t)
	apns.TrustKey(key.KeyID, key.TeamID, key.Public())
	certFile := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(certFile, apns.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, bin, []string{
		"PUSHGATE_DATA_DIR=" + t.TempDir(), "PUSHGATE_LOG_FORMAT=json", "SSL_CERT_FILE=" + certFile,
		"PUSHGATE_APNS_HOST=" + apns.URL, "PUSHGATE_FCM_ENDPOINT=" + fcm.URL + "/v1",
	})
	creds := parseCredentials(t, p.out)
	var bucket struct {
		BucketID    string
		Credentials []struct{ ID string }
	}
	body := fmt.Sprintf(`{"providerCredentials":[
		{"type":"apns_token","payload":{"key":%q,"keyId":%q,"teamId":%q,"appBundleId":"com.example.app"}},
		{"type":"fcm_v1","payload":%s}],"callbackConfig":{"type":"none"}}`, key.P8, key.KeyID, key.TeamID, fcm.ServiceAccountJSON("p1"))
	if code := p.call(t, creds.APIKey, "POST", "/v1/bucket", body, &bucket); code != 200 {
		t.Fatalf("bucket: %d", code)
	}
	var c struct{ ContextID string }
	p.call(t, creds.APIKey, "POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Hello","body":"from the binary"}`, &c)
	receivers := []recipients.Receiver{
		{CredentialID: bucket.Credentials[0].ID, Token: providertest.APNSTestDeviceToken(t)},
		{CredentialID: bucket.Credentials[1].ID, Token: "fcm-token-1"},
	}
	var sent struct{ Results []struct{ MessageID string } }
	if code := p.call(t, creds.APIKey, "POST", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID+"/send", map[string]any{"receivers": receivers}, &sent); code != 200 {
		t.Fatalf("send: %d", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for apns.Counts().Accepted < 1 || fcm.Counts().Accepted < 1 {
		if time.Now().After(deadline) {
			for _, r := range sent.Results {
				var m map[string]any
				p.call(t, creds.APIKey, "GET", "/v1/bucket/"+bucket.BucketID+"/message/"+r.MessageID, nil, &m)
				t.Logf("message: %v", m)
			}
			t.Fatalf("APNS fake got %d, FCM fake got %d", apns.Counts().Accepted, fcm.Counts().Accepted)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
