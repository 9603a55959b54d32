package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

// callbackConsumer is a backend receiving a bucket's callbacks.
type callbackConsumer struct {
	mu       sync.Mutex
	requests []callbackRequest
}

type callbackRequest struct {
	header http.Header
	body   []byte
}

func (c *callbackConsumer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.requests = append(c.requests, callbackRequest{r.Header.Clone(), body})
	c.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (c *callbackConsumer) received() []callbackRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]callbackRequest(nil), c.requests...)
}

type coreCallback struct {
	Messages []struct {
		MessageID string
		ForeignID string
		Result    struct{ Kind, Reason string }
		TS        int64
	}
}

// TestSendResultsReachTheCallback: the sent and failed results of a send
// arrive at the bucket's callback URL in CORE's body, with its configured
// headers, signed so that the Standard Webhooks library verifies them.
func TestSendResultsReachTheCallback(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			f := newFakes(t)
			consumer := &callbackConsumer{}
			hook := httptest.NewServer(consumer)
			defer hook.Close()
			cfg := f.config(t, d.URL)
			cfg.WebhookFlushInterval = 200 * time.Millisecond
			srv, a := startNode(t, cfg)
			_ = srv

			var bucket struct {
				BucketID      string
				WebhookSecret string
				Credentials   []struct{ ID string }
			}
			body := fmt.Sprintf(`{"providerCredentials":[{"type":"apns_token","payload":{"key":%q,"keyId":%q,"teamId":%q,"appBundleId":%q}}],
				"callbackConfig":{"type":"http","payload":{"url":%q,"headers":{"x-secret":"keyboard cat"}}}}`,
				f.apnsKey.P8, f.apnsKey.KeyID, f.apnsKey.TeamID, topic, hook.URL+"/ppg")
			if code := a.call("POST", "/v1/bucket", body, &bucket); code != 200 {
				t.Fatalf("bucket: %d", code)
			}
			var c struct{ ContextID string }
			a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Hi"}`, &c)
			var receivers []recipients.Receiver
			for i := 0; i < 20; i++ {
				tok := providertest.APNSTestDeviceToken(t)
				if i < 3 {
					f.apns.Unregister(tok)
				}
				receivers = append(receivers, recipients.Receiver{CredentialID: bucket.Credentials[0].ID, ForeignID: fmt.Sprintf("user-%d", i), Token: tok})
			}
			var sent struct{ Results []messages.SendResult }
			a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID+"/send", map[string]any{"receivers": receivers}, &sent)

			wh, err := standardwebhooks.NewWebhook(bucket.WebhookSecret)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]string{}
			deadline := time.Now().Add(30 * time.Second)
			for len(kinds) < 20 {
				if time.Now().After(deadline) {
					t.Fatalf("%d of 20 results reached the callback", len(kinds))
				}
				time.Sleep(50 * time.Millisecond)
				kinds = map[string]string{}
				ids := map[string]bool{}
				for _, r := range consumer.received() {
					if err := wh.Verify(r.body, r.header); err != nil {
						t.Fatalf("signature does not verify: %v", err)
					}
					if r.header.Get("x-secret") != "keyboard cat" || r.header.Get("Content-Type") != "application/json" {
						t.Fatalf("headers %v", r.header)
					}
					if id := r.header.Get("webhook-id"); ids[id] {
						t.Fatalf("webhook-id %s used for two batches", id)
					} else {
						ids[id] = true
					}
					var cb coreCallback
					if err := json.Unmarshal(r.body, &cb); err != nil {
						t.Fatal(err)
					}
					for _, m := range cb.Messages {
						if m.TS == 0 || m.MessageID == "" {
							t.Fatalf("callback message %+v", m)
						}
						kinds[m.ForeignID] = m.Result.Kind + "/" + m.Result.Reason
					}
				}
			}
			for i := 0; i < 20; i++ {
				want := "sent/"
				if i < 3 {
					want = "failed/unregistered"
				}
				if got := kinds[fmt.Sprintf("user-%d", i)]; got != want {
					t.Errorf("user-%d: %q, want %q", i, got, want)
				}
			}
		})
	}
}
