package wsconn

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// Close codes this package sends; the protocol layer adds its own
// (4003 for a revoked token, say).
const (
	CloseNormal     = websocket.CloseNormalClosure   // 1000
	CloseGoingAway  = websocket.CloseGoingAway       // 1001: the node shuts down
	ClosePolicy     = websocket.ClosePolicyViolation // 1008: a flood of frames
	CloseTooBig     = websocket.CloseMessageTooBig   // 1009: a frame over MaxFrameBytes
	CloseTryLater   = websocket.CloseTryAgainLater   // 1013: frames queued faster than read
	closeDeadline   = time.Second                    // to write a close frame
	closeWait       = time.Second                    // for the client to answer a close frame
	pingDeadline    = 5 * time.Second                // to write a ping
	textFrame       = websocket.TextMessage
	binaryFrame     = websocket.BinaryMessage
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
	// MaxFrameBytes bounds a client frame: a bigger one closes with 1009
	// (default 16 KiB).
	MaxFrameBytes int64
	// Heartbeat is the ping interval; a connection that answers none for
	// two of them is closed (default 25 s).
	Heartbeat time.Duration
	// Rate and Burst bound the client's frames per second; a flood over
	// them closes with 1008 (defaults 20 and 40).
	Rate  float64
	Burst int
	// QueueLimit is how many frames may wait for a slow client; one more
	// closes it with 1013 (default 256).
	QueueLimit int
	// WriteTimeout bounds one frame's write (default 10 s).
	WriteTimeout time.Duration
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
	return o
}

// Upgrader turns authenticated HTTP requests into Conns.
type Upgrader struct {
	opts Options
	up   websocket.Upgrader
}

// NewUpgrader makes an Upgrader. Buffers are small and the write buffer is
// pooled: an idle connection holds its read buffer only.
func NewUpgrader(opts Options) *Upgrader {
	opts = opts.withDefaults()
	u := &Upgrader{opts: opts}
	u.up = websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
		WriteBufferPool: &sync.Pool{},
		// Connections authenticate with a token, not with cookies the
		// browser attaches, so any origin may connect.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	if opts.Subprotocol != "" {
		u.up.Subprotocols = []string{opts.Subprotocol}
	}
	return u
}

// Upgrade answers the handshake; on failure it has answered the request
// with an HTTP error already.
func (u *Upgrader) Upgrade(w http.ResponseWriter, r *http.Request) (*Conn, error) {
	ws, err := u.up.Upgrade(w, r, nil)
	if err != nil {
		return nil, err
	}
	return newConn(ws, u.opts), nil
}

// Conn is one WebSocket connection. Sends never block: frames wait in a
// bounded queue written by a goroutine that runs only while there is
// something to write, so an idle connection costs its read goroutine and
// buffer, and a timer for its heartbeat.
type Conn struct {
	ws   *websocket.Conn
	opts Options
	lim  *rate.Limiter

	mu      sync.Mutex
	queue   [][]byte
	writing bool
	closed  bool
	ping    *time.Timer
	done    chan struct{}
}

func newConn(ws *websocket.Conn, opts Options) *Conn {
	c := &Conn{ws: ws, opts: opts, lim: rate.NewLimiter(rate.Limit(opts.Rate), opts.Burst), done: make(chan struct{})}
	ws.SetReadLimit(opts.MaxFrameBytes)
	c.alive()
	ws.SetPongHandler(func(string) error { c.alive(); return nil })
	c.mu.Lock()
	c.ping = time.AfterFunc(opts.Heartbeat, c.sendPing)
	c.mu.Unlock()
	return c
}

// alive moves the read deadline two heartbeats on.
func (c *Conn) alive() {
	c.ws.SetReadDeadline(time.Now().Add(2*c.opts.Heartbeat + time.Second))
}

func (c *Conn) sendPing() {
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(pingDeadline)); err != nil {
		c.abort()
		return
	}
	c.mu.Lock()
	if !c.closed {
		c.ping.Reset(c.opts.Heartbeat)
	}
	c.mu.Unlock()
}

// Subprotocol is the one the handshake agreed on, if any.
func (c *Conn) Subprotocol() string { return c.ws.Subprotocol() }

// Send queues a text frame and reports whether it was queued: false once
// the connection is closed, or when the client reads too slowly (the
// connection is then closed with 1013).
func (c *Conn) Send(frame []byte) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if len(c.queue) >= c.opts.QueueLimit {
		c.mu.Unlock()
		c.Close(CloseTryLater, "too slow: frames queued faster than read")
		return false
	}
	c.queue = append(c.queue, frame)
	if !c.writing {
		c.writing = true
		go c.write()
	}
	c.mu.Unlock()
	return true
}

// write sends what is queued, then ends.
func (c *Conn) write() {
	for {
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		if len(batch) == 0 || c.closed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		for _, f := range batch {
			c.ws.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
			if err := c.ws.WriteMessage(textFrame, f); err != nil {
				c.abort()
				return
			}
		}
	}
}

// Close sends a close frame with code and reason, and closes the
// connection once the client answers it or closeWait passes (closing at
// once would reset a connection the client is still writing to, and the
// client would never see the code); later calls do nothing. Frames still
// queued are dropped.
func (c *Conn) Close(code int, reason string) {
	if !c.markClosed() {
		return
	}
	msg := websocket.FormatCloseMessage(code, reason)
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeDeadline))
	_ = c.ws.SetReadDeadline(time.Now().Add(closeWait))
	time.AfterFunc(closeWait, func() { _ = c.ws.Close() })
}

// abort closes without a close frame (the peer is gone or stuck).
func (c *Conn) abort() {
	c.markClosed()
	_ = c.ws.Close()
}

func (c *Conn) markClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closed = true
	c.queue = nil
	c.ping.Stop()
	close(c.done)
	return true
}

func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Done is closed once the connection is.
func (c *Conn) Done() <-chan struct{} { return c.done }

// ErrBinary is given to Read's handler for a binary frame: the protocols
// here speak JSON text only.
var ErrBinary = errors.New("binary frames are not accepted: send JSON text frames")

// Read reads client frames until the connection ends, handing each text
// frame to frame, or ErrBinary for a binary one. It enforces the frame
// size (1009), the frame rate (1008) and the heartbeat (two missed pings
// close the connection), and returns once the connection is closed. Once
// the connection is closing, what the client still sends is read and
// dropped until it answers the close.
func (c *Conn) Read(frame func(data []byte, err error)) {
	defer c.abort()
	for {
		kind, data, err := c.ws.ReadMessage()
		if errors.Is(err, websocket.ErrReadLimit) {
			// gorilla has sent the 1009 close frame and reads no more:
			// drain the rest of the frame so that the close is not lost
			// to a reset.
			c.markClosed()
			_ = c.ws.NetConn().SetReadDeadline(time.Now().Add(closeWait))
			_, _ = io.Copy(io.Discard, c.ws.NetConn())
			return
		}
		if err != nil {
			return
		}
		if c.isClosed() {
			continue
		}
		c.alive()
		if !c.lim.Allow() {
			c.Close(ClosePolicy, "too many frames")
			continue
		}
		if kind == binaryFrame {
			frame(nil, ErrBinary)
			continue
		}
		frame(data, nil)
	}
}
