package tracing

import (
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/pushgate/pushgate"
)

func spanContext(b byte) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{b}, SpanID: trace.SpanID{b}, TraceFlags: trace.FlagsSampled})
}

// Sends links each message to the task that delivered its id group, each
// task once, and forgets the oldest groups past its size.
func TestSendsLinksRecentTasks(t *testing.T) {
	s := NewSends(2)
	a, b, c := pushgate.NewIDGroup(3), pushgate.NewIDGroup(2), pushgate.NewIDGroup(1)
	s.Remember(a, spanContext(1))
	s.Remember(b, spanContext(2))
	s.Remember(nil, spanContext(9))
	s.Remember(a[:1], trace.SpanContext{}) // invalid: ignored
	links := s.Links(append(append([]string{"", "not-an-id"}, a...), b...))
	if len(links) != 2 || links[0].SpanContext.SpanID() != spanContext(1).SpanID() || links[1].SpanContext.SpanID() != spanContext(2).SpanID() {
		t.Fatalf("links %v", links)
	}
	s.Remember(c, spanContext(3)) // forgets a's group, the oldest
	if links := s.Links(append(a, c...)); len(links) != 1 || links[0].SpanContext.SpanID() != spanContext(3).SpanID() {
		t.Fatalf("links after eviction %v", links)
	}
	s.Remember(b, spanContext(4)) // a later task of b's messages (a retry)
	if links := s.Links(b); len(links) != 1 || links[0].SpanContext.SpanID() != spanContext(4).SpanID() {
		t.Fatalf("links of a retried group %v", links)
	}
}
