package tracing

import (
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/pushgate/pushgate"
)

// defaultSends is how many id groups (about one a queue task) a node
// remembers the trace of: at 500 messages a task, the last 32M messages,
// in a few MiB.
const defaultSends = 1 << 16

// maxLinks bounds the links of one span (the SDK keeps 128 by default).
const maxLinks = 128

// Sends remembers, for the messages of recent queue tasks, the span of the
// task that delivered them, so that the webhook batch that carries their
// events can link to it. A batch holds events of many sends, so it links
// to their traces rather than joining one.
//
// It is kept in memory, keyed by the id group that the messages of one
// chunk share (pushgate.IDGroup), bounded, the oldest forgotten first:
// storing a trace context with every event would cost a column and a
// write a message. Hence a batch links only to tasks that ran on the node
// that sends it, in its lifetime, among the last defaultSends; the
// others' events are carried unlinked.
type Sends struct {
	mu    sync.Mutex
	spans map[string]trace.SpanContext
	ring  []string // groups in order of arrival; next is the oldest
	next  int
}

// NewSends returns an index of up to size id groups.
func NewSends(size int) *Sends {
	return &Sends{spans: make(map[string]trace.SpanContext, size), ring: make([]string, size)}
}

// Remember records that the messages ids were delivered in the span sc.
func (s *Sends) Remember(ids []string, sc trace.SpanContext) {
	if !sc.IsValid() || len(ids) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := ""
	for _, id := range ids {
		g := pushgate.IDGroup(id)
		if g == prev {
			continue // a chunk's ids mostly share one group
		}
		prev = g
		if _, known := s.spans[g]; !known {
			if old := s.ring[s.next]; old != "" {
				delete(s.spans, old)
			}
			s.ring[s.next] = g
			s.next = (s.next + 1) % len(s.ring)
		}
		s.spans[g] = sc
	}
}

// Links returns links to the spans that delivered the messages ids (each
// span once, at most maxLinks), for the ones it remembers.
func (s *Sends) Links(ids []string) []trace.Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	var links []trace.Link
	seen := map[trace.SpanID]bool{}
	prev := ""
	for _, id := range ids {
		g := pushgate.IDGroup(id)
		if g == prev || id == "" {
			continue
		}
		prev = g
		sc, ok := s.spans[g]
		if !ok || seen[sc.SpanID()] {
			continue
		}
		seen[sc.SpanID()] = true
		links = append(links, trace.Link{SpanContext: sc})
		if len(links) == maxLinks {
			break
		}
	}
	return links
}
