package wsconn

import (
	"sync"

	"github.com/gobwas/ws"
)

// Batch gathers the writes of one fan-out so that they are made together:
// on Linux, up to 256 sockets in one io_uring submission (one system call)
// instead of a writev each. Frames go out in the order sent, and a
// connection's frames stay in order: a frame sent to it while its batched
// write waits is queued behind it. Where io_uring is not there (other
// platforms, a kernel or sandbox that refuses it), or for a connection
// that is not a bare socket, Send writes at once, as Conn.Send does.
//
// A Batch is used by one goroutine, from NewBatch to Flush; Flush writes
// what waits and gives the Batch back: it must not be used after.
type Batch struct {
	r      *ring
	off    bool      // no ring to be had: Send writes at once
	conns  []*Conn   // waiting in r, by the order of their sends
	frames [][]byte  // the frame each of them gets
	wire   [][]byte  // the frames encoded (header and payload), until submitted
	last   []byte    // the frame wire's last entry encodes
	one    [1][]byte // Send's argument, without an allocation
}

var batches = sync.Pool{New: func() any { return new(Batch) }}

// NewBatch returns an empty Batch.
func NewBatch() *Batch { return batches.Get().(*Batch) }

// Send is c.Send(frame), its write gathered in b when nothing waits
// before it on c. frame must not change until Flush returns.
func (b *Batch) Send(c *Conn, frame []byte) bool {
	b.one[0] = frame
	ok := c.send(b, b.one[:])
	b.one[0] = nil
	return ok
}

// add queues the direct write of frame to c (c.st.writing is set), or
// reports false when it must be written at once.
func (b *Batch) add(c *Conn, frame []byte) bool {
	if b.r == nil {
		if b.off {
			return false
		}
		if b.r = getRing(); b.r == nil {
			b.off = true
			return false
		}
	}
	fd, ok := descriptor(c)
	if !ok {
		return false
	}
	if len(b.wire) == 0 || !sameBytes(b.last, frame) {
		b.wire = append(b.wire, append(appendHeader(make([]byte, 0, 10+len(frame)), ws.OpText, len(frame)), frame...))
		b.last = frame
	}
	b.r.send(fd, b.wire[len(b.wire)-1])
	b.conns = append(b.conns, c)
	b.frames = append(b.frames, frame)
	if b.r.full() {
		b.submit()
	}
	return true
}

// submit makes the queued writes and finishes each one as a direct write.
func (b *Batch) submit() {
	ok := b.r.submit()
	for i, c := range b.conns {
		n, err := wrote(b.r.res[i])
		release(c)
		b.one[0] = b.frames[i]
		c.wroteDirect(ws.OpText, b.one[:], n, err)
	}
	b.one[0] = nil
	clear(b.conns)
	clear(b.frames)
	clear(b.wire)
	b.conns, b.frames, b.wire, b.last = b.conns[:0], b.frames[:0], b.wire[:0], nil
	if !ok {
		putRing(b.r, true)
		b.r, b.off = nil, true
	}
}

// Flush writes what waits and gives b back.
func (b *Batch) Flush() {
	if len(b.conns) > 0 {
		b.submit()
	}
	if b.r != nil {
		putRing(b.r, false)
	}
	b.r, b.off = nil, false
	batches.Put(b)
}

// sameBytes reports whether a and b are the same bytes in memory.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// BatchWrites says how a Batch writes on this node: "io_uring", or
// "writev" (one system call a frame) where io_uring is refused.
func BatchWrites() string {
	if r := getRing(); r != nil {
		putRing(r, false)
		return "io_uring"
	}
	return "writev"
}
