-- +goose Up
-- Issue 14: SQLite keeps accepted chunks as PostgreSQL does (migrations
-- 00008, 00009 and 00015 there; outbox.go says how). A send writes one
-- outbox row per chunk (the ids one task carries, keyed by their
-- pushgate.IDGroup) instead of a messages row per receiver; a worker's
-- claim of the whole chunk leases the row; its final results are appended
-- to the row (results, packed; finals counts them) and their sent/failed
-- webhook events go into one webhook_events row per bucket (kind
-- 'results', packed), one write per chunk instead of one per message.
-- Retries, partial claims and client reports still move messages into
-- messages. done counts the messages final in the row or moved; once it
-- reaches size the row is leased until the year 9999 and stays as the
-- chunk's record until its bucket goes. Messages written before this
-- migration stay rows of messages and are claimed and finished there.
CREATE TABLE outbox (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL,
    bucket_id     TEXT NOT NULL,
    context_id    TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    provider      TEXT NOT NULL,
    created_at    DATETIME NOT NULL,
    expires_at    DATETIME,
    enqueued_at   DATETIME NOT NULL,
    size          INTEGER NOT NULL,
    receivers     BLOB NOT NULL,
    lease_until   DATETIME,
    claimed_at    DATETIME,
    claims        INTEGER NOT NULL DEFAULT 0,
    done          INTEGER NOT NULL DEFAULT 0,
    results       BLOB NOT NULL DEFAULT x'',
    finals        INTEGER NOT NULL DEFAULT 0
);
-- The sweep looks at unfinished chunks only.
CREATE INDEX outbox_unfinished ON outbox (enqueued_at, id) WHERE done < size;
CREATE INDEX outbox_bucket_id ON outbox (bucket_id);

-- +goose Down
DROP TABLE outbox;
