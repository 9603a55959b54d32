package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

// callbackConsumer is a backend receiving a bucket's callbacks. It answers
// failStatus to its first failFirst requests (all of them when failFirst
// is negative), then 204.
type callbackConsumer struct {
	mu         sync.Mutex
	failFirst  int
	failStatus int
	requests   []callbackRequest
}

type callbackRequest struct {
	header http.Header
	body   []byte
	status int
}

func (c *callbackConsumer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	status := http.StatusNoContent
	if c.failFirst < 0 || len(c.requests) < c.failFirst {
		status = c.failStatus
	}
	c.requests = append(c.requests, callbackRequest{r.Header.Clone(), body, status})
	c.mu.Unlock()
	w.WriteHeader(status)
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
		Result    struct{ Kind, Reason, Action string }
		TS        int64
	}
}

// TestEventsReachTheCallback: the sent and failed results of a send, then
// the client events that service workers report, arrive at the bucket's
// callback URL in CORE's body, with its configured headers, each first
// report once, signed so that the Go Standard Webhooks library and npm's
// standardwebhooks both verify them.
func TestEventsReachTheCallback(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			f := newFakes(t)
			consumer := &callbackConsumer{}
			hook := httptest.NewServer(consumer)
			defer hook.Close()
			cfg := f.config(t, d.URL)
			cfg.WebhookFlushInterval = 200 * time.Millisecond
			_, a := startNode(t, cfg)

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
			const n = 20
			var receivers []recipients.Receiver
			for i := 0; i < n; i++ {
				tok := providertest.APNSTestDeviceToken(t)
				if i < 3 {
					f.apns.Unregister(tok)
				}
				receivers = append(receivers, recipients.Receiver{CredentialID: bucket.Credentials[0].ID, ForeignID: fmt.Sprintf("user-%d", i), Token: tok})
			}
			var sent struct{ Results []messages.SendResult }
			a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID+"/send", map[string]any{"receivers": receivers}, &sent)

			want := map[string]string{} // "user-i kind" -> reason or action
			for i := 0; i < n; i++ {
				if i < 3 {
					want[fmt.Sprintf("user-%d failed", i)] = "unregistered"
				} else {
					want[fmt.Sprintf("user-%d sent", i)] = ""
				}
			}
			wh, err := standardwebhooks.NewWebhook(bucket.WebhookSecret)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			collect := func() bool {
				got = map[string]string{}
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
						key := m.ForeignID + " " + m.Result.Kind
						if _, dup := got[key]; dup {
							t.Fatalf("event %s reported twice", key)
						}
						got[key] = m.Result.Reason + m.Result.Action
					}
				}
				return len(got) >= len(want)
			}
			waitFor(t, 30*time.Second, "the send results reach the callback", collect)

			// Service workers report: every sent one delivered (user-3
			// twice), five clicked (one on an action), two closed.
			report := func(kind string, i int, action string) {
				t.Helper()
				b := map[string]string{"messageId": sent.Results[i].MessageID, "foreignId": fmt.Sprintf("user-%d", i)}
				if action != "" {
					b["action"] = action
				}
				if code := a.call("POST", "/v1/context/"+c.ContextID+"/events/"+kind, b, nil); code != 201 {
					t.Fatalf("%s of user-%d: %d", kind, i, code)
				}
			}
			for i := 3; i < n; i++ {
				report("delivered", i, "")
				want[fmt.Sprintf("user-%d delivered", i)] = ""
			}
			report("delivered", 3, "")
			for i := 3; i < 8; i++ {
				action := ""
				if i == 3 {
					action = "buy"
				}
				report("clicked", i, action)
				want[fmt.Sprintf("user-%d clicked", i)] = action
			}
			for i := 8; i < 10; i++ {
				report("closed", i, "")
				want[fmt.Sprintf("user-%d close", i)] = ""
			}
			waitFor(t, 30*time.Second, "the client events reach the callback", collect)
			for k, v := range want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("event %s: got %q (present %v), want %q", k, g, ok, v)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d events, want %d", len(got), len(want))
			}

			t.Run("npm standardwebhooks", func(t *testing.T) {
				node := nodeWith(t, "standardwebhooks")
				type capture struct {
					Headers map[string]string `json:"headers"`
					Body    string            `json:"body"`
				}
				var caps []capture
				for _, r := range consumer.received() {
					h := map[string]string{}
					for k := range r.header {
						h[strings.ToLower(k)] = r.header.Get(k)
					}
					caps = append(caps, capture{h, string(r.body)})
				}
				file := filepath.Join(t.TempDir(), "webhooks.json")
				raw, _ := json.Marshal(caps)
				if err := os.WriteFile(file, raw, 0o600); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(node, filepath.Join("..", "test", "js", "verify-webhooks.mjs"), bucket.WebhookSecret, file).CombinedOutput()
				if err != nil {
					t.Fatalf("npm standardwebhooks refused a batch: %v\n%s", err, out)
				}
				var res struct {
					Verified int
					Events   []struct{ ForeignID, Kind string }
				}
				if err := json.Unmarshal(out, &res); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				if res.Verified != len(caps) || len(res.Events) != len(want) {
					t.Fatalf("npm verified %d of %d batches carrying %d events, want %d", res.Verified, len(caps), len(res.Events), len(want))
				}
			})
		})
	}
}
