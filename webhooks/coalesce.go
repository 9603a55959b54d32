package webhooks

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// coalescer shares one store call among many small concurrent calls: a
// caller hands its items to a writer, which takes whatever else is waiting
// (up to max items) and makes one call for all of them. Thousands of HTTP
// requests a second then cost a few statements a second.
type coalescer[T, R any] struct {
	max     int
	timeout time.Duration
	write   func(ctx context.Context, items []T) ([]R, error)
	onError func(n int, err error)
	// base is the context the writers' writes start from (start's, without
	// its end).
	base context.Context

	// reqs is unbuffered: a request is either taken by a writer, which
	// then always answers it, or not sent at all.
	reqs    chan *coalesced[T, R]
	stop    chan struct{}
	started atomic.Bool
	stopped atomic.Bool
	once    sync.Once
	wg      sync.WaitGroup
}

type coalesced[T, R any] struct {
	items []T
	done  chan coalescedResult[R]
}

type coalescedResult[R any] struct {
	out []R
	err error
}

func newCoalescer[T, R any](max int, timeout time.Duration, write func(context.Context, []T) ([]R, error), onError func(int, error)) *coalescer[T, R] {
	return &coalescer[T, R]{max: max, timeout: timeout, write: write, onError: onError,
		reqs: make(chan *coalesced[T, R]), stop: make(chan struct{})}
}

// do returns write's answers for items, sharing the call with others when
// the writers run. Large calls, and calls before start or after shutdown,
// are written on their own.
func (c *coalescer[T, R]) do(ctx context.Context, items []T) ([]R, error) {
	if !c.started.Load() || c.stopped.Load() || len(items) >= c.max/2 {
		return c.writeAll(ctx, items)
	}
	req := &coalesced[T, R]{items: items, done: make(chan coalescedResult[R], 1)}
	select {
	case c.reqs <- req:
	case <-c.stop:
		return c.writeAll(ctx, items)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-req.done:
		return r.out, r.err
	case <-ctx.Done():
		// The shared write goes on: the caller learns nothing about it,
		// and trying again is harmless because writes are idempotent.
		return nil, ctx.Err()
	}
}

func (c *coalescer[T, R]) writeAll(ctx context.Context, items []T) ([]R, error) {
	var out []R
	for len(items) > 0 {
		n := min(len(items), c.max)
		r, err := c.write(ctx, items[:n])
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
		items = items[n:]
	}
	return out, nil
}

func (c *coalescer[T, R]) start(ctx context.Context, writers int) {
	if c.stopped.Load() || c.started.Swap(true) {
		return
	}
	c.base = context.WithoutCancel(ctx)
	for range writers {
		c.wg.Go(c.writer)
	}
}

func (c *coalescer[T, R]) writer() {
	for {
		var first *coalesced[T, R]
		select {
		case first = <-c.reqs:
		case <-c.stop:
			return
		}
		group := []*coalesced[T, R]{first}
		items := first.items
	gather:
		for len(items) < c.max {
			select {
			case req := <-c.reqs:
				group = append(group, req)
				items = append(items[:len(items):len(items)], req.items...)
			default:
				break gather
			}
		}
		// Not the callers' contexts: one caller giving up must not fail
		// the others' items.
		ctx, cancel := context.WithTimeout(c.base, c.timeout)
		out, err := c.write(ctx, items)
		cancel()
		if err != nil && c.onError != nil {
			c.onError(len(items), err)
		}
		at := 0
		for _, req := range group {
			r := coalescedResult[R]{err: err}
			if err == nil && len(out) >= at+len(req.items) {
				r.out = out[at : at+len(req.items)]
			}
			at += len(req.items)
			req.done <- r
		}
	}
}

func (c *coalescer[T, R]) shutdown(ctx context.Context) error {
	c.once.Do(func() {
		c.stopped.Store(true)
		close(c.stop)
	})
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
