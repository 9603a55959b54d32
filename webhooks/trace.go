package webhooks

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// traceAttempt starts the span of one attempt at a batch; end takes its
// outcome. With tracing off (DispatcherOptions.Tracing nil) it returns
// ctx and a function that does nothing.
func (d *Dispatcher) traceAttempt(ctx context.Context, b *Batch) (context.Context, func(Outcome)) {
	t := d.opts.Tracing
	if t == nil {
		return ctx, func(Outcome) {}
	}
	ctx, span := t.Start(ctx, "webhooks.batch", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("pushgate.webhook.batch_id", b.ID),
			attribute.String("pushgate.app.id", b.AppID),
			attribute.String("pushgate.bucket.id", b.BucketID),
			attribute.Int("pushgate.webhook.events", b.Events),
			attribute.Int("pushgate.webhook.attempt", b.Attempts)))
	return ctx, func(o Outcome) {
		span.SetAttributes(attribute.String("pushgate.outcome", string(o.Status)))
		if o.StatusCode != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", o.StatusCode))
		}
		if o.Status != StatusDelivered {
			// The reason only: the error may quote the consumer's answer.
			span.SetAttributes(attribute.String("pushgate.webhook.reason", o.Reason))
			span.SetStatus(codes.Error, o.Reason)
		}
		span.End()
	}
}

// traceEvents links the attempt's span to the spans that delivered the
// messages of the batch's events: a batch carries events of many sends, so
// it links to their traces instead of joining one (tracing.Sends says
// which it can find).
func (d *Dispatcher) traceEvents(ctx context.Context, events []Event) {
	t := d.opts.Tracing
	if t == nil {
		return
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.MessageID
	}
	span := trace.SpanFromContext(ctx)
	for _, l := range t.Sends.Links(ids) {
		span.AddLink(l)
	}
}
