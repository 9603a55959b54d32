package apns

import (
	"sync/atomic"
	"time"
)

// timeouts bounds requests without a context and a timer of their own
// each: a request waits on a channel that closes between d and d+d/8
// after it began, shared by the requests that began within the same
// eighth of d. context.WithTimeout cost every push five allocations, a
// timer and two trips through the task context's lock (its children).
type timeouts struct {
	d    time.Duration
	slot atomic.Pointer[timeoutSlot]
}

// timeoutSlot is one channel and when it closes.
type timeoutSlot struct {
	closes  time.Time
	expired chan struct{}
	timer   *time.Timer
}

func newTimeouts(d time.Duration) *timeouts { return &timeouts{d: d} }

// after returns a channel that closes no sooner than t.d after now, and
// no later than t.d + t.d/8.
func (t *timeouts) after(now time.Time) <-chan struct{} {
	for {
		cur := t.slot.Load()
		if cur != nil && !cur.closes.Before(now.Add(t.d)) {
			return cur.expired
		}
		wait := t.d + t.d/8
		next := &timeoutSlot{closes: now.Add(wait), expired: make(chan struct{})}
		ch := next.expired
		next.timer = time.AfterFunc(wait, func() { close(ch) })
		if t.slot.CompareAndSwap(cur, next) {
			return ch
		}
		next.timer.Stop() // another request made one first: use that
	}
}
