package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// inFlight limits the calls a node has under way to one provider, and
// moves the limit with the provider's round trip (issue 18).
//
// Every call under way at a crash may have reached the provider without
// its answer reaching the node, and is sent again after recovery. A node
// runs up to worker_concurrency × delivery_concurrency sends at once
// (1,280 by default), which a distant provider needs to keep the rate up
// (by Little's law, calls under way = rate × round trip), but which a
// near or saturated one only queues: the round trip then grows with the
// calls under way while the rate does not. So the limit grows while the
// round trip stays within twice the lowest one seen (plus a little for a
// busy scheduler) and the limit is what holds the calls back (by half
// again each window while the round trip stays near the lowest, so that
// a distant provider's rate is reached within a second; by a tenth beyond),
// and shrinks when the round trip grows past that (by a quarter past four
// times the lowest): the calls under way stay about as many as the rate
// needs. Tasks wait for a slot in turn.
//
// The lowest round trip drifts up slowly (1/64 a window) when no call
// matches it, so that a provider that moved further away is followed.
type inFlight struct {
	mu      sync.Mutex
	limit   float64
	n       int
	waiting []chan struct{}
	spare   sync.Pool // of waiting's channels, empty (waiter)

	// The current window of round trips.
	start     time.Time
	samples   int
	sum       time.Duration
	least     time.Duration
	saturated bool // a call found the limit reached in this window
	floor     time.Duration
	now       func() time.Time // time.Now; tests move it on
	gauge     prometheus.Gauge // shows the limit (nil: nowhere)
}

const (
	inFlightStart = 256
	// inFlightMin is the floor: on a node that is itself short of CPU,
	// the round trip grows with the node's own queues, not the
	// provider's, and a floor of 32 cost about a quarter of the rate
	// (fewer calls per write on the connection, fewer results per write
	// of them) for a few milliseconds of sends fewer at a crash.
	inFlightMin    = 128
	inFlightMax    = 100000
	inFlightWindow = 100 * time.Millisecond
	// inFlightSlack is what a round trip may exceed twice the lowest by
	// before the limit shrinks: the node's own scheduling on a busy machine.
	inFlightSlack = 2 * time.Millisecond
)

func newInFlight() *inFlight {
	return &inFlight{limit: inFlightStart, start: time.Now(), now: time.Now}
}

// acquire waits for a slot; it fails only when ctx ends first.
func (l *inFlight) acquire(ctx context.Context) error {
	l.mu.Lock()
	if l.n < int(l.limit) && len(l.waiting) == 0 {
		l.n++
		l.mu.Unlock()
		return nil
	}
	l.saturated = true
	ch := l.waiter()
	l.waiting = append(l.waiting, ch)
	l.mu.Unlock()
	select {
	case <-ch:
		l.spare.Put(ch)
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		for i, w := range l.waiting {
			if w == ch {
				l.waiting = append(l.waiting[:i], l.waiting[i+1:]...)
				l.mu.Unlock()
				l.spare.Put(ch)
				return ctx.Err()
			}
		}
		l.mu.Unlock()
		<-ch // given a slot meanwhile (release sent it holding mu)
		l.spare.Put(ch)
		l.release(0) // hand it on
		return ctx.Err()
	}
}

// waiter is a channel to wait for a slot on: release sends on it once.
// They are reused: a saturated limit made one for every call.
func (l *inFlight) waiter() chan struct{} {
	if ch, ok := l.spare.Get().(chan struct{}); ok {
		return ch
	}
	return make(chan struct{}, 1)
}

// release ends a call that took rtt (0: none was made) and hands its slot
// on.
func (l *inFlight) release(rtt time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rtt > 0 {
		l.observe(rtt)
	}
	l.n--
	for len(l.waiting) > 0 && l.n < int(l.limit) {
		l.n++
		l.waiting[0] <- struct{}{} // never blocks: empty, and one send each
		l.waiting = l.waiting[1:]
	}
}

// observe adds a round trip to the window, and moves the limit at the end
// of a window.
func (l *inFlight) observe(rtt time.Duration) {
	l.samples++
	l.sum += rtt
	if l.least == 0 || rtt < l.least {
		l.least = rtt
	}
	if l.samples < 16 || l.now().Sub(l.start) < inFlightWindow {
		return
	}
	if l.floor == 0 || l.least < l.floor {
		l.floor = l.least
	} else {
		l.floor += l.floor / 64
	}
	avg := l.sum / time.Duration(l.samples)
	switch {
	case avg > 4*l.floor+inFlightSlack:
		l.limit = max(inFlightMin, l.limit*0.75)
	case avg > 2*l.floor+inFlightSlack:
		l.limit = max(inFlightMin, l.limit*0.9)
	case !l.saturated:
	case avg <= l.floor+l.floor/4+inFlightSlack/2:
		l.limit = min(inFlightMax, l.limit*1.5) // nothing queues: the rate needs more
	default:
		l.limit = min(inFlightMax, l.limit+max(1, l.limit/10))
	}
	if l.gauge != nil {
		l.gauge.Set(float64(int(l.limit)))
	}
	l.start, l.samples, l.sum, l.least, l.saturated = l.now(), 0, 0, 0, false
}

// current is the limit now (the gauge shows it as of the last window).
func (l *inFlight) current() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

// inFlights keeps one limit per provider of a node.
type inFlights struct {
	m       sync.Map
	metrics *Metrics
}

func (f *inFlights) of(provider string) *inFlight {
	if l, ok := f.m.Load(provider); ok {
		return l.(*inFlight)
	}
	l := newInFlight()
	if l.gauge = f.metrics.inFlightLimit(provider); l.gauge != nil {
		l.gauge.Set(inFlightStart)
	}
	got, _ := f.m.LoadOrStore(provider, l)
	return got.(*inFlight)
}
