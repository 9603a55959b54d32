-- +goose Up
-- outbox keeps each chunk of accepted messages (the ids one send task
-- carries, which share their first 28 characters: pushgate.IDGroup) as one
-- row until a worker claims it. The claim deletes the row and writes the
-- messages into messages, so a message is written twice (claim, result)
-- instead of three times, and accepting a send of 1000 receivers writes
-- two rows instead of a thousand. Receivers are packed in one bytea (see
-- outbox.go); it is stored without compression, which costs more CPU at
-- accept time than it saves in I/O for rows that live seconds.
CREATE TABLE outbox (
    id            TEXT COLLATE "C" PRIMARY KEY,
    app_id        TEXT NOT NULL,
    bucket_id     TEXT NOT NULL,
    context_id    TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    provider      TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ,
    enqueued_at   TIMESTAMPTZ NOT NULL,
    size          INTEGER NOT NULL,
    receivers     BYTEA NOT NULL
);
ALTER TABLE outbox ALTER COLUMN receivers SET STORAGE EXTERNAL;
CREATE INDEX outbox_enqueued_at ON outbox (enqueued_at);
CREATE INDEX outbox_bucket_id ON outbox (bucket_id);

-- +goose Down
DROP TABLE outbox;
