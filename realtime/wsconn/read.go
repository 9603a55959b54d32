package wsconn

import (
	"bufio"
	"io"
	"math"
	"runtime/debug"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// reading is the reader's state between frames; one reader at a time
// touches it.
type reading struct {
	msg   []byte    // a fragmented message so far
	msgOp ws.OpCode // its opcode; 0 when no message is open
	skip  int64     // bytes still to drop: an oversized frame's, or all after a protocol error
	// A token bucket bounds the client's frames (Options.Rate, Burst).
	tokens float64
	last   int64 // unix nanoseconds of the last refill
}

// readBuffers lend a buffer to a connection while it reads, so that an
// idle one holds none.
var readBuffers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 2048) }}

// ready reads what the socket holds, frame by frame until the buffer is
// empty, then asks the poller to watch it again (epoll mode).
func (c *Conn) ready() {
	c.mu.Lock()
	if c.st.shut || c.st.reading {
		c.mu.Unlock()
		return
	}
	c.st.reading = true
	c.mu.Unlock()
	br := readBuffers.Get().(*bufio.Reader)
	br.Reset(c.nc)
	var err error
	for err == nil {
		if err = c.readFrame(br); br.Buffered() == 0 {
			break
		}
	}
	br.Reset(nil)
	readBuffers.Put(br)
	c.mu.Lock()
	c.st.reading = false
	shut := c.st.shut
	c.mu.Unlock()
	if err != nil || !shut && !c.u.poll.rearm(c) {
		c.abort()
	}
	c.tellClosed(false) // once shut, by whichever of the reader and the closer is last
}

// readLoop reads with a goroutine of its own (no epoll).
func (c *Conn) readLoop() {
	c.mu.Lock()
	c.st.reading = true
	c.mu.Unlock()
	br := bufio.NewReaderSize(c.nc, 2048)
	for {
		_ = c.nc.SetReadDeadline(time.Time{}) // idle: the heartbeat ends a dead peer
		if _, err := br.Peek(1); err != nil {
			break
		}
		if err := c.readFrame(br); err != nil {
			break
		}
	}
	c.abort()
	c.tellClosed(true)
}

// readFrame reads one frame and acts on it.
func (c *Conn) readFrame(br *bufio.Reader) error {
	_ = c.nc.SetReadDeadline(time.Now().Add(frameTimeout))
	if c.in.skip > 0 {
		n, err := io.CopyN(io.Discard, br, min(c.in.skip, 32<<10))
		c.in.skip -= n
		return err
	}
	h, err := ws.ReadHeader(br)
	if err != nil {
		return err
	}
	c.lastSeen.Store(time.Now().UnixNano())
	state := ws.StateServerSide
	if c.in.msgOp != 0 {
		state |= ws.StateFragmented
	}
	if err := ws.CheckHeader(h, state); err != nil {
		c.Close(CloseProtocol, err.Error())
		c.in.skip = math.MaxInt64 // the stream cannot be trusted: drop it until shut
		return nil
	}
	if !h.OpCode.IsControl() && h.Length > c.u.opts.MaxFrameBytes-int64(len(c.in.msg)) {
		c.Close(CloseTooBig, "message over the size limit")
		c.in.skip, c.in.msg, c.in.msgOp = h.Length, nil, 0
		return nil
	}
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(br, payload); err != nil {
		return err
	}
	ws.Cipher(payload, h.Mask, 0)
	return c.handle(h, payload)
}

// handle acts on a frame: control frames at once, data frames once their
// message is whole.
func (c *Conn) handle(h ws.Header, payload []byte) error {
	switch h.OpCode {
	case ws.OpPong:
		return nil
	case ws.OpClose:
		c.peerClose(payload)
		return nil
	case ws.OpPing:
		if c.allow() {
			c.pong(payload)
		}
		return nil
	}
	if h.OpCode != ws.OpContinuation {
		c.in.msgOp = h.OpCode
	}
	if !h.Fin {
		c.in.msg = append(c.in.msg, payload...)
		return nil
	}
	op, data := c.in.msgOp, payload
	if c.in.msg != nil {
		data = append(c.in.msg, payload...)
	}
	c.in.msg, c.in.msgOp = nil, 0
	c.deliver(op, data)
	return nil
}

// allow counts a client frame against the rate limit; over it, the
// connection closes with 1008. A closing connection allows nothing.
func (c *Conn) allow() bool {
	c.mu.Lock()
	closed := c.st.closed
	c.mu.Unlock()
	if closed {
		return false
	}
	now := time.Now().UnixNano()
	if c.in.last != 0 {
		c.in.tokens += float64(now-c.in.last) / 1e9 * c.u.opts.Rate
	}
	c.in.tokens, c.in.last = min(c.in.tokens, float64(c.u.opts.Burst)), now
	if c.in.tokens < 1 {
		c.Close(ClosePolicy, "too many frames")
		return false
	}
	c.in.tokens--
	return true
}

// deliver hands a whole message to the protocol.
func (c *Conn) deliver(op ws.OpCode, data []byte) {
	switch {
	case !c.allow():
	case op == ws.OpBinary:
		c.safely(nil, ErrBinary)
	case !utf8.Valid(data):
		c.Close(CloseBadData, "text frames must be UTF-8")
	default:
		c.safely(data, nil)
	}
}

// safely hands a message to the protocol; a handler that panics ends its
// own connection (1011) and no other: no router's recovery is there to
// catch it.
func (c *Conn) safely(data []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.u.opts.Logger.Error("wsconn: a frame handler panicked; its connection is closed", "panic", p, "stack", string(debug.Stack()))
			c.Close(CloseInternal, "internal error")
		}
	}()
	c.h.Frame(data, err)
}

// peerClose answers the client's close frame: the socket shuts once our
// own close frame is written (at once if it was already).
func (c *Conn) peerClose(payload []byte) {
	c.mu.Lock()
	c.st.peerClosed = true
	sent, closed := c.st.closeSent, c.st.closed
	c.mu.Unlock()
	switch {
	case sent:
		c.shut()
	case closed:
		// our close frame is on its way; the writer shuts after it
	case len(payload) == 0:
		c.closeWith([]byte{})
	default:
		code, reason := ws.ParseCloseFrameData(payload)
		if len(payload) < 2 || ws.CheckCloseFrameData(code, reason) != nil {
			c.Close(CloseProtocol, "invalid close frame")
			return
		}
		c.Close(int(code), "")
	}
}
