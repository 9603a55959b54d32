package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret, as Standard Webhooks spell it.
const SecretPrefix = "whsec_"

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Pusher's channel webhook headers.
const (
	HeaderPusherKey       = "X-Pusher-Key"
	HeaderPusherSignature = "X-Pusher-Signature"
)

// signingKey is the key that signs t's batches.
func signingKey(t *Target) ([]byte, error) {
	if t.Format == FormatPusher {
		if t.Secret == "" || t.Key == "" {
			return nil, errors.New("pusher webhook: the app has no key or secret")
		}
		return []byte(t.Secret), nil
	}
	return secretKey(t.Secret)
}

// signRequest sets the headers a consumer verifies body with. Batch id is sent
// in both formats: a consumer may use it to see a retried batch again.
func signRequest(h http.Header, t *Target, key []byte, id string, at time.Time, body []byte) {
	h.Set(HeaderID, id)
	if t.Format == FormatPusher {
		mac := hmac.New(sha256.New, key)
		mac.Write(body)
		h.Set(HeaderPusherKey, t.Key)
		h.Set(HeaderPusherSignature, hex.EncodeToString(mac.Sum(nil)))
		return
	}
	h.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(HeaderSignature, signWith(key, id, at, body))
}

func secretKey(secret string) ([]byte, error) {
	if !strings.HasPrefix(secret, SecretPrefix) {
		return nil, errors.New("webhook secret: does not start with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(secret[len(SecretPrefix):])
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook secret: not base64 after " + SecretPrefix)
	}
	return key, nil
}

func signWith(key []byte, id string, at time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, at.Unix(), 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
