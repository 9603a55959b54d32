-- +goose Up
-- Pusher client events (issue 15): whether subscribers of the app's
-- private and presence channels may send client-* events to each other.
ALTER TABLE apps ADD COLUMN client_events INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE apps DROP COLUMN client_events;
