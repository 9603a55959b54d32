package httpapi_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/pushgate/pushgate/httpapi"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/internal/tracing"
)

// With tracing on, a request's span is named by its method and route
// template, continues the trace of the traceparent it came with, and
// the operations routes make none.
func TestRequestSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	db := testenv.OpenDB(t, testenv.SQLiteURL(t))
	h, svc := newTestAPIOn(t, db, httpapi.Options{Tracing: tracing.New(tp)})
	creds, _ := svc.Create(context.Background(), "traced")
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, path := range []string{"/healthz", "/metrics", "/v1/bucket/" + creds.APIKey, "/v1/app", "/no/such/path?token=" + creds.APIKey} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("x-token", creds.APIKey)
		req.Header.Set("traceparent", parent)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	spans := rec.Ended()
	want := []struct {
		name, route string
		status      int64
	}{{"GET /v1/bucket/{bucketId}", "/v1/bucket/{bucketId}", 404}, {"GET /v1/app", "/v1/app", 200}, {"GET", "", 404}}
	if len(spans) != len(want) {
		t.Fatalf("%d spans, want %d", len(spans), len(want))
	}
	for i, s := range spans {
		attrs := map[string]string{}
		var status int64
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.Emit()
			if kv.Key == "http.response.status_code" {
				status = kv.Value.AsInt64()
			}
		}
		if s.Name() != want[i].name || attrs["http.route"] != want[i].route || status != want[i].status ||
			s.SpanKind() != trace.SpanKindServer || s.Parent().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
			t.Errorf("span %d: %s %v %v", i, s.Name(), attrs, s.Parent())
		}
		for k, v := range attrs {
			if strings.Contains(v, creds.APIKey) {
				t.Errorf("span %s attribute %s shows the API key", s.Name(), k)
			}
		}
	}
}

// BenchmarkAuthenticatedRouteTraced is BenchmarkAuthenticatedRoute with
// tracing on (a server span a request, exported in batches to nowhere).
func BenchmarkAuthenticatedRouteTraced(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer tp.Shutdown(context.Background())
	db := testenv.OpenDB(b, testenv.SQLiteURL(b))
	h, svc := newTestAPIOn(b, db, httpapi.Options{Tracing: tracing.New(tp)})
	creds, _ := svc.Create(context.Background(), "bench")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "/v1/app", nil)
			req.Header.Set("x-token", creds.APIKey)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}
