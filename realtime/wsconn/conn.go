package wsconn

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Close codes this package sends; the protocol layer adds its own
// (4003 for a revoked token, say).
const (
	CloseNormal     = 1000
	CloseGoingAway  = 1001 // the node shuts down
	CloseProtocol   = 1002 // a frame RFC 6455 forbids
	CloseBadData    = 1007 // a text frame that is not UTF-8
	ClosePolicy     = 1008 // a flood of frames
	CloseTooBig     = 1009 // a frame over MaxFrameBytes
	CloseInternal   = 1011 // the server failed
	CloseTryLater   = 1013 // frames queued faster than read
	closeDeadline   = time.Second
	closeWait       = time.Second      // for the client to answer a close frame
	frameTimeout    = 10 * time.Second // to read the rest of a frame once it began
	defaultRate     = 20
	defaultBurst    = 40
	defaultQueue    = 256
	defaultMaxFrame = 16 << 10
)

// Options shape every connection an Upgrader makes.
type Options struct {
	// Subprotocol is what the server answers when the client offers it
	// ("pushgate.v1"); a client that offers none gets none.
	Subprotocol string
	// MaxFrameBytes bounds a client message: a bigger one closes with
	// 1009 (default 16 KiB).
	MaxFrameBytes int64
	// Heartbeat is the ping interval; a connection that sends nothing,
	// not even a pong, for two of them is closed (default 25 s).
	Heartbeat time.Duration
	// Rate and Burst bound the client's frames per second; a flood over
	// them closes with 1008 (defaults 20 and 40).
	Rate  float64
	Burst int
	// QueueLimit is how many frames may wait for a slow client; one more
	// closes it with 1013 (default 256).
	QueueLimit int
	// SilentCloseCode, when set, closes a connection silent for two
	// heartbeats with a close frame of this code (Pusher's 4201) instead
	// of dropping it without one.
	SilentCloseCode int
	// WriteTimeout bounds one batch of frames' write (default 10 s).
	WriteTimeout time.Duration
	// Logger hears of frame handlers that panicked.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxFrameBytes <= 0 {
		o.MaxFrameBytes = defaultMaxFrame
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 25 * time.Second
	}
	if o.Rate <= 0 {
		o.Rate = defaultRate
	}
	if o.Burst <= 0 {
		o.Burst = defaultBurst
	}
	if o.QueueLimit <= 0 {
		o.QueueLimit = defaultQueue
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Upgrader turns authenticated HTTP requests into Conns.
type Upgrader struct {
	opts  Options
	up    ws.HTTPUpgrader
	conns *registry
	poll  *poller // nil where there is no epoll: a goroutine per connection
}

// NewUpgrader makes an Upgrader. Its poller starts with the first
// connection and stops with Close.
func NewUpgrader(opts Options) *Upgrader {
	opts = opts.withDefaults()
	conns := newRegistry(opts.Heartbeat)
	u := &Upgrader{opts: opts, conns: conns, poll: newPoller(conns)}
	u.up.Timeout = closeDeadline * 5
	if sub := opts.Subprotocol; sub != "" {
		u.up.Protocol = func(p string) bool { return p == sub }
	}
	return u
}

// Close stops the poller and the heartbeat and refuses new connections;
// connections still open are read no more, so close them first (the
// server's connection registry does, at shutdown).
func (u *Upgrader) Close() {
	u.conns.close()
	if u.poll != nil {
		u.poll.stop()
	}
}

// errEarlyData refuses a client that sent frames before it saw the
// handshake's answer (RFC 6455, section 4.1: it must wait).
var errEarlyData = errors.New("websocket: client sent data before the handshake was answered")

// Upgrade answers the handshake; on failure it has answered the request
// already (in plain text: the caller checks the handshake first to answer
// in its own error shape).
func (u *Upgrader) Upgrade(w http.ResponseWriter, r *http.Request) (*Conn, error) {
	return u.UpgradeWith(w, r, nil)
}

// UpgradeWith is Upgrade that sends first (a text message; nil: none) in
// the same write as the handshake's answer, as if sent by Send at once
// after it: one write, one TCP segment and one wake-up of the client
// fewer. The protocols greet their clients so.
func (u *Upgrader) UpgradeWith(w http.ResponseWriter, r *http.Request, first []byte) (*Conn, error) {
	hj := &hijacker{ResponseWriter: w}
	nc, rw, hs, err := u.up.Upgrade(r, hj)
	if err != nil {
		if nc != nil {
			_ = u.answer(nc, hj.out)
			nc.Close()
		}
		return nil, err
	}
	if rw.Reader.Buffered() > 0 {
		_ = u.answer(nc, hj.out)
		nc.Close()
		return nil, errEarlyData
	}
	if u.poll != nil && u.poll.usable() {
		nc = detach(nc) // the poller and the direct writes need no more of it than its descriptor
	}
	out := hj.out
	if first != nil {
		out = append(appendHeader(out, ws.OpText, len(first)), first...)
	}
	if err := u.answer(nc, out); err != nil {
		nc.Close()
		return nil, err
	}
	c := &Conn{nc: nc, u: u}
	c.st.agreed = hs.Protocol != ""
	c.lastSeen.Store(time.Now().UnixNano())
	c.in.tokens = float64(u.opts.Burst)
	if err := u.conns.add(c); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// Conn is one WebSocket connection. Sends never block: what the socket
// takes at once is written by the sender, the rest waits in a bounded
// queue written by a goroutine that runs only while there is something to
// write.
type Conn struct {
	nc       net.Conn
	u        *Upgrader    // its options, registry and poller
	id       uint64       // in the registry, and in the poller's events
	h        Handler      // set by Serve
	lastSeen atomic.Int64 // unix nanoseconds of the client's last frame

	mu   sync.Mutex
	out  *outbox // what waits to be written; nil when nothing does
	st   state
	done chan struct{} // made when Done is first called
	in   reading       // touched only by the one reader at a time
}

// outbox is what waits to be written to a Conn: made when a write must
// wait and dropped once written, so that an idle connection keeps none
// (its three slices would make every Conn 64 bytes bigger).
type outbox struct {
	queue   []outFrame  // whole frames waiting
	rest    net.Buffers // what a write left of a batch: goes before the queue
	closing []byte      // the close frame's body, until written
}

// outboxLocked is c's outbox, made if need be; c.mu is held.
func (c *Conn) outboxLocked() *outbox {
	if c.out == nil {
		c.out = new(outbox)
	}
	return c.out
}

// idleLocked reports whether nothing waits to be written; c.mu is held.
func (c *Conn) idleLocked() bool {
	return c.out == nil || len(c.out.queue) == 0 && len(c.out.rest) == 0
}

// queuedLocked is how many whole frames wait; c.mu is held.
func (c *Conn) queuedLocked() int {
	if c.out == nil {
		return 0
	}
	return len(c.out.queue)
}

// state is a Conn's lifecycle, under its mu.
type state struct {
	writing    bool // someone writes: a Send on its own goroutine, or the writer goroutine
	closed     bool // no more sends: a close frame is on its way, or the connection is gone
	peerClosed bool // the client sent its close frame: shut once ours is written
	closeSent  bool // our close frame is written
	shut       bool // the socket is closed
	reading    bool // a reader is handling a frame
	told       bool // Handler.Closed has run
	agreed     bool // the handshake agreed on Options.Subprotocol
}

// Close sends a close frame with code and reason, and closes the
// connection once the client answers it or closeWait passes (closing at
// once would reset a connection the client is still writing to, and the
// client would never see the code); later calls do nothing. Frames still
// queued are dropped.
func (c *Conn) Close(code int, reason string) {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	c.closeWith(ws.NewCloseFrameBody(ws.StatusCode(code), reason))
}

// closeWith closes with a close frame of this body (empty: no code).
func (c *Conn) closeWith(body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.markClosedLocked() {
		return
	}
	c.outboxLocked().closing = body
	if !c.st.writing {
		c.st.writing = true
		go c.write()
	}
}

// abort closes without a close frame (the peer is gone or stuck).
func (c *Conn) abort() {
	c.mu.Lock()
	c.markClosedLocked()
	c.mu.Unlock()
	c.shut()
}

func (c *Conn) markClosedLocked() bool {
	if c.st.closed {
		return false
	}
	c.st.closed = true
	if c.out != nil {
		c.out.queue = nil
	}
	if c.done != nil {
		close(c.done)
	}
	return true
}

// shut closes the socket, once; Handler.Closed runs when no frame is being
// handled any more.
func (c *Conn) shut() {
	c.mu.Lock()
	if c.st.shut {
		c.mu.Unlock()
		return
	}
	c.st.shut = true
	c.markClosedLocked()
	c.mu.Unlock()
	c.u.conns.remove(c)
	if c.u.poll != nil {
		c.u.poll.remove(c) // not watched (yet, or at all): nothing to do
	}
	_ = c.nc.Close()
	c.tellClosed(false)
}

// tellClosed runs Handler.Closed once the socket is shut and no reader is
// busy; the reader calls it with done=true as it finishes.
func (c *Conn) tellClosed(readerDone bool) {
	c.mu.Lock()
	if readerDone {
		c.st.reading = false
	}
	run := c.st.shut && !c.st.reading && !c.st.told && c.h != nil
	if run {
		c.st.told = true
	}
	c.mu.Unlock()
	if run {
		c.h.Closed()
	}
}

// Done is closed once the connection is closing: no frame is sent after.
func (c *Conn) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.st.closed {
			close(c.done)
		}
	}
	return c.done
}

// ErrBinary is given to Serve's handler for a binary message: the
// protocols here speak JSON text only.
var ErrBinary = errors.New("binary frames are not accepted: send JSON text frames")

// Handler hears a connection's messages and its end (see Serve). A
// protocol's session implements it itself, so that an idle connection
// holds no closure for it.
type Handler interface {
	// Frame is a client text message, or ErrBinary for a binary one.
	Frame(data []byte, err error)
	// Closed runs once, after the connection ended and the last Frame
	// returned.
	Closed()
}

// HandlerFuncs is a Handler made of two funcs; OnClose may be nil.
type HandlerFuncs struct {
	OnFrame func(data []byte, err error)
	OnClose func()
}

// Frame calls OnFrame.
func (f HandlerFuncs) Frame(data []byte, err error) { f.OnFrame(data, err) }

// Closed calls OnClose, if any.
func (f HandlerFuncs) Closed() {
	if f.OnClose != nil {
		f.OnClose()
	}
}

// Serve hands each client text message to h.Frame from now on (ErrBinary
// for a binary one), one at a time, and returns at once; h.Closed runs
// once the connection has ended and the last frame was handled. It
// enforces the message size (1009), the frame rate (1008), RFC 6455's
// framing (1002, 1007) and the heartbeat. Once the connection is closing,
// what the client still sends is read and dropped until it answers the
// close. Call it once.
func (c *Conn) Serve(h Handler) {
	c.mu.Lock()
	c.h = h
	shut := c.st.shut
	c.mu.Unlock()
	if shut {
		c.tellClosed(false)
		return
	}
	if c.u.poll == nil || !c.u.poll.add(c) {
		go c.readLoop()
	}
}
