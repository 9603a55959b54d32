-- +goose Up
-- Pusher client events (issue 15): whether subscribers of the app's
-- private and presence channels may send client-* events to each other.
ALTER TABLE apps ADD COLUMN client_events BOOLEAN NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE apps DROP COLUMN client_events;
