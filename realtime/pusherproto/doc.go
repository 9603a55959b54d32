// Package pusherproto speaks Pusher Channels: the WebSocket protocol v7 at
// /app/{key} (connection, ping, public, private, encrypted, presence and
// cache channels, client events, user sign-in) and the logic behind the
// Pusher HTTP API (triggers, channel and user queries, terminating a
// user's connections), so that pusher-js and the Pusher server SDKs work
// against pushgate unchanged (docs/pusher.md).
//
// An app's key and secret are its Pusher key and secret; the caller
// (httpapi) finds the app and checks request signatures, this package
// checks the signatures of subscriptions and sign-ins.
//
// Sessions stand on the realtime hub (registered by user once signed in,
// subscribed to channels there) and on wsconn connections; a channel event
// is encoded once, as a whole frame, and the hub hands the same bytes to
// every subscriber on every node. What must be known across nodes
// (subscription counts, presence members, cache channels' last events)
// is kept in Redis (RedisState).
//
// Channel webhook events (occupied and vacated, decided by the shared
// counts so that one node reports each; member events once per user;
// client events; cache misses) are handed to Options.Webhooks, which the
// server backs with the webhooks package: this package only says what
// happened.
//
// It must never touch storage or HTTP routing, and never block the hub: a
// session's Send only queues.
package pusherproto
