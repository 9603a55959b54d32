-- +goose Up
-- Pusher channel webhooks (issue 15): an app's webhook URL, and whether
-- its channels announce their subscription counts to subscribers.
ALTER TABLE apps ADD COLUMN channel_webhook_url TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN subscription_count BOOLEAN NOT NULL DEFAULT FALSE;

-- channel_webhook_batches is webhook_batches for an app's channel
-- webhook: the same columns, with the app as its own bucket (bucket_id is
-- the app id), so the same dispatcher code claims and records them.
CREATE TABLE channel_webhook_batches (
    id              TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    bucket_id       TEXT NOT NULL,
    status          TEXT NOT NULL,
    events          INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    retry_since     TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ,
    last_attempt_at TIMESTAMPTZ,
    delivered_at    TIMESTAMPTZ
);
CREATE INDEX channel_webhook_batches_due ON channel_webhook_batches (next_attempt_at) WHERE status = 'pending';
CREATE INDEX channel_webhook_batches_app_id ON channel_webhook_batches (app_id, id);
CREATE INDEX channel_webhook_batches_finished ON channel_webhook_batches (last_attempt_at) WHERE status <> 'pending';

-- channel_webhook_events is the backlog of Pusher events (body: the
-- event's JSON as Pusher spells it), in the order they were stored (seq):
-- a channel's vacated must never come before its occupied.
CREATE TABLE channel_webhook_events (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app_id    TEXT NOT NULL,
    body      TEXT NOT NULL,
    at        TIMESTAMPTZ NOT NULL,
    batch_id  TEXT REFERENCES channel_webhook_batches (id) ON DELETE CASCADE
);
CREATE INDEX channel_webhook_events_unbatched ON channel_webhook_events (app_id, seq) WHERE batch_id IS NULL;
CREATE INDEX channel_webhook_events_batch_id ON channel_webhook_events (batch_id) WHERE batch_id IS NOT NULL;

-- +goose Down
DROP TABLE channel_webhook_events;
DROP TABLE channel_webhook_batches;
ALTER TABLE apps DROP COLUMN subscription_count;
ALTER TABLE apps DROP COLUMN channel_webhook_url;
