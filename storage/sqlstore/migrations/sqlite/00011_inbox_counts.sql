-- +goose Up
-- Acknowledgements and reads are counted from the users' state rows (an
-- index that holds their times answers the count), not on the
-- notification's row, which ten thousand devices acknowledging one
-- broadcast at once would all wait for. Only read-alls, which have no
-- row per notification, keep a counter: read_alls, the users that read the
-- notification by a read-all (reads counted those and the state rows).
ALTER TABLE inbox_notifications ADD COLUMN read_alls BIGINT NOT NULL DEFAULT 0;
UPDATE inbox_notifications SET read_alls = reads -
    (SELECT count(s.read_at) FROM inbox_states s WHERE s.notification_id = inbox_notifications.id);
ALTER TABLE inbox_notifications DROP COLUMN reads;
ALTER TABLE inbox_notifications DROP COLUMN delivered;
DROP INDEX inbox_states_notification;
CREATE INDEX inbox_states_notification ON inbox_states (notification_id, delivered_at, read_at);

-- +goose Down
DROP INDEX inbox_states_notification;
CREATE INDEX inbox_states_notification ON inbox_states (notification_id);
ALTER TABLE inbox_notifications ADD COLUMN delivered BIGINT NOT NULL DEFAULT 0;
ALTER TABLE inbox_notifications ADD COLUMN reads BIGINT NOT NULL DEFAULT 0;
UPDATE inbox_notifications SET
    delivered = (SELECT count(s.delivered_at) FROM inbox_states s WHERE s.notification_id = inbox_notifications.id),
    reads = read_alls + (SELECT count(s.read_at) FROM inbox_states s WHERE s.notification_id = inbox_notifications.id);
ALTER TABLE inbox_notifications DROP COLUMN read_alls;
