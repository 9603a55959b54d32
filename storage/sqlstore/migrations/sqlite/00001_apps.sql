-- +goose Up
CREATE TABLE apps (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    public_key    TEXT NOT NULL UNIQUE,
    secret_sealed TEXT NOT NULL,
    created_at    DATETIME NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name       TEXT NOT NULL DEFAULT '',
    prefix     TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at DATETIME NOT NULL
);
CREATE INDEX api_keys_app_id ON api_keys (app_id);

-- settings holds installation-wide facts, such as that the first app exists.
CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE settings;
DROP TABLE api_keys;
DROP TABLE apps;
