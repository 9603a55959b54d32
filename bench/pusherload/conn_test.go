package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/gobwas/ws"
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

func TestNextFrame(t *testing.T) {
	for _, size := range []int{0, 5, 125, 126, 300, 70000} {
		payload := bytes.Repeat([]byte{'x'}, size)
		var b bytes.Buffer
		ws.WriteFrame(&b, ws.NewTextFrame(payload))
		ws.WriteFrame(&b, ws.NewPingFrame([]byte("p")))
		all := b.Bytes()
		first := len(all) - 3
		for cut := range first { // a frame in part is no frame
			if _, _, n := nextFrame(all[:cut]); n != 0 {
				t.Fatalf("size %d: %d of %d bytes read as a frame", size, cut, first)
			}
		}
		op, p, n := nextFrame(all)
		if op != ws.OpText || !bytes.Equal(p, payload) || n != first {
			t.Fatalf("size %d: got %v, %d bytes, n %d; want text, %d bytes, n %d", size, op, len(p), n, size, first)
		}
		if op, p, n := nextFrame(all[n:]); op != ws.OpPing || string(p) != "p" || n != 3 {
			t.Fatalf("size %d: the ping after it: %v %q %d", size, op, p, n)
		}
	}
}

func TestClientFrameIsMasked(t *testing.T) {
	f, err := ws.ReadFrame(bytes.NewReader(clientFrame(ws.OpText, []byte(`{"event":"pusher:ping"}`))))
	if err != nil || !f.Header.Masked || f.Header.OpCode != ws.OpText {
		t.Fatalf("frame %+v, %v; want a masked text frame", f.Header, err)
	}
	if got := string(ws.UnmaskFrame(f).Payload); got != `{"event":"pusher:ping"}` {
		t.Fatalf("payload %q", got)
	}
}
