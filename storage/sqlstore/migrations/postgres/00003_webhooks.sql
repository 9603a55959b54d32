-- +goose Up
-- webhook_batches holds one POST to a bucket's callback: its id is the
-- webhook-id header, the same on every attempt.
CREATE TABLE webhook_batches (
    id              TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL,
    bucket_id       TEXT NOT NULL REFERENCES buckets (id) ON DELETE CASCADE,
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
-- Dispatchers only ever look for pending batches that are due.
CREATE INDEX webhook_batches_due ON webhook_batches (next_attempt_at) WHERE status = 'pending';
-- Listing a bucket's batches, newest first (ids sort by creation time).
CREATE INDEX webhook_batches_bucket_id ON webhook_batches (bucket_id, id);
-- Pruning finished batches.
CREATE INDEX webhook_batches_finished ON webhook_batches (last_attempt_at) WHERE status <> 'pending';

-- webhook_events is the backlog: an event waits with no batch_id until a
-- flusher moves it into a batch. One event per message and kind, so a
-- repeated client event is stored (and reported) once. Events carry no
-- foreign key to buckets: a bulk insert must not fail for one bucket that
-- just expired; flushers drop unbatched events whose bucket is gone, and
-- batched ones go with their batch.
CREATE TABLE webhook_events (
    message_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    app_id     TEXT NOT NULL,
    bucket_id  TEXT NOT NULL,
    foreign_id TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    action     TEXT NOT NULL DEFAULT '',
    at         TIMESTAMPTZ NOT NULL,
    batch_id   TEXT,
    PRIMARY KEY (message_id, kind)
);
CREATE INDEX webhook_events_unbatched ON webhook_events (bucket_id, at) WHERE batch_id IS NULL;
CREATE INDEX webhook_events_batch_id ON webhook_events (batch_id) WHERE batch_id IS NOT NULL;

-- A batch's events go with it. This is ON DELETE CASCADE written out: a
-- foreign key would also check every event as a flusher moves it into a
-- batch, which costs a third of the flush.
-- +goose StatementBegin
CREATE FUNCTION webhook_batches_delete_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM webhook_events WHERE batch_id = OLD.id;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER webhook_batches_delete_events AFTER DELETE ON webhook_batches
    FOR EACH ROW EXECUTE FUNCTION webhook_batches_delete_events();

-- +goose Down
DROP TABLE webhook_events;
DROP TABLE webhook_batches;
DROP FUNCTION webhook_batches_delete_events();
