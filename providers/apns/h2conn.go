package apns

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// An h2conn is one HTTP/2 connection to APNS, speaking only what APNS
// needs: POST requests of at most a few KiB, answered by a status, a few
// headers and, on refusal, a small JSON body.
//
// Requests are encoded into one buffer under mu and a single writer
// goroutine writes whatever has gathered in one system call, so a burst of
// a thousand sends costs a few writes instead of a thousand. Each request
// waits on its own channel; there is no goroutine per request. Device
// tokens in :path are sent never-indexed, so they do not churn the header
// tables of either end.
type h2conn struct {
	nc        net.Conn
	fr        *http2.Framer
	authority string
	notify    func() // a stream ended, or the connection can take no more
	health    time.Duration
	idleAfter time.Duration

	kick     chan struct{} // wakes writeLoop
	closed   chan struct{} // closed by fail
	lastRead atomic.Int64  // UnixNano of the last frame read
	hdr      *headerReader // readLoop's

	mu         sync.Mutex
	out, spare []byte // frames not yet written; the writer's other buffer
	henc       *hpack.Encoder
	hbuf       bytes.Buffer
	// expiration is the last apns-expiration written, as text too.
	expiration     int64
	expirationText string
	nextID         uint32
	streams        map[uint32]*h2stream
	reserved       int // streams promised by reserve, not yet opened
	maxStreams     int
	sendWin        int64 // the connection's send window
	initWin        int64 // the peer's initial stream window
	maxFrame       int
	blocked        []*h2stream // streams with DATA waiting for window
	recvUnacked    int         // DATA bytes received, not yet given back
	pingOut        bool
	goAway         bool // no new streams: the peer is going away, or ids ran out
	idleSince      time.Time
	err            error
}

// h2stream is one request in flight.
type h2stream struct {
	id   uint32
	win  int64
	rest []byte // body not yet framed
	done chan struct{}
	ans  h2answer
	err  error
}

// h2answer is what APNS answered one request.
type h2answer struct {
	status     int
	apnsID     string
	retryAfter string
	body       []byte
}

// h2request is one notification's request.
type h2request struct {
	token      string
	topic      string
	pushType   string
	collapseID string
	// uniqueCollapseID: collapseID is the message's own (its id), a value
	// no other request repeats.
	uniqueCollapseID bool
	bearer           string
	priority         int
	expiration       int64
	body             []byte
}

const (
	h2DefaultWindow   = 65535
	h2DefaultFrame    = 16384
	h2MaxStreams      = 1000 // when the peer sets no limit
	h2MaxAnswerBody   = 4096 // answer body bytes kept; APNS's are tens of bytes
	h2WindowRefill    = 32 << 10
	h2MaxStreamID     = 1<<31 - 1
	h2WriteTimeout    = 15 * time.Second
	h2MaxSpareBuffer  = 1 << 20
	h2HandshakeWindow = 20 * time.Second
)

// h2Health is how long a connection may stay silent before it is pinged,
// and how long the ping may go unanswered before the connection is given
// up. A variable for tests.
var h2Health = 15 * time.Second

var (
	errConnClosed  = errors.New("connection closed")
	errGoAway      = errors.New("APNS is closing the connection (GOAWAY)")
	errPingTimeout = errors.New("no answer to a PING: connection dead")
	errIdle        = errors.New("connection idle")
)

// unprocessedError marks a request APNS never processed (refused, or above
// a GOAWAY's last stream): it is safe to send again at once.
type unprocessedError struct{ err error }

func (e unprocessedError) Error() string { return e.err.Error() }
func (e unprocessedError) Unwrap() error { return e.err }

// dialH2 connects to addr over TLS with ALPN h2 and exchanges settings.
func dialH2(ctx context.Context, addr, authority string, conf *tls.Config, notify func()) (*h2conn, error) {
	ctx, cancel := context.WithTimeout(ctx, h2HandshakeWindow)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{KeepAlive: 15 * time.Second}, Config: conf}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if p := nc.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != "h2" {
		nc.Close()
		return nil, fmt.Errorf("%s did not agree to HTTP/2 (ALPN %q)", addr, p)
	}
	c := &h2conn{
		nc: nc, authority: authority, notify: notify,
		health: h2Health, idleAfter: 10 * time.Minute,
		kick: make(chan struct{}, 1), closed: make(chan struct{}),
		nextID: 1, streams: make(map[uint32]*h2stream),
		maxStreams: h2MaxStreams, sendWin: h2DefaultWindow, initWin: h2DefaultWindow, maxFrame: h2DefaultFrame,
		idleSince: time.Now(),
	}
	c.fr = http2.NewFramer(outWriter{c}, bufio.NewReaderSize(nc, 16<<10))
	c.hdr = newHeaderReader() // not the framer's ReadMetaHeaders (h2headers.go)
	c.henc = hpack.NewEncoder(&c.hbuf)
	if err := c.handshake(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("HTTP/2 handshake with %s: %w", addr, err)
	}
	c.lastRead.Store(time.Now().UnixNano())
	go c.readLoop()
	go c.writeLoop()
	go c.healthLoop()
	return c, nil
}

// outWriter is where the framer writes: the connection's out buffer, with
// mu held.
type outWriter struct{ c *h2conn }

func (w outWriter) Write(p []byte) (int, error) {
	w.c.out = append(w.c.out, p...)
	return len(p), nil
}

// handshake sends the preface and settings and waits for the peer's
// settings, which must come first.
func (c *h2conn) handshake(ctx context.Context) error {
	deadline, _ := ctx.Deadline()
	c.nc.SetDeadline(deadline)
	defer c.nc.SetDeadline(time.Time{})
	c.out = append(c.out, http2.ClientPreface...)
	c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: 64 << 10},
	)
	if _, err := c.nc.Write(c.out); err != nil {
		return err
	}
	c.out = c.out[:0]
	f, err := c.fr.ReadFrame()
	if err != nil {
		return err
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		return fmt.Errorf("first frame was %v, not SETTINGS", f.Header())
	}
	return c.applySettings(sf)
}

// applySettings takes in the peer's settings and acknowledges them.
func (c *h2conn) applySettings(sf *http2.SettingsFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := sf.ForeachSetting(func(s http2.Setting) error {
		switch s.ID {
		case http2.SettingMaxConcurrentStreams:
			c.maxStreams = int(min(s.Val, 1<<20))
		case http2.SettingInitialWindowSize:
			if s.Val > h2MaxStreamID {
				return errors.New("initial window size over 2^31-1")
			}
			delta := int64(s.Val) - c.initWin
			for _, st := range c.streams {
				st.win += delta
			}
			c.initWin = int64(s.Val)
		case http2.SettingMaxFrameSize:
			c.maxFrame = int(s.Val)
		case http2.SettingHeaderTableSize:
			c.henc.SetMaxDynamicTableSizeLimit(s.Val)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.fr.WriteSettingsAck()
	c.pumpLocked()
	return nil
}

// reserve promises the caller a stream; false when the connection is at
// its stream limit or takes no new streams.
func (c *h2conn) reserve() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.goAway || len(c.streams)+c.reserved >= c.maxStreams {
		return false
	}
	c.reserved++
	return true
}

// usable reports whether the connection may still take new streams.
func (c *h2conn) usable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err == nil && !c.goAway
}

// roundTrip sends r on a stream reserved before and waits for the answer.
func (c *h2conn) roundTrip(ctx context.Context, expired <-chan struct{}, r *h2request) (h2answer, error) {
	s := &h2stream{done: make(chan struct{})}
	c.mu.Lock()
	c.reserved--
	if c.err != nil || c.goAway {
		err := c.err
		if err == nil {
			err = errGoAway
		}
		c.mu.Unlock()
		return h2answer{}, unprocessedError{err}
	}
	s.id, s.win = c.nextID, c.initWin
	c.nextID += 2
	if c.nextID > h2MaxStreamID {
		c.goAway = true
	}
	c.streams[s.id] = s
	c.writeHeadersLocked(s.id, r)
	if len(r.body) > 0 {
		s.rest = r.body
		c.blocked = append(c.blocked, s)
		c.pumpLocked()
	}
	c.mu.Unlock()
	c.wakeWriter()
	var err error
	select {
	case <-s.done:
		return s.ans, s.err
	case <-ctx.Done():
		err = ctx.Err()
	case <-expired:
		err = context.DeadlineExceeded
	}
	c.cancel(s)
	<-s.done
	if s.err == nil {
		return s.ans, nil // answered while being cancelled
	}
	return h2answer{}, err
}

// writeHeadersLocked frames r's HEADERS for stream id.
func (c *h2conn) writeHeadersLocked(id uint32, r *h2request) {
	c.hbuf.Reset()
	f := func(name, value string) { c.henc.WriteField(hpack.HeaderField{Name: name, Value: value}) }
	f(":method", "POST")
	f(":scheme", "https")
	f(":authority", c.authority)
	c.henc.WriteField(hpack.HeaderField{Name: ":path", Value: "/3/device/" + r.token, Sensitive: true})
	f("content-type", "application/json; charset=utf-8")
	var num [20]byte
	f("content-length", string(strconv.AppendInt(num[:0], int64(len(r.body)), 10)))
	if r.bearer != "" {
		f("authorization", r.bearer)
	}
	f("apns-topic", r.topic)
	f("apns-push-type", r.pushType)
	if r.priority > 0 {
		f("apns-priority", string(strconv.AppendInt(num[:0], int64(r.priority), 10)))
	}
	if r.expiration > 0 {
		if r.expiration != c.expiration { // most pushes of a second share it
			c.expiration, c.expirationText = r.expiration, strconv.FormatInt(r.expiration, 10)
		}
		f("apns-expiration", c.expirationText)
	}
	if r.collapseID != "" {
		// A value unique to the request is sent as a literal never
		// indexed: added to the HTTP/2 header tables of both ends it would
		// only evict the fields every request repeats.
		c.henc.WriteField(hpack.HeaderField{Name: "apns-collapse-id", Value: r.collapseID, Sensitive: r.uniqueCollapseID})
	}
	block := c.hbuf.Bytes()
	first := min(len(block), c.maxFrame)
	c.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: block[:first],
		EndStream: len(r.body) == 0, EndHeaders: first == len(block),
	})
	for block = block[first:]; len(block) > 0; {
		n := min(len(block), c.maxFrame)
		c.fr.WriteContinuation(id, n == len(block), block[:n])
		block = block[n:]
	}
}

// pumpLocked frames as much waiting DATA as the windows allow, oldest
// stream first.
func (c *h2conn) pumpLocked() {
	kept := c.blocked[:0]
	for _, s := range c.blocked {
		for len(s.rest) > 0 {
			n := min(int64(len(s.rest)), c.sendWin, s.win, int64(c.maxFrame))
			if n <= 0 {
				break
			}
			c.fr.WriteData(s.id, n == int64(len(s.rest)), s.rest[:n])
			c.sendWin -= n
			s.win -= n
			s.rest = s.rest[n:]
		}
		if len(s.rest) > 0 {
			kept = append(kept, s)
		} else {
			s.rest = nil
		}
	}
	clear(c.blocked[len(kept):])
	c.blocked = kept
}

func (c *h2conn) wakeWriter() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// writeLoop writes whatever frames have gathered, one write at a time.
func (c *h2conn) writeLoop() {
	for {
		select {
		case <-c.kick:
		case <-c.closed:
			return
		}
		for {
			c.mu.Lock()
			buf := c.out
			c.out, c.spare = c.spare[:0], nil
			c.mu.Unlock()
			if len(buf) == 0 {
				c.mu.Lock()
				c.spare = buf
				c.mu.Unlock()
				break
			}
			c.nc.SetWriteDeadline(time.Now().Add(h2WriteTimeout))
			if _, err := c.nc.Write(buf); err != nil {
				c.fail(err)
				return
			}
			if cap(buf) > h2MaxSpareBuffer {
				buf = nil
			}
			c.mu.Lock()
			c.spare = buf[:0]
			c.mu.Unlock()
		}
	}
}

// cancel ends s before its answer, telling the peer.
func (c *h2conn) cancel(s *h2stream) {
	c.mu.Lock()
	if _, open := c.streams[s.id]; open {
		c.fr.WriteRSTStream(s.id, http2.ErrCodeCancel)
		c.endLocked(s, errors.New("cancelled"))
	}
	c.mu.Unlock()
	c.wakeWriter()
	c.afterEnd()
}

// endLocked ends s with err (nil: answered).
func (c *h2conn) endLocked(s *h2stream, err error) {
	delete(c.streams, s.id)
	if s.rest != nil {
		s.rest = nil
		for i, b := range c.blocked {
			if b == s {
				c.blocked = append(c.blocked[:i], c.blocked[i+1:]...)
				break
			}
		}
	}
	s.err = err
	close(s.done)
	if len(c.streams) == 0 {
		c.idleSince = time.Now()
	}
}

// afterEnd runs once a stream has ended, with mu released: it wakes the
// pool's waiters and closes a connection that is going away and done.
func (c *h2conn) afterEnd() {
	c.mu.Lock()
	drained := c.goAway && len(c.streams) == 0 && c.reserved == 0 && c.err == nil
	c.mu.Unlock()
	if drained {
		c.fail(errGoAway)
	}
	c.notify()
}

// fail closes the connection; requests in flight end with err.
func (c *h2conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	for _, s := range c.streams {
		c.endLocked(s, fmt.Errorf("connection lost: %w", err))
	}
	close(c.closed)
	c.mu.Unlock()
	c.nc.Close()
	c.notify()
}

// close closes the connection; requests in flight fail.
func (c *h2conn) close() { c.fail(errConnClosed) }
