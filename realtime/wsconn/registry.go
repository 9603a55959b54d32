package wsconn

import (
	"errors"
	"sync"
	"time"
)

// errClosed refuses connections once the Upgrader is closed.
var errClosed = errors.New("wsconn: the upgrader is closed")

// registry holds an Upgrader's open connections by number: the poller's
// events name them by it, and a sweep pings each of them once a
// heartbeat (a part of them at a time) and ends those silent for two, so
// that a connection needs no timer of its own.
type registry struct {
	heartbeat time.Duration

	mu      sync.Mutex
	conns   map[uint64]*Conn
	next    uint64
	started bool
	closed  bool
	stop    chan struct{}
}

func newRegistry(heartbeat time.Duration) *registry {
	return &registry{heartbeat: heartbeat, conns: map[uint64]*Conn{}, stop: make(chan struct{})}
}

// add numbers c and starts the sweep with the first connection.
func (r *registry) add(c *Conn) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errClosed
	}
	r.next++
	c.id = r.next
	r.conns[c.id] = c
	if !r.started {
		r.started = true
		go r.sweep()
	}
	return nil
}

func (r *registry) remove(c *Conn) {
	r.mu.Lock()
	delete(r.conns, c.id)
	r.mu.Unlock()
}

func (r *registry) get(id uint64) *Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[id]
}

func (r *registry) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		close(r.stop)
	}
}

// sweepSlots is how many parts a heartbeat's sweep is cut into: each
// tick pings one part, so that ten thousand idle connections cost a
// few milliseconds of writes every heartbeat/sweepSlots instead of one
// burst that would hold up a fan-out behind it for a hundred.
const sweepSlots = 32

func (r *registry) sweep() {
	slots, every := uint64(sweepSlots), r.heartbeat/sweepSlots
	if every < time.Millisecond {
		slots, every = 1, r.heartbeat
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var tick uint64
	var open []*Conn
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			slot := tick % slots
			tick++
			r.mu.Lock()
			for id, c := range r.conns {
				if id%slots == slot {
					open = append(open, c)
				}
			}
			r.mu.Unlock()
			for _, c := range open {
				c.heartbeat(now, r.heartbeat)
			}
			clear(open)
			open = open[:0]
		}
	}
}
