package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisBroker carries events between nodes over Redis pub/sub, on one
// channel per installation ("<namespace>:realtime"), so installations and
// tests sharing a Redis stay apart. Pub/sub is at most once: an event
// published while a node's subscription is down never reaches that node
// (its clients catch up from the inbox when they reconnect).
//
// A lost subscription (Redis restarted, connection cut) is made again with
// a growing pause, each loss and recovery logged; a subscription silent for
// two health intervals is pinged, and dropped if the ping goes unanswered.
type RedisBroker struct {
	client  redis.UniversalClient
	channel string
	log     *slog.Logger
	health  time.Duration
}

var _ Broker = (*RedisBroker)(nil)

// RedisOptions configure a RedisBroker.
type RedisOptions struct {
	// Namespace prefixes the channel; "" is "pushgate".
	Namespace string
	Logger    *slog.Logger
	// HealthInterval is how long a silent subscription waits before it pings
	// Redis; 0 is 15 s.
	HealthInterval time.Duration
}

// NewRedisBroker returns a broker on client (from internal/redisconn), which
// stays the caller's to close, after every subscription is cancelled.
func NewRedisBroker(client redis.UniversalClient, opts RedisOptions) *RedisBroker {
	b := &RedisBroker{client: client, channel: opts.Namespace, log: opts.Logger, health: opts.HealthInterval}
	if b.channel == "" {
		b.channel = "pushgate"
	}
	b.channel += ":realtime"
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.health <= 0 {
		b.health = 15 * time.Second
	}
	return b
}

// Channel returns the Redis channel the broker uses.
func (b *RedisBroker) Channel() string { return b.channel }

// Publish sends e to the channel as JSON.
func (b *RedisBroker) Publish(ctx context.Context, e *Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.client.Publish(ctx, b.channel, data).Err()
}

// Subscribe returns once Redis confirms the subscription; deliver then runs
// in one goroutine, one event at a time.
func (b *RedisBroker) Subscribe(ctx context.Context, deliver func(*Event)) (func(), error) {
	ps, err := b.subscribe(ctx)
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { b.run(runCtx, ps, deliver) })
	var once sync.Once
	return func() { once.Do(func() { stop(); wg.Wait() }) }, nil
}

// subscribe opens a subscription and waits for Redis to confirm it.
func (b *RedisBroker) subscribe(ctx context.Context) (*redis.PubSub, error) {
	ps := b.client.Subscribe(ctx, b.channel)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, err
	}
	return ps, nil
}

// run listens until ctx ends, subscribing again after each loss.
func (b *RedisBroker) run(ctx context.Context, ps *redis.PubSub, deliver func(*Event)) {
	pause := 50 * time.Millisecond
	for {
		err := b.listen(ctx, ps, deliver)
		_ = ps.Close()
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("realtime: Redis subscription lost; subscribing again", "channel", b.channel, "err", err)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
			if ps, err = b.subscribe(ctx); err == nil {
				break
			}
			pause = min(2*pause, 5*time.Second)
			b.log.Debug("realtime: Redis subscription still down", "err", err)
		}
		b.log.Info("realtime: Redis subscription back", "channel", b.channel)
		pause = 50 * time.Millisecond
	}
}

// listen delivers what ps receives until ps fails or ctx ends.
func (b *RedisBroker) listen(ctx context.Context, ps *redis.PubSub, deliver func(*Event)) error {
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.health)
		var netErr interface{ Timeout() bool }
		switch {
		case err != nil && errors.As(err, &netErr) && netErr.Timeout() && !pinged && ctx.Err() == nil:
			pinged = true
			if err := ps.Ping(ctx); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		pinged = false
		if m, ok := msg.(*redis.Message); ok {
			var e Event
			if err := json.Unmarshal([]byte(m.Payload), &e); err != nil {
				b.log.Error("realtime: an event from Redis does not decode", "err", err)
				continue
			}
			deliver(&e)
		}
	}
}
