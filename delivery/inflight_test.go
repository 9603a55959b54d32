package delivery

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// drive runs windows of calls against l with the round trip rtt(n) for n
// calls under way (all slots taken: the node has more sends than the
// limit) and returns the limit after them.
func drive(l *inFlight, clock *time.Time, windows int, rtt func(n int) time.Duration) int {
	for range windows {
		limit := int(l.limit)
		for range limit {
			if err := l.acquire(context.Background()); err != nil {
				panic(err)
			}
		}
		l.mu.Lock()
		l.saturated = true // more sends wait than the limit lets through
		l.mu.Unlock()
		*clock = clock.Add(inFlightWindow)
		for range limit {
			l.release(rtt(limit))
		}
	}
	return l.current()
}

func testInFlight() (*inFlight, *time.Time) {
	clock := time.Unix(0, 0)
	l := newInFlight()
	l.now = func() time.Time { return clock }
	l.start = clock
	return l, &clock
}

// A distant provider (the round trip the same however many calls are
// under way): the limit grows until it no longer holds sends back.
func TestInFlightGrowsForADistantProvider(t *testing.T) {
	l, clock := testInFlight()
	got := drive(l, clock, 8, func(int) time.Duration { return 100 * time.Millisecond })
	if got < 2000 {
		t.Fatalf("limit %d after 8 windows at a steady 100 ms round trip, want it grown past 2000", got)
	}
}

// A provider that only queues (the round trip grows with the calls under
// way, as against a fast fake on a busy machine): the limit comes down to
// what the rate needs, and goes no lower than its floor.
func TestInFlightShrinksWhenCallsOnlyQueue(t *testing.T) {
	l, clock := testInFlight()
	queued := func(n int) time.Duration { return time.Duration(n) * 100 * time.Microsecond } // 10,000/s whatever n
	drive(l, clock, 2, func(int) time.Duration { return 200 * time.Microsecond })            // the lowest round trip
	got := drive(l, clock, 30, queued)
	if most := max(64, inFlightMin); got > most || got < inFlightMin {
		t.Fatalf("limit %d with a round trip of n × 100 µs, want between %d and %d", got, inFlightMin, most)
	}
}

// Never more calls under way than the limit; waiting calls get their
// slots in turn, and one whose context ends stops waiting.
func TestInFlightBoundsCalls(t *testing.T) {
	l, _ := testInFlight()
	l.limit = 4
	var under, most atomic.Int32
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			if err := l.acquire(context.Background()); err != nil {
				t.Error(err)
				return
			}
			n := under.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(time.Millisecond)
			under.Add(-1)
			l.release(time.Millisecond)
		})
	}
	wg.Wait()
	if most.Load() > 4 || most.Load() == 0 {
		t.Fatalf("%d calls under way at most, limit 4", most.Load())
	}
	for range 4 {
		if err := l.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := l.acquire(ctx); err == nil {
		t.Fatal("a fifth call got a slot with four under way, limit 4")
	}
	l.release(0)
	if err := l.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l.n != 4 || len(l.waiting) != 0 {
		t.Fatalf("%d under way, %d waiting; want 4 and none", l.n, len(l.waiting))
	}
}

// TestInFlightCancelledWaitersKeepCount: waiters whose context ends while
// slots are handed on (their channels then reused) neither lose a slot
// nor let a call past the limit.
func TestInFlightCancelledWaitersKeepCount(t *testing.T) {
	l, _ := testInFlight()
	l.limit = 2
	var under, most atomic.Int32
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%7)*100*time.Microsecond)
			defer cancel()
			if l.acquire(ctx) != nil {
				return
			}
			n := under.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(50 * time.Microsecond)
			under.Add(-1)
			l.release(0)
		})
	}
	wg.Wait()
	if most.Load() > 2 {
		t.Errorf("%d calls under way at most, limit 2", most.Load())
	}
	l.mu.Lock()
	n, waiting := l.n, len(l.waiting)
	l.mu.Unlock()
	if n != 0 || waiting != 0 {
		t.Fatalf("%d under way, %d waiting after every call ended; want none", n, waiting)
	}
}
