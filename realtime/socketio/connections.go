package socketio

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pushgate/pushgate"
)

// Why a Socket.IO register is refused: the reason an error event names.
const (
	ReasonInvalid   = "invalid_arguments"     // register(userId, connectionId) without two non-empty strings
	ReasonUnknown   = "unknown_connection_id" // never registered by the backend, or long gone
	ReasonOtherUser = "other_user"            // registered for another user
	ReasonExpired   = "expired_connection_id" // unused for longer than the TTL
)

// MaxIDLength bounds a userId and a connectionId.
const MaxIDLength = 256

// Connections keeps the connectionIds a backend registered, one key per
// app and connectionId holding the user and when it was last used, in the
// Redis every node shares: a client's register may reach any node. A key
// lives for twice the TTL, so that for one TTL after expiring a connectionId
// is refused as expired rather than as unknown.
type Connections struct {
	rdb redis.UniversalClient
	ns  string
	ttl time.Duration
	now func() time.Time
}

// NewConnections makes the store; namespace prefixes its keys, ttl is how
// long a connectionId lives unused (compat_connection_ttl).
func NewConnections(rdb redis.UniversalClient, namespace string, ttl time.Duration, now func() time.Time) *Connections {
	if now == nil {
		now = time.Now
	}
	return &Connections{rdb: rdb, ns: namespace, ttl: ttl, now: now}
}

func (c *Connections) key(appID, connID string) string {
	return c.ns + ":compat:conn:" + appID + ":" + connID
}

// The value is "<last use, unix ms> <userId>". Both scripts take
// ARGV = now (ms), userId, ttl (ms), key lifetime (ms).
var registerScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local sp = string.find(v, ' ', 1, true)
  local last = tonumber(string.sub(v, 1, sp - 1))
  if string.sub(v, sp + 1) ~= ARGV[2] and tonumber(ARGV[1]) - last <= tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'PX', ARGV[4])
return 1`)

var claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 'unknown' end
local sp = string.find(v, ' ', 1, true)
local last = tonumber(string.sub(v, 1, sp - 1))
if string.sub(v, sp + 1) ~= ARGV[2] then return 'other' end
if tonumber(ARGV[1]) - last > tonumber(ARGV[3]) then return 'expired' end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'PX', ARGV[4])
return 'ok'`)

func (c *Connections) args(userID string) []any {
	ttl := c.ttl.Milliseconds()
	return []any{c.now().UnixMilli(), userID, ttl, 2 * ttl}
}

// Register records connID as userID's, or renews it. A connectionId that
// is another user's and has not expired stays theirs: EEXISTS.
func (c *Connections) Register(ctx context.Context, appID, userID, connID string) error {
	ok, err := registerScript.Run(ctx, c.rdb, []string{c.key(appID, connID)}, c.args(userID)...).Int()
	if err != nil {
		return &pushgate.Error{Code: pushgate.EUNAVAILABLE, Message: "compat: register a connectionId", Err: err}
	}
	if ok == 0 {
		return pushgate.Errorf(pushgate.ECONFLICT, "the connectionId belongs to another user")
	}
	return nil
}

// Claim checks that connID is userID's and unexpired, and renews it; it
// returns "" or the reason it is refused (a Reason constant).
func (c *Connections) Claim(ctx context.Context, appID, userID, connID string) (string, error) {
	res, err := claimScript.Run(ctx, c.rdb, []string{c.key(appID, connID)}, c.args(userID)...).Text()
	if err != nil {
		return "", &pushgate.Error{Code: pushgate.EUNAVAILABLE, Message: "compat: check a connectionId", Err: err}
	}
	switch res {
	case "ok":
		return "", nil
	case "other":
		return ReasonOtherUser, nil
	case "expired":
		return ReasonExpired, nil
	default:
		return ReasonUnknown, nil
	}
}

// validID says whether s may be a userId or a connectionId.
func validID(s string) bool {
	return s != "" && len(s) <= MaxIDLength && strconv.Quote(s) == `"`+s+`"`
}
