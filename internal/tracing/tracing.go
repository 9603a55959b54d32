// Package tracing is what pushgate's OpenTelemetry tracing shares: the
// tracer the parts make spans with, the W3C trace context a queue task
// carries, and the index that lets a webhook batch link to the traces of
// the messages whose events it carries (sends.go). The exporter is in
// exporter.go.
//
// Tracing is off unless otel_endpoint is set; then every part holds a nil
// *Tracing and must not call into OpenTelemetry at all: a nil check is the
// whole cost of tracing that is off. Span attributes carry ids, counts,
// provider names and outcomes from closed sets, never a device token, a
// push endpoint, a secret, an API key or a URL a tenant gave.
package tracing

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of pushgate's spans.
const Name = "github.com/pushgate/pushgate"

// Tracing makes spans. A nil *Tracing is tracing that is off; callers
// check for nil before they call it.
type Tracing struct {
	tracer trace.Tracer
	// Sends remembers which trace the messages of recent tasks belong to.
	Sends *Sends
}

// New returns tracing through tp's tracer.
func New(tp trace.TracerProvider) *Tracing {
	return &Tracing{tracer: tp.Tracer(Name), Sends: NewSends(defaultSends)}
}

// Start starts a span; see trace.Tracer.
func (t *Tracing) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, name, opts...)
}

// traceContext is the W3C Trace Context propagator (traceparent and
// tracestate headers).
var traceContext = propagation.TraceContext{}

// Traceparent is the W3C traceparent of ctx's span, "" when it has none.
func Traceparent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	traceContext.Inject(ctx, c)
	return c["traceparent"]
}

// WithTraceparent returns ctx with the remote span that traceparent names
// as its parent; ctx itself when traceparent is empty or invalid.
func WithTraceparent(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// Extract returns ctx with the remote parent that an incoming request's
// headers name (traceparent, tracestate), if any.
func Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	return traceContext.Extract(ctx, carrier)
}
