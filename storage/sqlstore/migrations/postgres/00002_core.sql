-- +goose Up
CREATE TABLE buckets (
    id                    TEXT PRIMARY KEY,
    app_id                TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    callback_sealed       TEXT NOT NULL,
    webhook_secret_sealed TEXT NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    last_used_at          TIMESTAMPTZ NOT NULL,
    idle_ttl_seconds      BIGINT NOT NULL,
    expires_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX buckets_app_id ON buckets (app_id);
CREATE INDEX buckets_expires_at ON buckets (expires_at);

CREATE TABLE bucket_credentials (
    id          TEXT PRIMARY KEY,
    bucket_id   TEXT NOT NULL REFERENCES buckets (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    type        TEXT NOT NULL,
    public      TEXT NOT NULL,
    sealed      TEXT NOT NULL
);
CREATE INDEX bucket_credentials_bucket_id ON bucket_credentials (bucket_id);

CREATE TABLE contexts (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL,
    bucket_id  TEXT NOT NULL REFERENCES buckets (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX contexts_bucket_id ON contexts (bucket_id);

-- messages is the outbox: one row per notification to one receiver. It has
-- no foreign key: checking one per row costs a bulk send more than the rest
-- of its insert, and deleting a bucket deletes its messages explicitly.
CREATE TABLE messages (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL,
    bucket_id     TEXT NOT NULL,
    context_id    TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    provider      TEXT NOT NULL,
    foreign_id    TEXT NOT NULL,
    token         TEXT NOT NULL DEFAULT '',
    endpoint      TEXT NOT NULL DEFAULT '',
    p256dh        TEXT NOT NULL DEFAULT '',
    auth          TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    last_error    TEXT NOT NULL DEFAULT '',
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ,
    enqueued_at   TIMESTAMPTZ NOT NULL,
    lease_until   TIMESTAMPTZ,
    sent_at       TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    delivered_at  TIMESTAMPTZ,
    clicked_at    TIMESTAMPTZ,
    closed_at     TIMESTAMPTZ
) WITH (fillfactor = 80);
-- The sweep only ever looks at unfinished messages. The predicate is on
-- finished_at, not status, so a claim (which changes only status and the
-- lease) touches no indexed column and PostgreSQL can update in place (HOT);
-- the fill factor leaves room on each page for that.
CREATE INDEX messages_unfinished ON messages (enqueued_at) WHERE finished_at IS NULL;
CREATE INDEX messages_bucket_id ON messages (bucket_id);

-- +goose Down
DROP TABLE messages;
DROP TABLE contexts;
DROP TABLE bucket_credentials;
DROP TABLE buckets;
