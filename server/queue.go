package server

import (
	"context"
	"fmt"
	"time"

	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/internal/redisconn"
)

// openQueue connects to the configured Redis, or starts an embedded one,
// checks it answers and opens the queue's client.
func (s *Server) openQueue(ctx context.Context) error {
	redisURL := s.cfg.RedisURL
	if redisURL == "" {
		var err error
		if s.embedded, err = startEmbeddedRedis(); err != nil {
			return err
		}
		redisURL = s.embedded.URL()
	}
	opt, err := redisconn.Options(redisURL)
	if err != nil {
		return fmt.Errorf("redis_url: %w", err)
	}
	s.redisOpt = opt
	s.redis = redisconn.Client(opt)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.redis.Ping(pctx).Err(); err != nil {
		return fmt.Errorf("redis_url: connect to %s: %w", redactRedis(s.cfg.RedisURL), err)
	}
	s.Queue = delivery.NewQueue(delivery.QueueOptions{Redis: opt, Namespace: s.cfg.QueueNamespace})
	return nil
}
