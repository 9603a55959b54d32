-- +goose Up
-- has_callback says whether a bucket's events go anywhere. The callback
-- itself is sealed; this flag lets one statement store a client event only
-- for buckets that will report it. Buckets made before this column existed
-- count as having one: their flusher drops events that have no target.
ALTER TABLE buckets ADD COLUMN has_callback BOOLEAN NOT NULL DEFAULT TRUE;

-- +goose Down
ALTER TABLE buckets DROP COLUMN has_callback;
