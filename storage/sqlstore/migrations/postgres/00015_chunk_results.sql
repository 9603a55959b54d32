-- +goose Up
-- Issue 14: a chunk is the unit of its results too. A worker's final
-- results (sent, failed, expired) of messages it claimed with their outbox
-- row are appended to that row (results, packed as outbox_postgres.go
-- says; finals counts them), and the row stays as the chunk's record
-- instead of a messages row being written per message. Once every message
-- of a chunk is final there or moved into messages (done = size), the row
-- is leased until the year 9999, so that no claim or sweep, of this
-- version or an older one, takes it again. Retries and client reports
-- still move messages into messages, as before.
ALTER TABLE outbox
    ADD COLUMN results BYTEA NOT NULL DEFAULT ''::bytea,
    ADD COLUMN finals  INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ALTER COLUMN results SET STORAGE EXTERNAL;
-- Finished chunks stay: the sweep looks at unfinished ones only.
DROP INDEX outbox_enqueued_at;
CREATE INDEX outbox_unfinished ON outbox (enqueued_at, id) WHERE done < size;
-- A row of webhook_events may hold the result events of many messages of
-- one bucket (kind 'results', packed, events counting them), written in
-- the statement that stores their chunk's results: one row where there
-- were hundreds. Client events stay one row each (events 1, packed NULL).
ALTER TABLE webhook_events
    ADD COLUMN events INTEGER NOT NULL DEFAULT 1,
    ADD COLUMN packed BYTEA;
ALTER TABLE webhook_events ALTER COLUMN packed SET STORAGE EXTERNAL;

-- +goose Down
ALTER TABLE webhook_events DROP COLUMN packed, DROP COLUMN events;
DROP INDEX outbox_unfinished;
CREATE INDEX outbox_enqueued_at ON outbox (enqueued_at);
ALTER TABLE outbox DROP COLUMN finals, DROP COLUMN results;
