-- +goose Up
-- image_sources remembers what fetching each image URL returned, so that
-- every node fetches a URL once per revalidation period and then asks its
-- server with a conditional GET. Keyed by the URL's SHA-256 (URLs run to
-- 2 KB).
CREATE TABLE image_sources (
    url_hash      TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    digest        TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    etag          TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT '',
    checked_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX image_sources_checked_at ON image_sources (checked_at);

-- +goose Down
DROP TABLE image_sources;
