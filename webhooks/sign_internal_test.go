package webhooks

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/pushgate/pushgate"
)

// sign is the signature the Dispatcher sends (secretKey, then signWith).
func sign(secret, id string, at time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	return signWith(key, id, at, body), nil
}

func TestSignVerifiesWithStandardWebhooks(t *testing.T) {
	for _, n := range []int{1, 24, 32, 64} {
		key := make([]byte, n)
		_, _ = rand.Read(key)
		secret := SecretPrefix + base64.StdEncoding.EncodeToString(key)
		hook, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		for _, body := range []string{`{"messages":[]}`, `{"messages":[{"messageId":"é\u2028<>&","foreignId":"","result":{"kind":"sent"},"ts":1}]}`, ""} {
			id, at := pushgate.NewID(), time.Now()
			sig, err := sign(secret, id, at, []byte(body))
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

func TestMalformedSecretsAreRefused(t *testing.T) {
	for _, s := range []string{"", "whsec_", "whsec_not base64!", base64.StdEncoding.EncodeToString([]byte("no prefix"))} {
		if _, err := sign(s, "id", time.Now(), nil); err == nil {
			t.Errorf("signing with secret %q succeeded", s)
		}
	}
}
