// Package sqlstore implements the domain stores on SQL, for SQLite
// (modernc.org/sqlite, no cgo) and PostgreSQL (pgx). Queries are written once
// with ? placeholders and rebound for PostgreSQL; the few statements that
// differ between dialects say so where they stand. Messages differ the
// most: both dialects keep accepted chunks as outbox rows, with the final
// results of their messages, and their sent/failed webhook events as one
// webhook_events row per bucket and Finish (a set: webhook_sets.go). The
// algorithms on them are written once (outbox.go, chunks.go, results.go)
// over chunkTx, one transaction's statements, implemented per dialect in
// files named by it (outbox_postgres.go with results_postgres.go and
// messages_postgres.go; outbox_sqlite.go with messages_sqlite.go). On
// SQLite, write transactions take turns in Go (db_sqlite.go). Migrations
// are kept per dialect under migrations/ and applied with goose, under an
// advisory lock on PostgreSQL so that several nodes may start at once.
//
// Validation, sealing and policy stay in the domain packages, which declare
// the interfaces implemented here. Where a rule must hold against
// concurrent writers, the store enforces the part the contract assigns it,
// in the same transaction as the write: CreateFirst's one winner, an
// app's last admin key that DeleteAPIKey refuses to delete
// (apps.ErrLastAdmin), and a user's read counted once on a notification's
// row (InboxStore's marks and read-alls of one user take the user's row
// first).
//
// Two stores write each other's tables, as their contracts say:
// MessageStore.Finish inserts the webhook events of final results (mapped
// by webhooks.ResultEvent), and WebhookStore.RecordClientEvents sets the
// client-event times of messages, moving outbox chunks into messages first.
//
// ChannelWebhookStore keeps the apps' Pusher channel webhook events and
// batches in tables of their own (channel_webhook_events and
// channel_webhook_batches); its batches share their columns, and the
// statements that claim and record them, with the bucket callbacks'
// (batchTable).
package sqlstore
