package httpapi

import (
	"hash/maphash"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimiter is a token bucket per client address (or other key, such as
// an API key's id), kept in memory on each node (a client behind a load balancer that spreads it over n nodes gets
// up to n times the rate). Buckets idle for longer than it takes to refill
// are forgotten, so memory follows the number of active clients.
type ipLimiter struct {
	rate   rate.Limit
	burst  int
	idle   time.Duration
	seed   maphash.Seed
	shards [64]limiterShard
}

type limiterShard struct {
	mu    sync.Mutex
	m     map[string]*limiterEntry
	swept time.Time
}

type limiterEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

func newIPLimiter(perSecond float64, burst int) *ipLimiter {
	l := &ipLimiter{rate: rate.Limit(perSecond), burst: max(burst, 1), seed: maphash.MakeSeed()}
	// A bucket left alone this long is full again: forgetting it changes nothing.
	l.idle = max(time.Duration(float64(l.burst)/perSecond*float64(time.Second)), time.Minute)
	for i := range l.shards {
		l.shards[i].m = make(map[string]*limiterEntry)
	}
	return l
}

// allow takes a token of key's bucket; when there is none it says how long
// until there is.
func (l *ipLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	s := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.swept) > l.idle {
		for k, e := range s.m {
			if now.Sub(e.seen) > l.idle {
				delete(s.m, k)
			}
		}
		s.swept = now
	}
	e := s.m[key]
	if e == nil {
		e = &limiterEntry{lim: rate.NewLimiter(l.rate, l.burst)}
		s.m[key] = e
	}
	e.seen = now
	r := e.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
