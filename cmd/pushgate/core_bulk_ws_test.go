package main

import (
	"fmt"
	"testing"
)

// webhookEvents collects what the npm webhook receiver verified: events
// by "foreignId kind", each of which must come once, in batches whose
// webhook-ids never repeat.
type webhookEvents struct {
	c       *clients
	events  map[string]string // "foreignId kind" → messageId
	batches map[string]bool
}

// until reads the receiver's observations until every event of want has
// arrived, failing on a batch that does not verify or that a tampered
// body also passes, a repeated webhook-id or a repeated event.
func (w *webhookEvents) until(t *testing.T, want map[string]string) {
	t.Helper()
	missing := func() int {
		n := 0
		for k := range want {
			if _, ok := w.events[k]; !ok {
				n++
			}
		}
		return n
	}
	for missing() > 0 {
		o := w.c.next("webhooks")
		if o.Kind != "webhook" || !o.OK || o.TamperedPassed || o.ID == "" {
			t.Fatalf("webhook receiver: %+v, want a batch that verifies (and fails once tampered with)", o)
		}
		if w.batches[o.ID] {
			t.Fatalf("webhook-id %s came twice", o.ID)
		}
		w.batches[o.ID] = true
		for _, e := range o.Events {
			key := e.ForeignID + " " + e.Kind
			if _, dup := w.events[key]; dup {
				t.Fatalf("event %q came twice", key)
			}
			w.events[key] = e.MessageID
		}
	}
}

// TestCoreBulkSendToWebSocketUsers: a bucket with a websocket credential
// and a callback to a receiver that verifies each batch with npm's
// standardwebhooks; one CORE bulk send to 50 users, each connected with
// npm's ws. Every session receives its user's notification; 30 devices
// acknowledge, 20 read (10 of them without acknowledging), some twice. The
// callback hears sent for all 50, delivered for the 40 acknowledged or
// read, clicked for the 20 read, each once.
func TestCoreBulkSendToWebSocketUsers(t *testing.T) {
	c := startClients(t, "ws", "standardwebhooks")
	bin := buildBinary(t)
	p := startProcess(t, bin, crashEnv(t, "PUSHGATE_WS_CONNECT_RATE=0", "PUSHGATE_APP_RATE_LIMIT=0",
		// A callback batch that fails once under a loaded machine is tried
		// again within the test's deadline, not 5, 10 and 20 s later.
		"PUSHGATE_WEBHOOK_MIN_BACKOFF=500ms"))
	key := parseCredentials(t, p.out).APIKey

	c.do("webhooks", nil)
	hooks := c.next("webhooks")
	if hooks.Kind != "webhooks" || hooks.URL == "" {
		t.Fatalf("webhook receiver: %+v", hooks)
	}
	var bucket struct {
		BucketID      string
		Credentials   []struct{ ID, Type string }
		WebhookSecret string
	}
	body := fmt.Sprintf(`{"providerCredentials":[{"type":"websocket","payload":{}}],
		"callbackConfig":{"type":"http","payload":{"url":%q,"flushIntervalMs":200}}}`, hooks.URL)
	if code := p.call(t, key, "POST", "/v1/bucket", body, &bucket); code != 200 || len(bucket.Credentials) != 1 || bucket.WebhookSecret == "" {
		t.Fatalf("bucket: %d %+v", code, bucket)
	}
	c.do("secret", map[string]any{"secret": bucket.WebhookSecret})
	var ctx struct{ ContextID string }
	if code := p.call(t, key, "POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Order shipped","body":"It is on its way"}`, &ctx); code != 200 {
		t.Fatalf("context: %d", code)
	}

	const n = 50
	user := func(i int) string { return fmt.Sprintf("user-%02d", i) }
	receivers := make([]map[string]string, n)
	for i := range receivers {
		_, token := p.token(t, key, user(i))
		c.ws(user(i), p.base, token)
		receivers[i] = map[string]string{"credentialId": bucket.Credentials[0].ID, "userId": user(i), "foreignId": "f-" + user(i)}
	}
	var sent struct {
		Results []struct {
			MessageID string
			Errors    []string
		}
	}
	if code := p.call(t, key, "POST", "/v1/bucket/"+bucket.BucketID+"/context/"+ctx.ContextID+"/send", map[string]any{"receivers": receivers}, &sent); code != 200 || len(sent.Results) != n {
		t.Fatalf("send: %d, %d results", code, len(sent.Results))
	}

	want := map[string]string{}
	act := func(i int, typ string) {
		c.do("send", map[string]any{"name": user(i), "frame": map[string]any{"type": typ, "ids": []string{sent.Results[i].MessageID}}})
	}
	for i, r := range sent.Results {
		if r.MessageID == "" {
			t.Fatalf("receiver %d: %v", i, r.Errors)
		}
		if f := c.frame(user(i), "notification"); f["id"] != r.MessageID || f["title"] != "Order shipped" {
			t.Fatalf("%s: %v, want message %s", user(i), f, r.MessageID)
		}
		want["f-"+user(i)+" sent"] = r.MessageID
		if i < 30 {
			act(i, "ack")
		}
		if i >= 20 && i < 40 {
			act(i, "read")
			want["f-"+user(i)+" clicked"] = r.MessageID
		}
		if i < 40 {
			want["f-"+user(i)+" delivered"] = r.MessageID
		}
	}
	w := &webhookEvents{c: c, events: map[string]string{}, batches: map[string]bool{}}
	w.until(t, want)

	// Again, from the same devices: nothing new to report. Then one more
	// acknowledgement, whose event comes after any repeat would have.
	for i := 0; i < 10; i++ {
		act(i, "ack")
	}
	for i := 20; i < 25; i++ {
		act(i, "read")
	}
	act(45, "ack")
	want["f-"+user(45)+" delivered"] = sent.Results[45].MessageID
	w.until(t, want)
	for k, id := range want {
		if w.events[k] != id {
			t.Errorf("event %s names message %q, want %q", k, w.events[k], id)
		}
	}
	if len(w.events) != len(want) {
		t.Errorf("%d events at the callback, want %d: %v", len(w.events), len(want), w.events)
	}
	t.Logf("%d events in %d verified batches", len(w.events), len(w.batches))
}
