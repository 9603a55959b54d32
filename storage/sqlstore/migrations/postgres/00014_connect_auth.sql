-- +goose Up
-- Connection authentication delegated to the app (issue 13, PNS): the URL
-- pushgate asks who a connection without a client token is, and the
-- origins (a JSON array) whose pages may open such connections with the
-- user's cookies. A delegated user has no client token: delegated_at says
-- it was admitted that way, which makes it one of the app's users for
-- broadcasts like a token would.
ALTER TABLE apps ADD COLUMN connect_auth_url TEXT NOT NULL DEFAULT '';
ALTER TABLE apps ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';
ALTER TABLE inbox_users ADD COLUMN delegated_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE inbox_users DROP COLUMN delegated_at;
ALTER TABLE apps DROP COLUMN allowed_origins;
ALTER TABLE apps DROP COLUMN connect_auth_url;
