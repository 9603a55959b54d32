package inboxproto

import (
	"bytes"
	"testing"
)

// A client that reads nothing: once sseQueueLimit events wait, the next
// one is refused and the stream is left to end with slow_consumer.
func TestSSESlowConsumer(t *testing.T) {
	s := &sseSession{h: NewHandler(Options{}), wake: make(chan struct{}, 1), end: make(chan struct{})}
	ev := sseRender(TypeRetracted, idPayload{ID: "n1"})
	for i := range sseQueueLimit {
		if !s.Send(ev) {
			t.Fatalf("event %d refused", i)
		}
	}
	if s.Send(ev) {
		t.Fatal("an event past the bound was queued")
	}
	select {
	case <-s.end:
	default:
		t.Fatal("the stream was not closed")
	}
	if !bytes.Contains(s.final, []byte(`"code":"slow_consumer"`)) || len(s.queue) != 0 {
		t.Fatalf("final event %q, %d queued", s.final, len(s.queue))
	}
	if s.Send(ev) {
		t.Fatal("a closed stream took an event")
	}
}

func TestUnseenFrameIsTheRenderedOne(t *testing.T) {
	for _, n := range []int{0, 1, 42, 1 << 20} {
		if got, want := string(unseenFrame(n)), string(render(TypeUnseen, countPayload{Count: n})); got != want {
			t.Errorf("unseenFrame(%d) = %s, want %s", n, got, want)
		}
	}
}
