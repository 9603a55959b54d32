-- +goose Up
-- The columns PostgreSQL's webhook_events gained for rows that hold the
-- result events of many messages (migration 00015 there), so that the
-- statements both dialects share read them. SQLite writes one event a
-- row still (events 1, packed NULL).
ALTER TABLE webhook_events ADD COLUMN events INTEGER NOT NULL DEFAULT 1;
ALTER TABLE webhook_events ADD COLUMN packed BLOB;

-- +goose Down
ALTER TABLE webhook_events DROP COLUMN packed;
ALTER TABLE webhook_events DROP COLUMN events;
