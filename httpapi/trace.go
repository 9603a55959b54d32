package httpapi

import (
	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/pushgate/pushgate/internal/tracing"
)

// trace makes the server span of a request (tracing on), named by its
// method and route template, never the raw path: paths hold ids, and a
// client token may be in the query. A traceparent header the client sent
// makes it that trace's child. The operations routes (probes, scrapes)
// get none.
func (h *Handler) trace(c *gin.Context) {
	route := c.FullPath()
	switch route {
	case "/healthz", "/readyz", "/metrics", "/openapi.yaml":
		c.Next()
		return
	}
	method := methodLabel(c.Request.Method)
	name := method
	if route != "" {
		route = ginPathToOpenAPI(route) // as openapi.yaml writes it
		name += " " + route
	}
	ctx := tracing.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
	ctx, span := h.opts.Tracing.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", method), attribute.String("http.route", route)))
	c.Request = c.Request.WithContext(ctx)
	c.Next()
	status := c.Writer.Status()
	span.SetAttributes(attribute.Int("http.response.status_code", status), attribute.String("pushgate.request_id", requestID(c)))
	if status >= 500 {
		span.SetStatus(codes.Error, "")
	}
	span.End()
}
