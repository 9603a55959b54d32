package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

// scrape reads a node's /metrics as Prometheus does.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("/metrics: %d", res.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	return fams
}

// value is the value of the series of family name with exactly labels
// (name=value pairs), or -1 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		if len(m.Label) != len(labels)/2 {
			continue
		}
		for i := 0; i < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// jsonLog is a log a node writes JSON lines into.
type jsonLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *jsonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns the whole log.
func (l *jsonLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the log's lines with the given message.
func (l *jsonLog) lines(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, s := range strings.Split(l.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestMetricsCountWhatHappened sends to the Web Push and FCM fakes with
// some receivers unregistered and a 429 on the way, with a callback that
// answers 500, then scrapes /metrics: accepted, sent, failed and retried
// messages by provider and reason, provider calls, failed callbacks by
// reason, and the failures in the log at warn level with their reason.
func TestMetricsCountWhatHappened(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			f := newFakes(t)
			var hookCalls atomic.Int32
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hookCalls.Add(1)
				w.WriteHeader(http.StatusInternalServerError)
			}))
			defer hook.Close()
			cfg := f.config(t, d.URL)
			cfg.WebhookFlushInterval = 200 * time.Millisecond
			logs := &jsonLog{}
			cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
			srv, a := startNode(t, cfg)

			var bucket struct {
				BucketID    string
				Credentials []struct{ ID, Type string }
			}
			body := fmt.Sprintf(`{"providerCredentials":[{"type":"vapid","payload":{"publicKey":%q,"privateKey":%q}},{"type":"fcm_v1","payload":%s}],
				"callbackConfig":{"type":"http","payload":{"url":%q}}}`, f.vapidPub, f.vapidPriv, f.fcmAccount, hook.URL+"/hook")
			if code := a.call("POST", "/v1/bucket", body, &bucket); code != 200 || len(bucket.Credentials) != 2 {
				t.Fatalf("create bucket: %d %+v", code, bucket)
			}
			var c struct{ ContextID string }
			if code := a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Hi","body":"there"}`, &c); code != 200 {
				t.Fatalf("create context: %d", code)
			}
			var receivers []recipients.Receiver
			for i := range 20 {
				sub := f.web.NewSubscriptionFor(f.vapidPub)
				receivers = append(receivers, sub.Receiver(bucket.Credentials[0].ID))
				if i < 3 {
					f.web.Unregister(sub)
				}
			}
			for i := range 10 {
				tok := fmt.Sprintf("fcm-token-%d:%s", i, pushgate.RandomToken(40))
				receivers = append(receivers, recipients.Receiver{CredentialID: bucket.Credentials[1].ID, Token: tok})
				if i < 2 {
					f.fcm.Unregister(tok)
				}
			}
			f.web.FailNext(2, providertest.WebPushReply{Status: 429, RetryAfter: "1"})
			var sent struct{ Results []messages.SendResult }
			if code := a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID+"/send", map[string]any{"receivers": receivers}, &sent); code != 200 {
				t.Fatalf("send: %d", code)
			}
			waitFinal(t, srv, bucket.BucketID, sent.Results, 60*time.Second)
			deadline := time.Now().Add(30 * time.Second)
			for hookCalls.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}

			fams := scrape(t, a.base)
			for _, w := range []struct {
				name   string
				labels []string
				want   float64
			}{
				{"pushgate_messages_accepted_total", []string{"provider", "vapid"}, 20},
				{"pushgate_messages_accepted_total", []string{"provider", "fcm_v1"}, 10},
				{"pushgate_messages_sent_total", []string{"provider", "vapid"}, 17},
				{"pushgate_messages_sent_total", []string{"provider", "fcm_v1"}, 8},
				{"pushgate_messages_failed_total", []string{"provider", "vapid", "reason", "unregistered"}, 3},
				{"pushgate_messages_failed_total", []string{"provider", "fcm_v1", "reason", "unregistered"}, 2},
				{"pushgate_messages_failed_total", []string{"provider", "apns_token", "reason", "unregistered"}, 0},
				{"pushgate_messages_retried_total", []string{"provider", "vapid", "reason", "rate_limited"}, 2},
				{"pushgate_messages_accepted_total", []string{"provider", "hms"}, 0},
			} {
				if got := value(fams, w.name, w.labels...); got != w.want {
					t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.want)
				}
			}
			// One call per Web Push message and attempt; FCM's are its own.
			if got := value(fams, "pushgate_provider_call_duration_seconds", "provider", "vapid"); got != 22 {
				t.Errorf("vapid provider calls observed: %v, want 22", got)
			}
			if got := value(fams, "pushgate_provider_call_duration_seconds", "provider", "fcm_v1"); got < 1 {
				t.Errorf("fcm_v1 provider calls observed: %v", got)
			}
			if got := value(fams, "pushgate_webhook_batches_retried_total", "reason", "http_5xx"); got < 1 {
				t.Errorf("failed callbacks counted: %v (consumer called %d times)", got, hookCalls.Load())
			}
			for _, g := range []string{"pushgate_outbox_messages", "pushgate_outbox_oldest_due_seconds", "pushgate_webhook_batches_pending", "pushgate_webhook_oldest_pending_seconds"} {
				if value(fams, g) < 0 {
					t.Errorf("%s is not exposed", g)
				}
			}
			if got := value(fams, "pushgate_outbox_messages"); got != 0 {
				t.Errorf("pushgate_outbox_messages = %v once every message is final", got)
			}
			if got := value(fams, "pushgate_queue_tasks", "queue", "default", "state", "pending"); got < 0 {
				t.Errorf("queue depth not exposed")
			}

			failed := logs.lines("message failed")
			if len(failed) != 5 {
				t.Errorf("%d 'message failed' log lines, want 5: %v", len(failed), failed)
			}
			for _, l := range failed {
				if l["level"] != "WARN" || l["reason"] != "unregistered" || l["message"] == "" {
					t.Errorf("failure log line %v", l)
				}
			}
			hooks := logs.lines("webhook callback failed; the batch will be retried")
			if len(hooks) == 0 || hooks[0]["reason"] != "http_5xx" || hooks[0]["level"] != "WARN" {
				t.Errorf("failed callback log lines: %v", hooks)
			}
			if strings.Contains(logs.String(), hook.URL) {
				t.Errorf("the log shows the callback URL")
			}
		})
	}
}

// TestRealtimeSessionsAreCounted: open WebSocket and SSE sessions show in
// pushgate_realtime_sessions by protocol, and leave it when they end.
func TestRealtimeSessionsAreCounted(t *testing.T) {
	srv, a := startNode(t, nodeConfig(t, ""))
	_, alice := a.token("alice")
	phone, _, err := dialWS(t, srv, "?token="+alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	phone.next("hello")
	tab, _, err := dialWS(t, srv, "?token="+alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	tab.next("hello")
	stream, res := openSSE(t, srv, "?token="+alice, nil)
	if stream == nil {
		t.Fatalf("open SSE: %d", res.StatusCode)
	}
	stream.next("hello")
	sessions := func(protocol string) float64 {
		return value(scrape(t, a.base), "pushgate_realtime_sessions", "protocol", protocol)
	}
	for proto, want := range map[string]float64{"websocket": 2, "sse": 1, "pusher": 0, "socketio": 0} {
		if got := sessions(proto); got != want {
			t.Errorf("%s sessions = %v, want %v", proto, got, want)
		}
	}
	tab.ws.Close()
	stream.cancel()
	deadline := time.Now().Add(10 * time.Second)
	for (sessions("websocket") != 1 || sessions("sse") != 0) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if ws, sse := sessions("websocket"), sessions("sse"); ws != 1 || sse != 0 {
		t.Errorf("after one WebSocket and the stream ended: websocket %v, sse %v; want 1 and 0", ws, sse)
	}
}
