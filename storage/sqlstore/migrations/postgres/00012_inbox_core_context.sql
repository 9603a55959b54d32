-- +goose Up
-- A notification a CORE send stored (source 'core') keeps the id of the
-- message's context too: the client events its devices' acknowledgements
-- and reads become (delivered, clicked) name the message within its
-- context. Notifications of the notifications API leave it empty.
ALTER TABLE inbox_notifications ADD COLUMN context_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE inbox_notifications DROP COLUMN context_id;
