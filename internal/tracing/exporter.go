package tracing

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// tracesPath is where an OTLP/HTTP receiver takes traces, below its base URL.
const tracesPath = "/v1/traces"

// ParseEndpoint checks otel_endpoint: an absolute http or https URL of an
// OTLP/HTTP receiver (a collector's port 4318), without credentials, a
// query or a fragment. Its path is a base to which /v1/traces is added,
// unless it already ends with /v1/traces. It returns the URL traces are
// POSTed to.
func ParseEndpoint(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("want an http(s) URL such as http://localhost:4318")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", fmt.Errorf("want a URL without credentials, query or fragment (headers go in OTEL_EXPORTER_OTLP_HEADERS)")
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	if !strings.HasSuffix(path, tracesPath) {
		path += tracesPath
	}
	return u.Scheme + "://" + u.Host + path, nil
}

// Exporter returns a tracer provider that exports to the OTLP/HTTP
// receiver at endpoint (see ParseEndpoint) in batches, as the service
// "pushgate" at version. The SDK's standard variables apply on top:
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the resource),
// OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION and _CERTIFICATE
// (the exporter), OTEL_TRACES_SAMPLER[_ARG] (the sampler: parentbased_always_on
// unless set) and OTEL_BSP_* (the batching). The endpoint variables do
// not: otel_endpoint is the one switch and address. Shutdown flushes it.
func Exporter(ctx context.Context, endpoint, version string) (*sdktrace.TracerProvider, error) {
	target, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, fmt.Errorf("otel_endpoint: %w", err)
	}
	// The whole URL, so that its scheme decides TLS whatever the endpoint
	// variables say. New only configures: the first export dials, so a
	// collector that is down delays nothing here.
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(target))
	if err != nil {
		return nil, fmt.Errorf("otel exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", "pushgate"), attribute.String("service.version", version)),
		resource.WithFromEnv(), // after: OTEL_SERVICE_NAME wins
	)
	if err != nil {
		return nil, fmt.Errorf("otel resource: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}
