package apns

import (
	"context"
	"crypto/tls"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

var errPoolClosed = errors.New("apns: provider closed")

// connPool is the HTTP/2 connections of one provider to one APNS host.
//
// A burst of first sends must not open dozens of TLS connections to Apple,
// which Apple treats as abuse. The pool dials one connection at a time,
// multiplexes every request over the open ones, and adds a connection only
// when all of them are at the stream limit Apple set, up to max.
type connPool struct {
	addr      string // host:port
	authority string
	tls       *tls.Config
	max       int // 0: no limit
	// timeout bounds a request, connecting included (Options.Timeout).
	timeout  time.Duration
	timeouts *timeouts

	mu      sync.Mutex
	conns   []*h2conn
	dialing chan struct{} // closed when the dial in progress ends
	closed  bool

	// wake is closed when a connection frees a stream; connections close
	// it without taking mu.
	wake atomic.Pointer[chan struct{}]
}

func newConnPool(addr, authority string, conf *tls.Config, max int, timeout time.Duration) *connPool {
	return &connPool{addr: addr, authority: authority, tls: conf, max: max, timeout: timeout, timeouts: newTimeouts(timeout)}
}

// roundTrip sends r on a pooled connection. A request APNS never processed
// (the connection was going away) is sent once more on another.
func (p *connPool) roundTrip(ctx context.Context, r *h2request) (h2answer, error) {
	expired := p.timeouts.after(time.Now())
	for attempt := 0; ; attempt++ {
		c, err := p.get(ctx, expired)
		if err != nil {
			return h2answer{}, err
		}
		ans, err := c.roundTrip(ctx, expired, r)
		if err == nil || attempt > 0 {
			return ans, err
		}
		// Declared here, not above: errors.As makes it escape, which
		// would cost every successful push an allocation.
		var unprocessed unprocessedError
		if !errors.As(err, &unprocessed) {
			return ans, err
		}
	}
}

// get returns a connection with a stream reserved for the caller.
func (p *connPool) get(ctx context.Context, expired <-chan struct{}) (*h2conn, error) {
	var wake chan struct{}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errPoolClosed
		}
		p.pruneLocked()
		for _, c := range p.conns {
			if c.reserve() {
				p.mu.Unlock()
				return c, nil
			}
		}
		dialing := p.dialing
		dial := dialing == nil && (p.max <= 0 || len(p.conns) < p.max)
		if dial {
			p.dialing = make(chan struct{})
		}
		p.mu.Unlock()

		switch {
		case dial:
			if err := p.dial(ctx); err != nil {
				return nil, err
			}
			continue
		case dialing != nil:
			wake = dialing
		case wake == nil:
			// Take the channel before looking again, so a stream freed in
			// between is not missed.
			wake = p.wakeChan()
			continue
		}
		select {
		case <-wake:
			wake = nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-expired:
			return nil, context.DeadlineExceeded
		}
	}
}

// dial opens a connection, for the caller of get that set p.dialing.
func (p *connPool) dial(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout) // rare: a context of its own will do
	c, err := dialH2(ctx, p.addr, p.authority, p.tls, p.notify)
	cancel()
	p.mu.Lock()
	close(p.dialing)
	p.dialing = nil
	if err == nil && p.closed {
		err = errPoolClosed
	} else if err == nil {
		p.conns = append(p.conns, c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.close()
	}
	return err
}

// pruneLocked drops connections that take no new streams; each closes
// itself once its last stream ends.
func (p *connPool) pruneLocked() {
	live := p.conns[:0]
	for _, c := range p.conns {
		if c.usable() {
			live = append(live, c)
		}
	}
	clear(p.conns[len(live):])
	p.conns = live
}

func (p *connPool) wakeChan() chan struct{} {
	for {
		if ch := p.wake.Load(); ch != nil {
			return *ch
		}
		ch := make(chan struct{})
		if p.wake.CompareAndSwap(nil, &ch) {
			return ch
		}
	}
}

func (p *connPool) notify() {
	if ch := p.wake.Swap(nil); ch != nil {
		close(*ch)
	}
}

// close closes every connection; requests in flight fail.
func (p *connPool) close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}
