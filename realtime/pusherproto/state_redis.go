package pusherproto

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisState keeps State in Redis, under "<namespace>:pusher:<app>:...":
// a hash of subscription counts per app, two hashes per presence channel
// (each user's connection count, and user_info), a string per cache
// channel. Counts change in Lua scripts, so that two nodes never both see
// a user's first join or last leave.
//
// A node that dies without its connections ending leaves their counts
// behind; they are corrected only when the channel's count is otherwise
// cleared (a known limit, docs/pusher.md).
type RedisState struct {
	client redis.UniversalClient
	prefix string
	// cacheTTL is how long a cache channel keeps its last event.
	cacheTTL time.Duration
}

var _ State = (*RedisState)(nil)

// NewRedisState keeps state on client (the caller's to close) under
// namespace ("" is "pushgate").
func NewRedisState(client redis.UniversalClient, namespace string) *RedisState {
	if namespace == "" {
		namespace = "pushgate"
	}
	return &RedisState{client: client, prefix: namespace + ":pusher:", cacheTTL: 30 * time.Minute}
}

func (r *RedisState) key(appID string, parts ...string) string {
	return r.prefix + appID + ":" + strings.Join(parts, ":")
}

var (
	decr = redis.NewScript(`
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) return 0 end
return n`)
	join = redis.NewScript(`
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if n == 1 then
  if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[3]) then
    redis.call('HDEL', KEYS[1], ARGV[1])
    return -1
  end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
return n`)
	leave = redis.NewScript(`
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 0
end
return n`)
)

func (r *RedisState) Subscribed(ctx context.Context, appID, channel string) error {
	return r.client.HIncrBy(ctx, r.key(appID, "channels"), channel, 1).Err()
}

func (r *RedisState) Unsubscribed(ctx context.Context, appID, channel string) error {
	return decr.Run(ctx, r.client, []string{r.key(appID, "channels")}, channel).Err()
}

func (r *RedisState) Join(ctx context.Context, appID, channel, userID string, info json.RawMessage, limit int) (bool, error) {
	if info == nil {
		info = json.RawMessage("null")
	}
	keys := []string{r.key(appID, "conns", channel), r.key(appID, "members", channel)}
	n, err := join.Run(ctx, r.client, keys, userID, string(info), limit).Int()
	switch {
	case err != nil:
		return false, err
	case n < 0:
		return false, ErrMemberLimit
	}
	return n == 1, nil
}

func (r *RedisState) Leave(ctx context.Context, appID, channel, userID string) (bool, error) {
	keys := []string{r.key(appID, "conns", channel), r.key(appID, "members", channel)}
	n, err := leave.Run(ctx, r.client, keys, userID).Int()
	return err == nil && n == 0, err
}

func (r *RedisState) Members(ctx context.Context, appID, channel string) (map[string]json.RawMessage, error) {
	all, err := r.client.HGetAll(ctx, r.key(appID, "members", channel)).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(all))
	for id, info := range all {
		out[id] = json.RawMessage(info)
	}
	return out, nil
}

func (r *RedisState) Channels(ctx context.Context, appID, prefix string) (map[string]int, error) {
	all, err := r.client.HGetAll(ctx, r.key(appID, "channels")).Result()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for name, v := range all {
		if n, _ := strconv.Atoi(v); n > 0 && strings.HasPrefix(name, prefix) {
			out[name] = n
		}
	}
	return out, nil
}

func (r *RedisState) Subscriptions(ctx context.Context, appID, channel string) (int, error) {
	n, err := r.client.HGet(ctx, r.key(appID, "channels"), channel).Int()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

func (r *RedisState) SetLast(ctx context.Context, appID, channel string, frame []byte) error {
	return r.client.Set(ctx, r.key(appID, "cache", channel), frame, r.cacheTTL).Err()
}

func (r *RedisState) Last(ctx context.Context, appID, channel string) ([]byte, error) {
	b, err := r.client.Get(ctx, r.key(appID, "cache", channel)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return b, err
}
