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
// Each node also keeps what its own connections added ("<namespace>:
// pusher:node:<node>") and a key that says it is alive; a node that dies
// without its connections ending is found by the others, which take its
// share out (Reap).
type RedisState struct {
	client redis.UniversalClient
	prefix string
	node   string
	// cacheTTL is how long a cache channel keeps its last event.
	cacheTTL time.Duration
	counts   counts // state_counts.go
}

var _ State = (*RedisState)(nil)

// NewRedisState keeps state on client (the caller's to close) under
// namespace ("" is "pushgate") for the node named node (the hub's).
func NewRedisState(client redis.UniversalClient, namespace, node string) *RedisState {
	if namespace == "" {
		namespace = "pushgate"
	}
	r := &RedisState{client: client, prefix: namespace + ":pusher:", node: node, cacheTTL: 30 * time.Minute}
	r.counts.local, r.counts.pending = map[chanKey]int{}, map[chanKey]int{}
	return r
}

// share is the field of the node's hash that counts one channel's
// subscriptions (user "") or one presence member's connections.
func share(appID, channel, userID string) string { return appID + "\n" + channel + "\n" + userID }

func (r *RedisState) nodeKey(node string) string { return r.prefix + "node:" + node }

func (r *RedisState) key(appID string, parts ...string) string {
	return r.prefix + appID + ":" + strings.Join(parts, ":")
}

var (
	join = redis.NewScript(`
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if n == 1 then
  if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[3]) then
    redis.call('HDEL', KEYS[1], ARGV[1])
    return -1
  end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
return n`)
	leave = redis.NewScript(`
if redis.call('HINCRBY', KEYS[3], ARGV[2], -1) <= 0 then redis.call('HDEL', KEYS[3], ARGV[2]) end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 0
end
return n`)
)

func (r *RedisState) Join(ctx context.Context, appID, channel, userID string, info json.RawMessage, limit int) (bool, error) {
	if info == nil {
		info = json.RawMessage("null")
	}
	keys := []string{r.key(appID, "conns", channel), r.key(appID, "members", channel), r.nodeKey(r.node)}
	n, err := join.Run(ctx, r.client, keys, userID, string(info), limit, share(appID, channel, userID)).Int()
	switch {
	case err != nil:
		return false, err
	case n < 0:
		return false, ErrMemberLimit
	}
	return n == 1, nil
}

func (r *RedisState) Leave(ctx context.Context, appID, channel, userID string) (bool, error) {
	keys := []string{r.key(appID, "conns", channel), r.key(appID, "members", channel), r.nodeKey(r.node)}
	n, err := leave.Run(ctx, r.client, keys, userID, share(appID, channel, userID)).Int()
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
	if err := r.flush(ctx); err != nil {
		return nil, err
	}
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
	if err := r.flush(ctx); err != nil {
		return 0, err
	}
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
