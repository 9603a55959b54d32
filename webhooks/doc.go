// Package webhooks tells a bucket's backend what happened to its messages:
// events (sent and failed from the delivery workers; delivered, clicked
// and close from clients) are persisted, aggregated per bucket into
// batches, and POSTed to the bucket's callback in PushPushGo CORE's body,
// signed as Standard Webhooks describe, with retries and dead letters.
//
// Three long-running parts share one Store and run on every node:
//
//   - Recorder writes client reports (RecordClient), coalescing
//     concurrent calls into one statement, and answers only once they are
//     stored: the store checks that the message belongs to the context,
//     records the time of the first report on the message, and stores
//     that first report as an event. The workers' sent and failed events
//     are stored by the message store in the statement that stores the
//     results (ResultEvent is what a result makes), not here.
//   - Flusher moves a bucket's unbatched events into a new batch when
//     there are BatchSize of them or the oldest is FlushAfter old.
//   - Dispatcher claims due batches, POSTs them, and records the outcome:
//     delivered, due again after a backoff, or dead once RetryFor passed.
//     The Flusher hands it the batches it made with the targets it looked
//     up for them (Handoff), so a batch's target is looked up once; a
//     batch claimed later, or by another node, looks its target up.
//
// The same Flusher and Dispatcher deliver the apps' Pusher channel
// webhooks over a second store (ChannelStore), in which an app is its own
// bucket: a ChannelRecorder queues the events the Pusher protocol reports
// and stores them, and a Target with FormatPusher renders a batch as
// Pusher's {time_ms, events} and signs it with X-Pusher-Key and
// X-Pusher-Signature instead of CORE's body and Standard Webhooks.
//
// The database holds the whole backlog (unbatched events and undelivered
// batches), so a slow or dead consumer costs disk, never memory, and a
// batch survives a restart. Nodes coordinate only through the Store: its
// batch creation and claims are safe to run concurrently.
//
// The package knows buckets only through Targets, which the server
// implements on top of package buckets; it must never import buckets,
// messages or delivery (the arrows point at webhooks, not from it), and it
// never opens network connections except through the http.Client it is
// given, which in the server is the SSRF guard's.
package webhooks
