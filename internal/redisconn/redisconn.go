// Package redisconn is the one place pushgate turns a Redis URL into
// connections: the options the work queue (asynq) takes, and plain go-redis
// clients on the same server for everything else (readiness checks today,
// the realtime broker's pub/sub next).
//
// It lives under internal/ and imports no pushgate package (only asynq,
// for its URL forms, and go-redis), so delivery and realtime can both use it
// without importing each other, and the root package, which DESIGN.md keeps
// to the standard library, stays free of Redis. It holds no connection
// itself: whoever opens a client closes it.
package redisconn

import (
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Options reads a Redis URL (redis://, rediss://, redis-socket:// or
// redis-sentinel://) into connection options for the queue and for Client.
func Options(url string) (asynq.RedisConnOpt, error) {
	return asynq.ParseRedisURI(url)
}

// Client opens a plain client on the Redis that opt names; Close releases it.
func Client(opt asynq.RedisConnOpt) redis.UniversalClient {
	return opt.MakeRedisClient().(redis.UniversalClient)
}
