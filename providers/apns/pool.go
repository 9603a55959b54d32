package apns

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
)

var errPoolClosed = errors.New("apns: provider closed")

// connPool is the HTTP/2 connections of one provider to one APNS host.
//
// http.Transport alone dials one connection per waiting request while no
// HTTP/2 connection exists yet, so a burst of first sends would open (and
// then drop) dozens of TLS connections to Apple, which Apple treats as
// abuse. The pool dials one connection at a time, multiplexes every request
// over the open ones, and adds a connection only when all of them are at
// the stream limit Apple set, up to max.
type connPool struct {
	t    *http.Transport
	addr string // host:port
	max  int    // 0: no limit

	mu      sync.Mutex
	conns   []*http.ClientConn
	dialing chan struct{} // closed when the dial in progress ends
	closed  bool

	// wake is closed when a connection frees a stream; the connections'
	// state hooks close it without taking mu, which they may not: a hook
	// can run inside Reserve, called with mu held.
	wake atomic.Pointer[chan struct{}]
}

func newConnPool(t *http.Transport, addr string, max int) *connPool {
	return &connPool{t: t, addr: addr, max: max}
}

func (p *connPool) RoundTrip(req *http.Request) (*http.Response, error) {
	cc, err := p.get(req.Context())
	if err != nil {
		return nil, err
	}
	return cc.RoundTrip(req) // consumes the reservation get made
}

// get returns a connection with a stream reserved for the caller.
func (p *connPool) get(ctx context.Context) (*http.ClientConn, error) {
	var wake chan struct{}
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errPoolClosed
		}
		dead := p.pruneLocked()
		for _, cc := range p.conns {
			if cc.Reserve() == nil {
				p.mu.Unlock()
				closeAll(dead)
				return cc, nil
			}
		}
		dialing := p.dialing
		dial := dialing == nil && (p.max <= 0 || len(p.conns) < p.max)
		if dial {
			p.dialing = make(chan struct{})
		}
		p.mu.Unlock()
		closeAll(dead)

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
		}
	}
}

// dial opens a connection, for the caller of get that set p.dialing.
func (p *connPool) dial(ctx context.Context) error {
	cc, err := p.t.NewClientConn(ctx, "https", p.addr)
	if err == nil {
		cc.SetStateHook(p.notify)
	}
	p.mu.Lock()
	close(p.dialing)
	p.dialing = nil
	if err == nil && p.closed {
		err = errPoolClosed
	} else if err == nil {
		p.conns = append(p.conns, cc)
		cc = nil
	}
	p.mu.Unlock()
	if cc != nil {
		cc.Close()
	}
	return err
}

// pruneLocked drops connections that can no longer be used and returns
// them, to be closed once mu is released.
func (p *connPool) pruneLocked() []*http.ClientConn {
	var dead []*http.ClientConn
	live := p.conns[:0]
	for _, cc := range p.conns {
		if cc.Err() != nil {
			dead = append(dead, cc)
			continue
		}
		live = append(live, cc)
	}
	clear(p.conns[len(live):])
	p.conns = live
	return dead
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

func (p *connPool) notify(*http.ClientConn) {
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
	closeAll(conns)
}

func closeAll(conns []*http.ClientConn) {
	for _, cc := range conns {
		cc.Close()
	}
}
