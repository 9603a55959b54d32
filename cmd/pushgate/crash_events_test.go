package main

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

// eventConsumer is a callback that keeps the sent events of each message,
// once per webhook-id (a batch POSTed again after a kill is the same
// batch, not a second event).
type eventConsumer struct {
	mu      sync.Mutex
	batches map[string]bool
	sent    map[string]int // message id -> sent events in distinct batches
}

func (c *eventConsumer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Messages []struct {
			MessageID string
			Result    struct{ Kind string }
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if id := r.Header.Get("webhook-id"); !c.batches[id] {
		c.batches[id] = true
		for _, m := range body.Messages {
			if m.Result.Kind == "sent" {
				c.sent[m.MessageID]++
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// counts returns how many messages have a sent event and the most sent
// events any message has.
func (c *eventConsumer) counts() (messages, most int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.sent {
		most = max(most, n)
	}
	return len(c.sent), most
}

// TestKilledMidDeliveryOneEventEach kills the node with SIGKILL while it
// delivers to a bucket with a callback, starts it again, and expects every
// message to reach the callback with exactly one sent event: a result and
// its event are committed together, once, whatever the kill interrupted.
func TestKilledMidDeliveryOneEventEach(t *testing.T) {
	bin := buildBinary(t)
	web := providertest.NewWebPush(t)
	web.SetLatency(25 * time.Millisecond)
	consumer := &eventConsumer{batches: map[string]bool{}, sent: map[string]int{}}
	hook := httptest.NewServer(consumer)
	defer hook.Close()
	env := crashEnv(t,
		"PUSHGATE_WORKER_CONCURRENCY=2", "PUSHGATE_DELIVERY_CONCURRENCY=4", "PUSHGATE_DELIVERY_CHUNK_SIZE=100",
		"PUSHGATE_DELIVERY_LEASE=3s", "PUSHGATE_DELIVERY_STALE_AFTER=2s", "PUSHGATE_MAINTENANCE_INTERVAL=1s")
	p := startProcess(t, bin, env)
	creds := parseCredentials(t, p.out)
	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	pub, priv := base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), base64.RawURLEncoding.EncodeToString(k.Bytes())
	var bucket struct {
		BucketID    string
		Credentials []struct{ ID string }
	}
	if code := p.call(t, creds.APIKey, "POST", "/v1/bucket", fmt.Sprintf(`{"providerCredentials":[{"type":"vapid","payload":{"publicKey":%q,"privateKey":%q}}],
		"callbackConfig":{"type":"http","payload":{"url":%q,"batchSize":50,"flushIntervalMs":200}}}`, pub, priv, hook.URL), &bucket); code != 200 {
		t.Fatalf("bucket: %d", code)
	}
	var c struct{ ContextID string }
	p.call(t, creds.APIKey, "POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Crash test"}`, &c)
	const n = 400
	receivers := make([]recipients.Receiver, n)
	for i := range receivers {
		receivers[i] = web.NewSubscriptionFor(pub).Receiver(bucket.Credentials[0].ID)
	}
	if code := p.call(t, creds.APIKey, "POST", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID+"/send", map[string]any{"receivers": receivers}, nil); code != 200 {
		t.Fatalf("send: %d", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for web.Counts().Accepted < n/4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d delivered before the kill", web.Counts().Accepted)
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	if web.Counts().Accepted >= n {
		t.Fatal("everything was delivered before the kill; the test proves nothing")
	}
	startProcess(t, bin, env)
	deadline = time.Now().Add(60 * time.Second)
	for {
		got, most := consumer.counts()
		if most > 1 {
			t.Fatalf("a message reached the callback with %d sent events", most)
		}
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages reached the callback within 60 s of the restart", got, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // a second event would come with the next flush
	if _, most := consumer.counts(); most > 1 {
		t.Fatalf("a message reached the callback with %d sent events", most)
	}
}
