package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// embeddedRedis is an in-process Redis (miniredis) on a loopback port, for
// installations without a Redis server. It keeps nothing across restarts;
// the database is the source of truth, so nothing accepted is lost with it.
//
// Any local user can connect to a loopback port, and whoever reaches the
// queue can read tasks and inject them, so it requires a password made at
// start and known only to this process (never logged: URL carries it).
type embeddedRedis struct {
	mr       *miniredis.Miniredis
	password string
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startEmbeddedRedis() (*embeddedRedis, error) {
	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	mr := miniredis.NewMiniRedis()
	// Before the port opens, so no connection ever gets in without it.
	mr.RequireAuth(hex.EncodeToString(pw))
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	e := &embeddedRedis{mr: mr, password: hex.EncodeToString(pw), stop: make(chan struct{})}
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

// URL is how the node's own clients connect, password included.
func (e *embeddedRedis) URL() string {
	return (&url.URL{Scheme: "redis", User: url.UserPassword("", e.password), Host: e.mr.Addr()}).String()
}

func (e *embeddedRedis) Close() {
	close(e.stop)
	e.wg.Wait()
	e.mr.Close()
}
