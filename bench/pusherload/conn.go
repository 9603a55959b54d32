package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"github.com/pushgate/pushgate/bench/internal/loadclient"
)

// conn is one subscribed connection. It is dialled and subscribed with
// blocking reads; after that its socket is a bare non-blocking
// descriptor that the reader (reader.go) watches with every other one,
// and which records, for each event of the run, the delay from the
// trigger call to its receipt. The tool shares the machine with the
// server it measures, so a receipt must cost it as little as it can: no
// goroutine per connection, no copy of a frame that arrived whole.
type conn struct {
	fd  int
	mu  sync.Mutex // writes: pings, pongs and close
	run *events
	// Only the reader touches these, until it stops.
	buf   []byte          // the start of a frame not yet whole
	got   []time.Duration // trigger call → receipt, by arrival
	seen  []uint64        // the events received, a bit each
	dup   int             // events received again
	ended bool            // the server closed it
}

// dial opens connection i and subscribes it to its channel; it returns
// once the server confirmed the subscription, with the socket detached
// from Go's poller.
func dial(ctx context.Context, o options, i int, run *events) (*conn, error) {
	target := loadclient.NewAPI(o.url).WSURL("/app/" + o.key + "?protocol=7&client=pusherload&version=1.0")
	d := ws.Dialer{NetDial: loadclient.LocalDialer(target, i), Timeout: 30 * time.Second}
	nc, br, _, err := d.Dial(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("connection %d: %w", i, err)
	}
	c := &conn{fd: -1, run: run, seen: make([]uint64, (o.events+63)/64)}
	if br != nil { // what came after the handshake's answer
		c.buf, _ = br.Peek(br.Buffered())
		c.buf = append([]byte(nil), c.buf...)
		ws.PutReader(br)
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	err = c.subscribe(nc, channelOf(i, o.channels))
	if err == nil {
		c.fd, err = detach(nc)
	}
	nc.Close() // c.fd, a duplicate, keeps the socket open
	if err != nil {
		return nil, fmt.Errorf("connection %d: %w", i, err)
	}
	return c, nil
}

func channelOf(i, channels int) string { return "load-" + strconv.Itoa(i%channels) }

func (c *conn) subscribe(nc net.Conn, channel string) error {
	if err := c.expect(nc, "pusher:connection_established"); err != nil {
		return err
	}
	sub, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{"channel": channel}})
	if _, err := nc.Write(clientFrame(ws.OpText, sub)); err != nil {
		return err
	}
	return c.expect(nc, "pusher_internal:subscription_succeeded")
}

// expect reads from nc until a text frame of event name; an error event
// ends it. What follows that frame stays in c.buf.
func (c *conn) expect(nc net.Conn, name string) error {
	var tmp [4096]byte
	for {
		op, payload, n := nextFrame(c.buf)
		if n == 0 {
			m, err := nc.Read(tmp[:])
			if err != nil {
				return fmt.Errorf("waiting for %s: %w", name, err)
			}
			c.buf = append(c.buf, tmp[:m]...)
			continue
		}
		c.buf = c.buf[n:]
		if op != ws.OpText {
			continue
		}
		var f struct{ Event string }
		if json.Unmarshal(payload, &f) != nil {
			return fmt.Errorf("not JSON: %.100q", payload)
		}
		switch {
		case f.Event == name:
			c.buf = append([]byte(nil), c.buf...)
			return nil
		case f.Event == "pusher:error" || f.Event == "pusher:subscription_error":
			return fmt.Errorf("%s", payload)
		}
	}
}

// detach returns a non-blocking duplicate of nc's descriptor.
func detach(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("%T has no descriptor", nc)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, dupErr := -1, error(nil)
	if err := raw.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, dupErr
	}
	return fd, unix.SetNonblock(fd, true)
}

// frame handles one whole frame from the server: an event's receipt at
// now, a ping answered, a close noted.
func (c *conn) frame(op ws.OpCode, payload []byte, now time.Time) {
	switch op {
	case ws.OpText:
		k, ok := eventOf(payload)
		if !ok || k < 0 || k >= len(c.seen)*64 {
			return
		}
		bit := uint64(1) << (k % 64)
		if c.seen[k/64]&bit != 0 {
			c.dup++
			return
		}
		c.seen[k/64] |= bit
		if d, ok := c.run.arrive(k, now); ok {
			c.got = append(c.got, d)
		}
	case ws.OpPing:
		c.send(ws.OpPong, payload)
	case ws.OpClose:
		c.ended = true
	}
}

// send writes one masked client frame. The frames are small: a socket
// that cannot take one at once is as good as gone.
func (c *conn) send(op ws.OpCode, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return net.ErrClosed
	}
	f := clientFrame(op, payload)
	n, err := unix.Write(c.fd, f)
	if err == nil && n < len(f) {
		err = fmt.Errorf("a %d-byte frame only partly written", len(f))
	}
	return err
}

// close sends the close frame and closes the descriptor; the reader
// must have stopped.
func (c *conn) close() {
	c.send(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	c.mu.Lock()
	unix.Close(c.fd)
	c.fd = -1
	c.mu.Unlock()
}

// pingAll sends pusher:ping on every connection each period, spread over
// it; the returned func stops it.
func pingAll(conns []*conn, period time.Duration) func() {
	done := make(chan struct{})
	ping := []byte(`{"event":"pusher:ping","data":{}}`)
	go func() {
		for {
			for _, c := range conns {
				select {
				case <-done:
					return
				case <-time.After(period / time.Duration(len(conns))):
				}
				c.send(ws.OpText, ping)
			}
		}
	}()
	return func() { close(done) }
}
