// Package server assembles a whole pushgate node from a Config: storage,
// the work queue (Redis or an embedded one), providers and buckets, image
// jobs, delivery (the Sender and, on worker nodes, the worker and its
// maintenance), webhooks and the HTTP API. It is what cmd/pushgate runs
// and what an application embeds to run pushgate inside its own process.
//
// New only wires: each subsystem has its own builder in its own file
// (storage.go, queue.go, realtime.go, providers.go, images.go, delivery.go,
// webhooks.go, http.go), called in that order, each using what the ones
// before it built (the websocket provider stores into the inbox that
// realtime.go builds; webhooks.go adds the inbox listener that turns CORE
// notifications' acknowledgements and reads into client events,
// coreevents.go); a connection is kept on the Server as soon as it is open, so a
// failing builder leaves nothing open behind it. The work itself lives in
// the packages the builders call (image tasks in imagejobs, not here).
// Every part that reads time is given the Server's one clock.
//
// Lifecycle: Start(ctx) starts the long-lived parts, which run until
// Shutdown whatever happens to ctx; Shutdown(ctx) stops them in order
// under one deadline (the shutdown grace or ctx's, whichever ends first),
// handed down to each part's Shutdown.
//
// DESIGN.md puts the embeddable Server in the root package; it cannot live
// there because the root package is imported by everything this one
// imports. Only this package and cmd/pushgate may import everything.
package server
