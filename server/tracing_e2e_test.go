package server

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes what the
// exporter POSTs to /v1/traces as a collector would.
type otlpReceiver struct {
	t        *testing.T
	mu       sync.Mutex
	requests int
	spans    []*tracepb.Span
	resource []*commonpb.KeyValue
}

func newOTLPReceiver(t *testing.T) (*otlpReceiver, *httptest.Server) {
	r := &otlpReceiver{t: t}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		r.t.Errorf("OTLP receiver: %s %s (%s)", req.Method, req.URL.Path, req.Header.Get("Content-Type"))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var export coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &export); err != nil {
		r.t.Errorf("OTLP receiver: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	for _, rs := range export.ResourceSpans {
		r.resource = rs.GetResource().GetAttributes()
		for _, ss := range rs.ScopeSpans {
			r.spans = append(r.spans, ss.Spans...)
		}
	}
	answer, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(answer)
}

func (r *otlpReceiver) received() (int, []*tracepb.Span, []*commonpb.KeyValue) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, append([]*tracepb.Span(nil), r.spans...), r.resource
}

func attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			switch v := kv.Value.Value.(type) {
			case *commonpb.AnyValue_StringValue:
				return v.StringValue
			case *commonpb.AnyValue_IntValue:
				return fmt.Sprint(v.IntValue)
			}
			return kv.Value.String()
		}
	}
	return ""
}

// tracedSend makes a bucket with an APNS credential and a callback, sends
// its context to n devices (the first unregistered) and waits for the
// results and their webhook batch. It returns what no span may show.
func tracedSend(t *testing.T, f *fakes, a *api, srv *Server, consumer *callbackConsumer, hookURL string, n int) []string {
	t.Helper()
	var bucket struct {
		BucketID      string
		WebhookSecret string
		Credentials   []struct{ ID string }
	}
	body := fmt.Sprintf(`{"providerCredentials":[{"type":"apns_token","payload":{"key":%q,"keyId":%q,"teamId":%q,"appBundleId":%q}}],
		"callbackConfig":{"type":"http","payload":{"url":%q,"headers":{"x-secret":"keyboard cat"}}}}`,
		f.apnsKey.P8, f.apnsKey.KeyID, f.apnsKey.TeamID, topic, hookURL)
	if code := a.call("POST", "/v1/bucket", body, &bucket); code != 200 {
		t.Fatalf("bucket: %d", code)
	}
	var c struct{ ContextID string }
	a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/data", `{"title":"Hi"}`, &c)
	secrets := []string{a.key, bucket.WebhookSecret, "keyboard cat", f.apnsKey.KeyID}
	var receivers []recipients.Receiver
	for i := range n {
		tok := providertest.APNSTestDeviceToken(t)
		if i == 0 {
			f.apns.Unregister(tok)
		}
		secrets = append(secrets, tok)
		receivers = append(receivers, recipients.Receiver{CredentialID: bucket.Credentials[0].ID, ForeignID: fmt.Sprintf("user-%d", i), Token: tok})
	}
	var sent struct{ Results []messages.SendResult }
	if code := a.call("POST", "/v1/bucket/"+bucket.BucketID+"/context/"+c.ContextID+"/send", map[string]any{"receivers": receivers}, &sent); code != 200 {
		t.Fatalf("send: %d", code)
	}
	waitFinal(t, srv, bucket.BucketID, sent.Results, 20*time.Second)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		events := 0
		for _, r := range consumer.received() {
			events += strings.Count(string(r.body), `"messageId"`)
		}
		if events >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the callback got %d events of %d", events, n)
		}
	}
	return secrets
}

// TestTracingFollowsASend: with otel_endpoint set, a send makes one trace
// from its HTTP request through the queue task to each provider call, and
// the webhook batch that reports its results links to it; no span shows a
// device token, a key or a secret.
func TestTracingFollowsASend(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			f := newFakes(t)
			receiver, collector := newOTLPReceiver(t)
			consumer := &callbackConsumer{}
			hook := httptest.NewServer(consumer)
			defer hook.Close()
			cfg := f.config(t, d.URL)
			cfg.WebhookFlushInterval = 200 * time.Millisecond
			cfg.OTelEndpoint = collector.URL
			srv, a := startNode(t, cfg)
			const n = 3
			secrets := tracedSend(t, f, a, srv, consumer, hook.URL+"/ppg", n)
			// Shutdown ends the last spans and exports what is buffered.
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			_, spans, resource := receiver.received()
			checkSendTrace(t, spans, n)
			if got := attr(resource, "service.name"); got != "pushgate" {
				t.Errorf("service.name %q", got)
			}
			for _, s := range spans {
				for _, kv := range append(s.Attributes, resource...) {
					for _, secret := range secrets {
						if strings.Contains(kv.Value.String(), secret) {
							t.Errorf("span %s attribute %s shows a secret: %s", s.Name, kv.Key, kv.Value)
						}
					}
				}
			}
		})
	}
}

// checkSendTrace finds the send request's span and checks the spans below
// it and the webhook batch's link.
func checkSendTrace(t *testing.T, spans []*tracepb.Span, n int) {
	t.Helper()
	byName := map[string][]*tracepb.Span{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	const route = "POST /v1/bucket/{bucketId}/context/{contextId}/send"
	reqs := byName[route]
	if len(reqs) != 1 {
		names := make([]string, 0, len(byName))
		for name := range byName {
			names = append(names, name)
		}
		t.Fatalf("%d spans named %q; spans: %q", len(reqs), route, names)
	}
	req := reqs[0]
	if req.Kind != tracepb.Span_SPAN_KIND_SERVER || attr(req.Attributes, "http.route") != "/v1/bucket/{bucketId}/context/{contextId}/send" ||
		attr(req.Attributes, "http.response.status_code") != "200" {
		t.Errorf("request span: %v %v", req.Kind, req.Attributes)
	}
	trace := hex.EncodeToString(req.TraceId)
	inTrace := func(name string) []*tracepb.Span {
		var out []*tracepb.Span
		for _, s := range byName[name] {
			if hex.EncodeToString(s.TraceId) == trace {
				out = append(out, s)
			}
		}
		return out
	}
	accept, tasks, calls := inTrace("delivery.accept"), inTrace("delivery.task"), inTrace("provider.send")
	if len(accept) != 1 || string(accept[0].ParentSpanId) != string(req.SpanId) {
		t.Fatalf("delivery.accept spans in the trace: %d (child of the request: %v)", len(accept), len(accept) == 1 && string(accept[0].ParentSpanId) == string(req.SpanId))
	}
	if len(tasks) == 0 || string(tasks[0].ParentSpanId) != string(accept[0].SpanId) || attr(tasks[0].Attributes, "pushgate.provider") != "apns_token" {
		t.Fatalf("delivery.task spans in the trace: %d %v", len(tasks), tasks)
	}
	outcomes := map[string]int{}
	for _, c := range calls {
		if string(c.ParentSpanId) != string(tasks[0].SpanId) || attr(c.Attributes, "pushgate.provider") != "apns_token" {
			t.Errorf("provider call %v", c)
		}
		outcomes[attr(c.Attributes, "pushgate.outcome")]++
	}
	if len(calls) != n || outcomes["sent"] != n-1 || outcomes["unregistered"] != 1 {
		t.Errorf("provider calls in the trace: %d, outcomes %v", len(calls), outcomes)
	}
	linked := 0
	for _, b := range byName["webhooks.batch"] {
		for _, l := range b.Links {
			if hex.EncodeToString(l.TraceId) == trace && string(l.SpanId) == string(tasks[0].SpanId) {
				linked++
				if attr(b.Attributes, "pushgate.outcome") != "delivered" {
					t.Errorf("webhook batch span: %v", b.Attributes)
				}
			}
		}
	}
	if linked == 0 {
		t.Errorf("no webhooks.batch span links to the send's task (%d batch spans)", len(byName["webhooks.batch"]))
	}
}

// TestNoTracingUnlessConfigured: without otel_endpoint nothing is
// exported, even with the SDK's endpoint variables set.
func TestNoTracingUnlessConfigured(t *testing.T) {
	receiver, collector := newOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector.URL+"/v1/traces")
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			f := newFakes(t)
			consumer := &callbackConsumer{}
			hook := httptest.NewServer(consumer)
			defer hook.Close()
			cfg := f.config(t, d.URL)
			cfg.WebhookFlushInterval = 200 * time.Millisecond
			srv, a := startNode(t, cfg)
			tracedSend(t, f, a, srv, consumer, hook.URL+"/ppg", 2)
			if srv.tracing != nil {
				t.Error("tracing is on without otel_endpoint")
			}
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if requests, _, _ := receiver.received(); requests != 0 {
				t.Errorf("%d exports without otel_endpoint", requests)
			}
		})
	}
}
