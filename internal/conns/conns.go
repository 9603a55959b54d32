package conns

import (
	"context"
	"fmt"
	"net"
	"sync"
)

// Registry is the set of open long-lived connections. The zero value is
// ready to use; a Registry must not be copied after first use.
type Registry struct {
	mu      sync.Mutex
	open    map[Closer]struct{}
	closing bool
	// ctx is the context of the first Shutdown, given to the close
	// function of a connection tracked after it began.
	ctx context.Context
	// ended is closed once closing has begun and nothing is open.
	ended chan struct{}
}

// Closer is an open connection that ends itself: CloseConn must end it,
// and may spend until its context ends on a goodbye (a WebSocket close
// frame). A connection that implements it can be tracked with Add and
// Done, which keep no closure for it.
type Closer interface {
	CloseConn(ctx context.Context)
}

// entry is a connection tracked by its close function.
type entry struct {
	close func(ctx context.Context)
}

// CloseConn runs the close function Track was given.
func (e *entry) CloseConn(ctx context.Context) { e.close(ctx) }

// Track registers an open connection by the function that ends it. close
// must end the connection: it may spend until its context ends on a
// goodbye (a WebSocket close frame), then closes. Shutdown calls it at
// most once, in a goroutine of its own; a connection tracked after
// Shutdown began is closed at once.
//
// Track returns the function the handler calls when the connection has
// ended, whether Shutdown or anything else ended it; calling it again does
// nothing.
func (r *Registry) Track(close func(ctx context.Context)) (done func()) {
	e := &entry{close: close}
	r.Add(e)
	return func() { r.Done(e) } // removing twice does nothing
}

// Add tracks c as Track does, and Done is its done function: a session
// that implements Closer itself costs the registry one map entry and no
// closure (ten thousand idle Pusher connections are a few hundred KiB
// less). Shutdown calls c.CloseConn at most once, in a goroutine of its
// own; c must be comparable, and tracked once.
func (r *Registry) Add(c Closer) {
	r.mu.Lock()
	if r.open == nil {
		r.open = map[Closer]struct{}{}
	}
	r.open[c] = struct{}{}
	closing, ctx := r.closing, r.ctx
	r.mu.Unlock()
	if closing {
		go c.CloseConn(ctx)
	}
}

// TrackConn tracks a hijacked connection that needs no goodbye: Shutdown
// closes it.
func (r *Registry) TrackConn(c net.Conn) (done func()) {
	return r.Track(func(context.Context) { c.Close() })
}

// Done takes c out once its connection has ended, and reports whether it
// was there: a second call does nothing and reports false.
func (r *Registry) Done(c Closer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.open[c]; !ok {
		return false
	}
	delete(r.open, c)
	if r.closing && len(r.open) == 0 {
		r.signalEnded()
	}
	return true
}

// signalEnded closes ended once; r.mu is held.
func (r *Registry) signalEnded() {
	select {
	case <-r.ended:
	default:
		close(r.ended)
	}
}

// Len is the number of open connections.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.open)
}

// Shutdown ends every tracked connection and waits until each one's done
// function has been called, or ctx ends (then it says how many are still
// open). It may be called more than once: the first call closes, every
// call waits.
func (r *Registry) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	var closeNow []Closer
	if !r.closing {
		r.closing, r.ctx, r.ended = true, ctx, make(chan struct{})
		for e := range r.open {
			closeNow = append(closeNow, e)
		}
		if len(r.open) == 0 {
			r.signalEnded()
		}
	}
	ended := r.ended
	r.mu.Unlock()
	for _, c := range closeNow {
		go c.CloseConn(ctx)
	}
	select {
	case <-ended:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close long-lived connections: %d still open: %w", r.Len(), ctx.Err())
	}
}
