-- +goose Up
-- A context with images is 'processing' until its images are on the CDN
-- ('ready', images holding their URLs as JSON) or one of them failed
-- ('failed', failure saying why).
ALTER TABLE contexts ADD COLUMN status TEXT NOT NULL DEFAULT 'ready';
ALTER TABLE contexts ADD COLUMN failure TEXT NOT NULL DEFAULT '';
ALTER TABLE contexts ADD COLUMN images TEXT NOT NULL DEFAULT '';
-- Maintenance looks for contexts whose processing job was lost.
CREATE INDEX contexts_processing ON contexts (created_at) WHERE status = 'processing';

-- +goose Down
DROP INDEX contexts_processing;
ALTER TABLE contexts DROP COLUMN images;
ALTER TABLE contexts DROP COLUMN failure;
ALTER TABLE contexts DROP COLUMN status;
