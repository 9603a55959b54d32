-- +goose Up
-- The inbox of pushgate's own provider (issue 13). A notification is one
-- row however many users it reaches: a broadcast has no recipient rows, a
-- targeted one a row per user. inbox_states holds a user's state of a
-- notification only where the user acted on it (acknowledged, read,
-- deleted), and inbox_users one row per user of an app with the read-all
-- watermark, so neither sending nor reading all of a broadcast writes a row
-- per user. Everything goes with its app.
CREATE TABLE inbox_tokens (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at DATETIME NOT NULL
);
CREATE INDEX inbox_tokens_app_user ON inbox_tokens (app_id, user_id, created_at, id);
CREATE INDEX inbox_tokens_app ON inbox_tokens (app_id, created_at, id);

-- inbox_apps counts each app's users with a client token: a broadcast's
-- recipients, read in constant time however many users there are.
CREATE TABLE inbox_apps (
    app_id TEXT PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
    users  BIGINT NOT NULL
);

-- inbox_users: one row per user of an app that had a client token or read
-- all. tokens counts the user's tokens; first_token_at bounds the
-- broadcasts the user has (those created since); read_all_at is the read-all
-- watermark (what was created up to it is read); cleared_before is how far
-- the purge took read-all notifications out of the user's inbox.
CREATE TABLE inbox_users (
    app_id         TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL,
    tokens         BIGINT NOT NULL DEFAULT 0,
    first_token_at DATETIME,
    read_all_at    DATETIME,
    cleared_before DATETIME,
    PRIMARY KEY (app_id, user_id)
);

CREATE TABLE inbox_notifications (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    message    TEXT NOT NULL,
    priority   INTEGER NOT NULL,
    extras     TEXT NOT NULL DEFAULT '',
    image_url  TEXT NOT NULL DEFAULT '',
    click_url  TEXT NOT NULL DEFAULT '',
    broadcast  BOOLEAN NOT NULL,
    -- recipients is fixed when stored; delivered and reads count the users
    -- that acknowledged and read it (a read-all counts for each unread
    -- notification it reads), so that counts cost no scan of users.
    recipients BIGINT NOT NULL,
    delivered  BIGINT NOT NULL DEFAULT 0,
    reads      BIGINT NOT NULL DEFAULT 0,
    source     TEXT NOT NULL,
    bucket_id  TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL
);
CREATE INDEX inbox_notifications_app ON inbox_notifications (app_id, created_at, id);
CREATE INDEX inbox_notifications_broadcast ON inbox_notifications (app_id, broadcast, created_at, id);
CREATE INDEX inbox_notifications_expires ON inbox_notifications (expires_at);

-- inbox_recipients: the users of a targeted notification, with its app and
-- creation time so that a user's inbox is one index range.
CREATE TABLE inbox_recipients (
    notification_id TEXT NOT NULL REFERENCES inbox_notifications (id) ON DELETE CASCADE,
    app_id          TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    created_at      DATETIME NOT NULL,
    PRIMARY KEY (notification_id, user_id)
);
CREATE INDEX inbox_recipients_user ON inbox_recipients (app_id, user_id, created_at, notification_id);

CREATE TABLE inbox_states (
    app_id          TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    notification_id TEXT NOT NULL REFERENCES inbox_notifications (id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('delivered', 'read', 'deleted')),
    delivered_at    DATETIME,
    read_at         DATETIME,
    deleted_at      DATETIME,
    PRIMARY KEY (app_id, user_id, notification_id)
);
CREATE INDEX inbox_states_notification ON inbox_states (notification_id);
CREATE INDEX inbox_states_read ON inbox_states (read_at) WHERE deleted_at IS NULL;

-- +goose Down
DROP TABLE inbox_states;
DROP TABLE inbox_recipients;
DROP TABLE inbox_notifications;
DROP TABLE inbox_users;
DROP TABLE inbox_apps;
DROP TABLE inbox_tokens;
