package main

import (
	"strings"
	"testing"
	"time"
)

func TestClientCountsWhatItHears(t *testing.T) {
	c := newClients(2)[1]
	now := time.Now()
	c.sent.Store(now.Add(-3 * time.Millisecond).UnixNano())
	if got := c.handle([]byte("2"), now); got != "3" {
		t.Errorf("ping answered %q, want a pong", got)
	}
	c.handle([]byte(`42["registered",{"userId":"sioload-00001"}]`), now)
	if err := <-c.registered; err != nil {
		t.Errorf("registered: %v", err)
	}
	c.handle([]byte(`42["message","push-00001"]`), now)
	c.handle([]byte(`42["message","push-00001"]`), now.Add(time.Second))
	c.handle([]byte(`42["message","push-00000"]`), now)
	c.handle([]byte(`42["message",{"title":"x"}]`), now)
	if got, mis := c.got.Load(), c.misrouted.Load(); got != 4 || mis != 2 {
		t.Errorf("got %d messages, %d misrouted; want 4, 2", got, mis)
	}
	if d, ok := c.latency(); !ok || d != 3*time.Millisecond {
		t.Errorf("latency %v %v, want the first receipt's 3ms", d, ok)
	}
}

func TestClientRefusedRegister(t *testing.T) {
	c := newClients(1)[0]
	c.handle([]byte(`42["error",{"reason":"unknown_connection_id"}]`), time.Now())
	if err := <-c.registered; err == nil || !strings.Contains(err.Error(), "unknown_connection_id") {
		t.Errorf("refused register: %v", err)
	}
	if _, ok := c.latency(); ok {
		t.Error("a latency without a push")
	}
	if !strings.HasPrefix(c.registerPacket(), `42["register","sioload-00000","sioload-conn-00000"]`) {
		t.Errorf("register packet %s", c.registerPacket())
	}
}
