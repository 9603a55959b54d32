package server

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

type batchView struct {
	BatchID        string
	Status         string
	Events         int
	Attempts       int
	LastStatusCode int
	LastError      string
}

// bucketWithCallback makes an APNS bucket whose events go to url in batches
// of batchSize, and sends n messages through it.
func bucketWithCallback(t *testing.T, f *fakes, a *api, url string, batchSize, n int) string {
	t.Helper()
	var bucket struct {
		BucketID    string
		Credentials []struct{ ID string }
	}
	body := fmt.Sprintf(`{"providerCredentials":[{"type":"apns_token","payload":{"key":%q,"keyId":%q,"teamId":%q,"appBundleId":%q}}],
		"callbackConfig":{"type":"http","payload":{"url":%q,"batchSize":%d,"flushIntervalMs":600000}}}`,
		f.apnsKey.P8, f.apnsKey.KeyID, f.apnsKey.TeamID, topic, url, batchSize)
	if code := a.call("POST", "/v1/bucket", body, &bucket); code != 200 {
		t.Fatalf("bucket: %d", code)
	}
	var c struct{ ContextID string }
	a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Hi"}`, &c)
	receivers := make([]recipients.Receiver, n)
	for i := range receivers {
		receivers[i] = recipients.Receiver{CredentialID: bucket.Credentials[0].ID, ForeignID: fmt.Sprintf("user-%d", i), Token: providertest.APNSTestDeviceToken(t)}
	}
	if code := a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID+"/send", map[string]any{"receivers": receivers}, nil); code != 200 {
		t.Fatalf("send: %d", code)
	}
	return bucket.BucketID
}

func waitFor(t *testing.T, within time.Duration, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCallbackRetriesAndDeadLetters: a consumer that fails three times gets
// the batch on the fourth attempt with the same webhook-id every time; a
// consumer that never recovers ends with a dead batch that the API lists
// and can send again.
func TestCallbackRetriesAndDeadLetters(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			f := newFakes(t)
			flaky := &callbackConsumer{failFirst: 3, failStatus: 503}
			dead := &callbackConsumer{failFirst: -1, failStatus: 500}
			flakyHook, deadHook := httptest.NewServer(flaky), httptest.NewServer(dead)
			defer flakyHook.Close()
			defer deadHook.Close()
			cfg := f.config(t, d.URL)
			cfg.WebhookMinBackoff = 100 * time.Millisecond
			cfg.WebhookRetryFor = 8 * time.Second // the dispatcher looks for due batches every second
			_, a := startNode(t, cfg)

			// Per-bucket batching: one batch of exactly 5 events each.
			flakyBucket := bucketWithCallback(t, f, a, flakyHook.URL, 5, 5)
			deadBucket := bucketWithCallback(t, f, a, deadHook.URL, 5, 5)

			waitFor(t, 20*time.Second, "the flaky consumer accepts a batch", func() bool {
				r := flaky.received()
				if len(r) >= 4 && r[len(r)-1].status == 204 {
					return true
				}
				var l struct{ Batches []batchView }
				a.call("GET", "/v1/bucket/"+flakyBucket+"/webhooks", nil, &l)
				t.Logf("%d requests; batches %+v", len(r), l.Batches)
				return false
			})
			reqs := flaky.received()
			if len(reqs) != 4 {
				t.Fatalf("%d requests to the flaky consumer, want 3 failures and 1 success", len(reqs))
			}
			for i, r := range reqs {
				if r.header.Get("webhook-id") != reqs[0].header.Get("webhook-id") || string(r.body) != string(reqs[0].body) {
					t.Fatalf("attempt %d has webhook-id %s and %d bytes; the first had %s and %d", i+1, r.header.Get("webhook-id"), len(r.body), reqs[0].header.Get("webhook-id"), len(reqs[0].body))
				}
			}
			// The consumer has answered; the dispatcher records it just after.
			var list struct{ Batches []batchView }
			waitFor(t, 10*time.Second, "the accepted batch is recorded as delivered", func() bool {
				a.call("GET", "/v1/bucket/"+flakyBucket+"/webhooks", nil, &list)
				return len(list.Batches) == 1 && list.Batches[0].Status != "pending"
			})
			if len(list.Batches) != 1 || list.Batches[0].Status != "delivered" || list.Batches[0].Attempts != 4 || list.Batches[0].Events != 5 ||
				list.Batches[0].BatchID != reqs[0].header.Get("webhook-id") {
				t.Fatalf("flaky bucket's batches = %+v, want one delivered batch of 5 events after 4 attempts", list.Batches)
			}

			var deadBatch batchView
			waitFor(t, 20*time.Second, "the batch of the dead consumer is dead-lettered", func() bool {
				var l struct{ Batches []batchView }
				a.call("GET", "/v1/bucket/"+deadBucket+"/webhooks?status=dead", nil, &l)
				if len(l.Batches) == 1 {
					deadBatch = l.Batches[0]
				}
				return len(l.Batches) == 1
			})
			if deadBatch.LastStatusCode != 500 || deadBatch.Attempts < 2 || deadBatch.LastError == "" || deadBatch.Events != 5 {
				t.Fatalf("dead batch = %+v", deadBatch)
			}
			before := len(dead.received())
			var again batchView
			if code := a.call("POST", "/v1/bucket/"+deadBucket+"/webhooks/"+deadBatch.BatchID+"/redeliver", nil, &again); code != 200 || again.Status != "pending" {
				t.Fatalf("redeliver: %d %+v", code, again)
			}
			waitFor(t, 10*time.Second, "the redelivered batch is posted again", func() bool { return len(dead.received()) > before })
			if id := dead.received()[before].header.Get("webhook-id"); id != deadBatch.BatchID {
				t.Fatalf("redelivery has webhook-id %s, want %s", id, deadBatch.BatchID)
			}
		})
	}
}
