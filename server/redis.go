package server

import (
	"fmt"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// embeddedRedis is an in-process Redis (miniredis) on a loopback port, for
// installations without a Redis server. It keeps nothing across restarts;
// the database is the source of truth, so nothing accepted is lost with it.
type embeddedRedis struct {
	mr   *miniredis.Miniredis
	stop chan struct{}
	wg   sync.WaitGroup
}

func startEmbeddedRedis() (*embeddedRedis, error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	e := &embeddedRedis{mr: mr, stop: make(chan struct{})}
	// miniredis only lets keys expire when told to; the queue's leases and
	// locks rely on expiry, so time is moved on here as it passes.
	e.wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-e.stop:
				return
			case now := <-t.C:
				mr.FastForward(now.Sub(last))
				last = now
			}
		}
	})
	return e, nil
}

func (e *embeddedRedis) URL() string { return "redis://" + e.mr.Addr() }

func (e *embeddedRedis) Close() {
	close(e.stop)
	e.wg.Wait()
	e.mr.Close()
}
