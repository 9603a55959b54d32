// Package realtime is pushgate's hub of live connections: the sessions of
// each app's users on this node, indexed by app and user (a client token's
// sessions are found by a scan when it is revoked) and by the channels
// they subscribed to (Pusher's; Subscribe, ToChannel), and the broker that
// carries what one node publishes to the hubs of all the others (a
// MemoryBroker on one node, a RedisBroker over Redis pub/sub past one).
//
// The hub knows no wire protocol. A protocol layer (the /v1/ws JSON
// protocol, SSE, Pusher, Socket.IO) implements Session and Protocol and
// registers its sessions; the hub sends them Messages, rendered once per
// protocol per fan-out. Sends never block the hub: a session's Send queues
// or refuses, and one that refuses is dropped and closed as a slow consumer.
// A publication reaches this node's sessions at once and the other nodes'
// through the broker, and each session exactly once.
//
// It must never touch storage or HTTP: what a user missed while offline is
// the inbox's to keep, and the hub forgets whatever it could not deliver.
// It imports only the root package and go-redis (through a client the
// caller opens with internal/redisconn).
package realtime
