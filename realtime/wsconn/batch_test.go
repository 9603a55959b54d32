package wsconn_test

import (
	"bytes"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pushgate/pushgate/realtime/wsconn"
)

// batchModes runs test with the Batch's io_uring on (Linux, where the
// kernel allows it) and off (a write per frame, as everywhere else).
func batchModes(t *testing.T, test func(t *testing.T)) {
	t.Run("io_uring", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("io_uring is Linux's")
		}
		usable, setup := wsconn.RingsUsable()
		if !usable && setup {
			t.Fatal("io_uring is set up here, but a Batch gets no ring")
		}
		if !usable {
			t.Skip("io_uring is refused here (kernel or sandbox)")
		}
		test(t)
	})
	t.Run("writes", func(t *testing.T) {
		was := wsconn.SetRingsOff(true)
		defer wsconn.SetRingsOff(was)
		test(t)
	})
}

// One batch to more connections than one submission holds reaches every
// connection once, with frames that differ along the way.
func TestBatchReachesEveryConnection(t *testing.T) {
	batchModes(t, func(t *testing.T) {
		s := newServer(t, wsconn.Options{})
		const n = 300 // more than a ring's 256 entries
		clients := make([]*websocket.Conn, n)
		conns := make([]*wsconn.Conn, n)
		for i := range n {
			clients[i], conns[i] = s.dial(t, "", nil)
		}
		first, second := []byte(`{"event":"first"}`), []byte(`{"event":"second"}`)
		b := wsconn.NewBatch()
		for i, c := range conns {
			frame := first
			if i >= n/2 {
				frame = second
			}
			if !b.Send(c, frame) {
				t.Fatalf("connection %d refused the frame", i)
			}
		}
		b.Flush()
		for i, ws := range clients {
			want := first
			if i >= n/2 {
				want = second
			}
			ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, got, err := ws.ReadMessage(); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("connection %d: %q, %v; want %q", i, got, err, want)
			}
		}
	})
}

// A frame sent to a connection while its batched frame waits arrives
// after it, and one sent before arrives before it.
func TestBatchKeepsEachConnectionsOrder(t *testing.T) {
	batchModes(t, func(t *testing.T) {
		s := newServer(t, wsconn.Options{})
		ws, c := s.dial(t, "", nil)
		if !c.Send([]byte("before")) {
			t.Fatal("refused")
		}
		b := wsconn.NewBatch()
		if !b.Send(c, []byte("batched")) {
			t.Fatal("batch refused")
		}
		done := make(chan bool)
		go func() { done <- c.Send([]byte("after")) }()
		if !<-done {
			t.Fatal("refused while the batch waits")
		}
		b.Flush()
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for _, want := range []string{"before", "batched", "after"} {
			if _, got, err := ws.ReadMessage(); err != nil || string(got) != want {
				t.Fatalf("got %q, %v; want %q", got, err, want)
			}
		}
	})
}

// A client that does not read: the batched frames the socket cannot take
// at once (a part of one, then none) wait for the writer goroutine and
// reach the client whole and in order once it reads.
func TestBatchToAFullSocket(t *testing.T) {
	batchModes(t, func(t *testing.T) {
		s := newServer(t, wsconn.Options{WriteTimeout: 30 * time.Second})
		ws, c := s.dial(t, "", nil)
		const frames = 40
		big := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 128<<10+i) }
		for i := range frames {
			b := wsconn.NewBatch()
			if !b.Send(c, big(i)) {
				t.Fatalf("frame %d refused", i)
			}
			b.Flush()
		}
		ws.SetReadDeadline(time.Now().Add(30 * time.Second))
		for i := range frames {
			_, got, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if !bytes.Equal(got, big(i)) {
				t.Fatalf("frame %d: %d bytes, not the %d sent", i, len(got), len(big(i)))
			}
		}
	})
}

// A closed connection refuses a batched frame; the others still get it.
func TestBatchSkipsAClosedConnection(t *testing.T) {
	batchModes(t, func(t *testing.T) {
		s := newServer(t, wsconn.Options{})
		ws1, c1 := s.dial(t, "", nil)
		_, c2 := s.dial(t, "", nil)
		ws3, c3 := s.dial(t, "", nil)
		c2.Close(1000, "bye")
		b := wsconn.NewBatch()
		for i, c := range []*wsconn.Conn{c1, c2, c3} {
			if got := b.Send(c, []byte("x"+strconv.Itoa(i))); got != (i != 1) {
				t.Errorf("connection %d: Send %v", i, got)
			}
		}
		b.Flush()
		for i, ws := range map[int]*websocket.Conn{0: ws1, 2: ws3} {
			ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, got, err := ws.ReadMessage(); err != nil || string(got) != "x"+strconv.Itoa(i) {
				t.Errorf("connection %d: %q, %v", i, got, err)
			}
		}
	})
}
