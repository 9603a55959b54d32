package main

import (
	"testing"
	"time"
)

func TestEventOf(t *testing.T) {
	for _, c := range []struct {
		frame string
		k     int
		ok    bool
	}{
		{`{"event":"load","channel":"load-0","data":"ev-12"}`, 12, true},
		{`{"channel":"load-0","data":"ev-0","event":"load"}`, 0, true},
		{`{"event":"pusher:pong","data":"{}"}`, 0, false},
		{`{"event":"load","data":"ev-x"}`, 0, false},
		{`{"event":"load","data":"ev-3`, 0, false},
	} {
		if k, ok := eventOf([]byte(c.frame)); k != c.k || ok != c.ok {
			t.Errorf("eventOf(%s) = %d, %v; want %d, %v", c.frame, k, ok, c.k, c.ok)
		}
	}
}

func TestEventsArrive(t *testing.T) {
	e := newEvents(2)
	t0 := time.Now()
	if _, ok := e.arrive(0, t0); ok {
		t.Error("an event not triggered yet arrived")
	}
	if _, ok := e.arrive(5, t0); ok {
		t.Error("an event of no run arrived")
	}
	e.sent[0].Store(t0.UnixNano())
	e.arrive(0, t0.Add(7*time.Millisecond))
	d, ok := e.arrive(0, t0.Add(3*time.Millisecond))
	if !ok || d != 3*time.Millisecond {
		t.Errorf("arrive = %v, %v; want 3ms", d, ok)
	}
	if got, last := e.got[0].Load(), time.Duration(e.last[0].Load()-t0.UnixNano()); got != 2 || last != 7*time.Millisecond {
		t.Errorf("%d receipts, the last %v after; want 2, 7ms", got, last)
	}
}
