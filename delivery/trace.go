package delivery

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/pushgate/pushgate/internal/tracing"
	"github.com/pushgate/pushgate/providers"
)

// Spans of the delivery path (docs/operations.md#tracing). With tracing
// off (Options.Tracing nil) each helper returns ctx and a function that
// does nothing, without allocating.

// noEnd is what a helper returns instead of ending a span.
func noEnd(int, int) {}

// traceAccept starts the span of a send's acceptance, the parent of its
// tasks; end takes the accepted messages and the tasks enqueued.
func (s *Sender) traceAccept(ctx context.Context, receivers int) (context.Context, func(accepted, tasks int)) {
	t := s.opts.Tracing
	if t == nil {
		return ctx, noEnd
	}
	ctx, span := t.Start(ctx, "delivery.accept", trace.WithAttributes(attribute.Int("pushgate.receivers", receivers)))
	return ctx, func(accepted, tasks int) {
		span.SetAttributes(attribute.Int("pushgate.messages", accepted), attribute.Int("pushgate.tasks", tasks))
		span.End()
	}
}

// traceparent is what a task enqueued under ctx carries ("" when off).
func (s *Sender) traceparent(ctx context.Context) string {
	if s.opts.Tracing == nil {
		return ""
	}
	return tracing.Traceparent(ctx)
}

// traceTask starts the span of one task, a child of the span its payload
// names (a task of an older version, or of the recovery sweep, names none
// and starts a trace), and remembers it for the webhook batches that will
// carry its messages' events. end takes the messages claimed and those
// sent.
func (d *Deliverer) traceTask(ctx context.Context, task sendTask) (context.Context, func(claimed, sent int)) {
	t := d.opts.Tracing
	if t == nil {
		return ctx, noEnd
	}
	ctx, span := t.Start(tracing.WithTraceparent(ctx, task.Trace), "delivery.task",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "asynq"),
			attribute.String("messaging.operation.name", TypeSend),
			attribute.Int("pushgate.task.messages", len(task.IDs)),
			attribute.String("pushgate.app.id", task.AppID),
			attribute.String("pushgate.bucket.id", task.BucketID),
			attribute.String("pushgate.context.id", task.ContextID),
			attribute.String("pushgate.credential.id", task.CredentialID)))
	t.Sends.Remember(task.IDs, span.SpanContext())
	return ctx, func(claimed, sent int) {
		span.SetAttributes(attribute.Int("pushgate.messages", claimed), attribute.Int("pushgate.messages.sent", sent))
		span.End()
	}
}

// traceProvider names the provider on the task's span.
func (d *Deliverer) traceProvider(ctx context.Context, provider string) {
	if d.opts.Tracing != nil {
		trace.SpanFromContext(ctx).SetAttributes(attribute.String("pushgate.provider", provider))
	}
}

// traceCall starts the span of one provider call (one message, or one
// batch of n).
func (d *Deliverer) traceCall(ctx context.Context, provider string, n int) callSpan {
	t := d.opts.Tracing
	if t == nil {
		return callSpan{}
	}
	_, span := t.Start(ctx, "provider.send", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("pushgate.provider", provider), attribute.Int("pushgate.messages", n)))
	return callSpan{span}
}

// callSpan is a provider call's span (none when tracing is off). A method
// rather than a returned func: its variadic errors then stay on the stack.
type callSpan struct{ span trace.Span }

// end ends the span with the call's errors, one a message (nil: sent).
func (c callSpan) end(errs ...error) {
	if c.span == nil {
		return
	}
	failed := 0
	outcome := "sent"
	for _, err := range errs {
		if err != nil {
			failed++
			// The reason, from a closed set: an error's text may quote a
			// token or an endpoint.
			outcome = string(providers.Classify(err).Reason)
		}
	}
	if failed > 0 && failed < len(errs) {
		outcome = "partial"
	}
	c.span.SetAttributes(attribute.String("pushgate.outcome", outcome), attribute.Int("pushgate.messages.failed", failed))
	if failed > 0 {
		c.span.SetStatus(codes.Error, outcome)
	}
	c.span.End()
}
