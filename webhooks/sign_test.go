package webhooks_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/webhooks"
)

func TestSignVerifiesWithStandardWebhooks(t *testing.T) {
	for _, n := range []int{1, 24, 32, 64} {
		key := make([]byte, n)
		_, _ = rand.Read(key)
		secret := webhooks.SecretPrefix + base64.StdEncoding.EncodeToString(key)
		hook, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		for _, body := range []string{`{"messages":[]}`, `{"messages":[{"messageId":"é\u2028<>&","foreignId":"","result":{"kind":"sent"},"ts":1}]}`, ""} {
			id, at := pushgate.NewID(), time.Now()
			sig, err := webhooks.Sign(secret, id, at, []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			h.Set("webhook-id", id)
			h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
			h.Set("webhook-signature", sig)
			if err := hook.Verify([]byte(body), h); err != nil {
				t.Fatalf("%d-byte key, body %q: %v", n, body, err)
			}
			if err := hook.Verify([]byte(body+" "), h); err == nil {
				t.Fatal("a changed body verifies")
			}
		}
	}
}

func TestSignRefusesMalformedSecrets(t *testing.T) {
	for _, s := range []string{"", "whsec_", "whsec_not base64!", base64.StdEncoding.EncodeToString([]byte("no prefix"))} {
		if _, err := webhooks.Sign(s, "id", time.Now(), nil); err == nil {
			t.Errorf("Sign with secret %q succeeded", s)
		}
	}
}
