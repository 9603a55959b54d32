package wsconn

import (
	"net"
	"time"

	"github.com/gobwas/ws"
)

// outFrame is a frame waiting to be written.
type outFrame struct {
	op   ws.OpCode
	data []byte
}

// heartbeat closes a client silent for two heartbeats, and pings the
// others (the registry's sweep calls it once a heartbeat).
func (c *Conn) heartbeat(now time.Time, every time.Duration) {
	if now.Sub(time.Unix(0, c.lastSeen.Load())) > 2*every {
		if code := c.u.opts.SilentCloseCode; code != 0 && now.Sub(time.Unix(0, c.lastSeen.Load())) <= 3*every {
			c.Close(code, "pong reply not received")
			return
		}
		c.abort()
		return
	}
	c.mu.Lock()
	if c.st.closed {
		c.mu.Unlock()
		return
	}
	if !c.st.writing && c.idleLocked() {
		c.st.writing = true
		c.mu.Unlock()
		c.sendDirect(ws.OpPing, [][]byte{nil}) // allocates nothing for an idle connection
		return
	}
	o := c.outboxLocked()
	o.queue = append(o.queue, outFrame{op: ws.OpPing})
	c.flushLocked()
}

// Subprotocol is the one the handshake agreed on, if any.
func (c *Conn) Subprotocol() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.agreed {
		return c.u.opts.Subprotocol
	}
	return ""
}

// Send queues text frames, in order, and reports whether they were
// queued: false once the connection is closed, or when the client reads
// too slowly (the connection is then closed with 1013). Frames are not
// copied: they must not change afterwards (the hub renders one frame for
// every session).
func (c *Conn) Send(frames ...[]byte) bool { return c.send(nil, frames) }

// send is Send, with a direct write of one frame gathered in b when b is
// not nil (Batch.Send).
func (c *Conn) send(b *Batch, frames [][]byte) bool {
	c.mu.Lock()
	if c.st.closed {
		c.mu.Unlock()
		return false
	}
	if c.queuedLocked()+len(frames) > c.u.opts.QueueLimit {
		c.mu.Unlock()
		c.Close(CloseTryLater, "too slow: frames queued faster than read")
		return false
	}
	if !c.st.writing && c.idleLocked() && len(frames) <= maxDirect {
		c.st.writing = true
		c.mu.Unlock()
		if b == nil || len(frames) != 1 || !b.add(c, frames[0]) {
			c.sendDirect(ws.OpText, frames)
		}
		return true
	}
	o := c.outboxLocked()
	for _, f := range frames {
		o.queue = append(o.queue, outFrame{op: ws.OpText, data: f})
	}
	c.flushLocked()
	return true
}

// maxDirect is how many frames a Send writes straight from pooled
// buffers when nothing waits before them (a delivery is one or two).
const maxDirect = 4

// sendDirect writes frames of op with nothing queued before them, on the
// caller's goroutine, allocating nothing when the socket takes them at
// once (the common case of a fan-out); what it leaves goes to the writer
// goroutine as usual. c.st.writing is set.
func (c *Conn) sendDirect(op ws.OpCode, frames [][]byte) {
	n, err := c.writeDirect(op, frames)
	c.wroteDirect(op, frames, n, err)
}

// wroteDirect finishes a direct write of frames of op that wrote n bytes
// (a batch's too): what is left waits for the writer goroutine, as does
// anything queued meanwhile; an error aborts the connection.
func (c *Conn) wroteDirect(op ws.OpCode, frames [][]byte, n int, err error) {
	if err != nil {
		c.abort()
		return
	}
	c.mu.Lock()
	total := 0
	for _, f := range frames {
		total += headerLen(len(f)) + len(f)
	}
	if n < total {
		batch := make([]outFrame, len(frames))
		for i, f := range frames {
			batch[i] = outFrame{op: op, data: f}
		}
		c.outboxLocked().rest = consume(encode(batch), n)
	}
	c.drainLocked()
}

// pong answers a client's ping.
func (c *Conn) pong(payload []byte) {
	c.mu.Lock()
	if c.st.closed {
		c.mu.Unlock()
		return
	}
	o := c.outboxLocked()
	o.queue = append(o.queue, outFrame{op: ws.OpPong, data: payload})
	c.flushLocked()
}

// flushLocked writes what is queued, on the caller's goroutine while the
// socket takes it without waiting (a fan-out to ten thousand sessions
// starts no goroutine), and leaves the rest to the writer goroutine. c.mu
// is held, and released.
func (c *Conn) flushLocked() {
	if c.st.writing {
		c.mu.Unlock()
		return
	}
	c.st.writing = true
	c.drainLocked()
}

// drainLocked is flushLocked once c.st.writing is set: it writes the
// queue while the socket takes it, then starts the writer goroutine for
// what is left, or clears c.st.writing. c.mu is held, and released.
func (c *Conn) drainLocked() {
	for o := c.out; o != nil && len(o.queue) > 0 && len(o.rest) == 0 && o.closing == nil; o = c.out {
		batch := o.queue
		o.queue = nil
		c.mu.Unlock()
		rest, err := c.writeNow(encode(batch))
		c.mu.Lock()
		if err != nil {
			c.mu.Unlock()
			c.abort()
			return
		}
		c.outboxLocked().rest = rest
	}
	if o := c.out; o != nil && (len(o.rest) > 0 || len(o.queue) > 0 || o.closing != nil) {
		go c.write() // writing stays set
	} else {
		c.out = nil // only the writer drops it: nothing else holds it
		c.st.writing = false
	}
	c.mu.Unlock()
}

// write sends what waits, each batch in one writev, then the close frame
// if one waits, then ends. A connection that closed still gets the rest
// of a frame it began, so that the close frame after it is one.
func (c *Conn) write() {
	for {
		c.mu.Lock()
		var bufs net.Buffers
		var closing []byte
		if o := c.out; o != nil {
			bufs, closing = append(o.rest, encode(o.queue)...), o.closing
		}
		c.out = nil
		if len(bufs) == 0 && closing == nil {
			c.st.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if len(bufs) > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.u.opts.WriteTimeout))
			if err := writeBuffers(c.nc, bufs); err != nil {
				c.abort()
				return
			}
		}
		if closing != nil {
			c.writeClose(closing)
		}
	}
}

// writeBuffers writes all of bufs to nc, waiting as long as its write
// deadline lets it.
func writeBuffers(nc net.Conn, bufs net.Buffers) error {
	if w, ok := nc.(interface{ WriteBuffers(net.Buffers) error }); ok {
		return w.WriteBuffers(bufs)
	}
	_, err := bufs.WriteTo(nc)
	return err
}

// encode turns frames into the buffers of one writev: each frame's header
// (one allocation for all of them) and its payload.
func encode(batch []outFrame) net.Buffers {
	if len(batch) == 0 {
		return nil
	}
	headers := make([]byte, 0, 10*len(batch))
	bufs := make(net.Buffers, 0, 2*len(batch))
	for _, f := range batch {
		start := len(headers)
		headers = appendHeader(headers, f.op, len(f.data))
		bufs = append(bufs, headers[start:len(headers):len(headers)])
		if len(f.data) > 0 {
			bufs = append(bufs, f.data)
		}
	}
	return bufs
}

// consume drops n written bytes from the front of bufs.
func consume(bufs net.Buffers, n int) net.Buffers {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) == 0 {
		return nil // keep no frame alive once written
	}
	if n > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}

// writeClose writes the close frame; the socket is shut at once if the
// client closed first, else when it answers or closeWait passes.
func (c *Conn) writeClose(body []byte) {
	frame := appendHeader(make([]byte, 0, 4+len(body)), ws.OpClose, len(body))
	_ = c.nc.SetWriteDeadline(time.Now().Add(closeDeadline))
	_, err := c.nc.Write(append(frame, body...))
	c.mu.Lock()
	c.st.closeSent = true
	peerClosed := c.st.peerClosed
	c.mu.Unlock()
	if err != nil || peerClosed {
		c.shut()
		return
	}
	time.AfterFunc(closeWait, c.shut)
}

// headerLen is the length of a server frame's header for n bytes.
func headerLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	default:
		return 10
	}
}

// appendHeader appends a server frame's header (final, unmasked).
func appendHeader(b []byte, op ws.OpCode, n int) []byte {
	b = append(b, 0x80|byte(op))
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xffff:
		return append(b, 126, byte(n>>8), byte(n))
	default:
		return append(b, 127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
			byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}
