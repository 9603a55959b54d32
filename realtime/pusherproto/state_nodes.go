package pusherproto

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A node says it is alive every nodeBeat; one silent for nodeTTL is
// taken for dead and its share of the counts is taken out by the others.
const (
	nodeBeat = 10 * time.Second
	nodeTTL  = 45 * time.Second
)

// Member is a presence member a reap took out: its last connection was on
// a node that died. With no UserID it is a channel whose last
// subscriptions were there: it is vacated.
type Member struct{ AppID, Channel, UserID string }

func (r *RedisState) aliveKey(node string) string { return r.prefix + "alive:" + node }

// Heartbeat says this node is alive for nodeTTL.
func (r *RedisState) Heartbeat(ctx context.Context) error {
	_, err := r.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.aliveKey(r.node), 1, nodeTTL)
		p.SAdd(ctx, r.prefix+"nodes", r.node)
		return nil
	})
	return err
}

// Forget takes this node out of the list of nodes, once its connections
// have ended (a node shutting down), with whatever it still counted.
func (r *RedisState) Forget(ctx context.Context) ([]Member, error) {
	gone, err := r.reapNode(ctx, r.node)
	if err == nil {
		err = r.client.Del(ctx, r.aliveKey(r.node)).Err()
	}
	return gone, err
}

// reap takes a dead node's share out of every count, and returns the
// presence members whose last connection it held and the channels whose
// last subscriptions it held (their user part empty).
var reap = redis.NewScript(`
local nodekey = ARGV[1] .. 'node:' .. ARGV[2]
local all = redis.call('HGETALL', nodekey)
local removed = {}
for i = 1, #all, 2 do
  local f, n = all[i], tonumber(all[i + 1])
  local a = string.find(f, '\n', 1, true)
  local b = string.find(f, '\n', a + 1, true)
  local app, ch, user = string.sub(f, 1, a - 1), string.sub(f, a + 1, b - 1), string.sub(f, b + 1)
  if user == '' then
    local k = ARGV[1] .. app .. ':channels'
    if redis.call('HINCRBY', k, ch, -n) <= 0 then
      redis.call('HDEL', k, ch)
      table.insert(removed, f)
    end
  else
    local k = ARGV[1] .. app .. ':conns:' .. ch
    if redis.call('HINCRBY', k, user, -n) <= 0 then
      redis.call('HDEL', k, user)
      redis.call('HDEL', ARGV[1] .. app .. ':members:' .. ch, user)
      table.insert(removed, f)
    end
  end
end
redis.call('DEL', nodekey)
redis.call('SREM', ARGV[1] .. 'nodes', ARGV[2])
return removed`)

// Reap takes the share of every dead node out of the counts and returns
// the presence members that left with them. Nodes may reap at once: each
// dead node is reaped by one script, atomically, and found empty after.
func (r *RedisState) Reap(ctx context.Context) ([]Member, error) {
	nodes, err := r.client.SMembers(ctx, r.prefix+"nodes").Result()
	if err != nil {
		return nil, err
	}
	var out []Member
	for _, n := range nodes {
		if n == r.node {
			continue
		}
		alive, err := r.client.Exists(ctx, r.aliveKey(n)).Result()
		if err != nil || alive > 0 {
			continue
		}
		gone, err := r.reapNode(ctx, n)
		out = append(out, gone...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (r *RedisState) reapNode(ctx context.Context, node string) ([]Member, error) {
	fields, err := reap.Run(ctx, r.client, nil, r.prefix, node).StringSlice()
	var out []Member
	for _, f := range fields {
		if parts := strings.SplitN(f, "\n", 3); len(parts) == 3 {
			out = append(out, Member{AppID: parts[0], Channel: parts[1], UserID: parts[2]})
		}
	}
	return out, err
}
