-- +goose Up
-- notification-server compatibility (issue 16): an app that sets
-- compatKeepOffline keeps pushes to users with no open session in their
-- inbox instead of dropping them.
ALTER TABLE apps ADD COLUMN compat_keep_offline BOOLEAN NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE apps DROP COLUMN compat_keep_offline;
