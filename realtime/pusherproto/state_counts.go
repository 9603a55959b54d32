package pusherproto

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A node counts its own subscriptions of each channel, and only a change
// from none to some, or from some to none, waits for Redis: those are the
// ones that may occupy or vacate the channel on every node, and the
// script that makes them returns the count every node sees. A change
// between (ten thousand connections joining a channel this node already
// has) is added to Redis in the background, many in one round trip, so a
// subscription waits for no Redis round trip but its channel's first.
//
// Reads of the counts (Subscriptions, Channels) add what this node has
// pending first, so that a subscription answered here is counted by any
// call made here after it; other nodes see it within a round trip.

// counts are a RedisState's own subscriptions and the changes of them not
// yet in Redis.
type counts struct {
	mu       sync.Mutex
	local    map[chanKey]int // this node's subscriptions, by channel
	pending  map[chanKey]int // changes not yet added to Redis
	flushing bool            // a goroutine adds pending to Redis
	// io serialises the Redis writes of a stripe of channels, so that a
	// change that must wait for Redis is never overtaken by an older one.
	io [16]sync.Mutex
}

type chanKey struct{ app, channel string }

func (k chanKey) stripe() int {
	h := fnv.New32a()
	h.Write([]byte(k.app))
	h.Write([]byte{0})
	h.Write([]byte(k.channel))
	return int(h.Sum32() % 16)
}

// add changes a channel's count in Redis by delta (its share of this
// node's too) and returns the count after.
var add = redis.NewScript(`
if redis.call('HINCRBY', KEYS[2], ARGV[2], ARGV[3]) <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[3])
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) return 0 end
return n`)

func (r *RedisState) Subscribed(ctx context.Context, appID, channel string) (int, error) {
	return r.change(ctx, chanKey{appID, channel}, 1)
}

func (r *RedisState) Unsubscribed(ctx context.Context, appID, channel string) (int, error) {
	return r.change(ctx, chanKey{appID, channel}, -1)
}

// change counts one subscription more or less: in the background when
// this node keeps some subscriptions of the channel either way (it
// returns this node's count then: at least 1, and a lower bound of the
// count every node sees), else at once.
func (r *RedisState) change(ctx context.Context, k chanKey, delta int) (int, error) {
	c := &r.counts
	c.mu.Lock()
	n := c.local[k]
	switch after := n + delta; {
	case n > 0 && after > 0:
		c.local[k] = after
		c.pending[k] += delta
		start := !c.flushing
		c.flushing = true
		c.mu.Unlock()
		if start {
			go r.flushInBackground()
		}
		return after, nil
	case after > 0:
		c.local[k] = after
	default:
		delete(c.local, k)
	}
	c.mu.Unlock()
	mu := &c.io[k.stripe()]
	mu.Lock()
	defer mu.Unlock()
	c.mu.Lock()
	d := c.pending[k]
	delete(c.pending, k)
	c.mu.Unlock()
	total, err := r.addCount(ctx, k, delta+d)
	if err != nil {
		c.mu.Lock()
		c.pending[k] += d // tried again with the next change
		c.mu.Unlock()
	}
	return total, err
}

func (r *RedisState) addCount(ctx context.Context, k chanKey, delta int) (int, error) {
	keys := []string{r.key(k.app, "channels"), r.nodeKey(r.node)}
	return add.Run(ctx, r.client, keys, k.channel, share(k.app, k.channel, ""), delta).Int()
}

// flushInBackground adds what is pending to Redis until nothing is.
func (r *RedisState) flushInBackground() {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := r.flush(ctx)
		cancel()
		c := &r.counts
		c.mu.Lock()
		if err != nil || len(c.pending) == 0 {
			c.flushing = false // on an error, the next change tries again
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// flush adds what is pending to Redis, a stripe of channels at a time,
// each stripe's changes in one round trip.
func (r *RedisState) flush(ctx context.Context) error {
	c := &r.counts
	for i := range c.io {
		c.io[i].Lock()
		// Every stripe is locked in turn, even with nothing pending: a
		// read that flushes first must wait for the writes in flight.
		var batch map[chanKey]int
		c.mu.Lock()
		for k, d := range c.pending {
			if k.stripe() == i {
				if batch == nil {
					batch = map[chanKey]int{}
				}
				batch[k] = d
				delete(c.pending, k)
			}
		}
		c.mu.Unlock()
		err := r.addCounts(ctx, batch)
		if err != nil {
			c.mu.Lock()
			for k, d := range batch {
				c.pending[k] += d
			}
			c.mu.Unlock()
		}
		c.io[i].Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *RedisState) addCounts(ctx context.Context, batch map[chanKey]int) error {
	if len(batch) == 0 {
		return nil
	}
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k, d := range batch {
			if d != 0 {
				keys := []string{r.key(k.app, "channels"), r.nodeKey(r.node)}
				add.Run(ctx, p, keys, k.channel, share(k.app, k.channel, ""), d)
			}
		}
		return nil
	})
	return err
}
