-- +goose Up
-- Issue 14/18: the interim results of a chunk a worker holds go into rows
-- of their own, appended only, instead of rewriting the chunk's results
-- column at every write; the write that finishes a chunk folds them into
-- the column and deletes them (PostgreSQL migration 00020 says why;
-- results.go how). Rows written before this migration keep theirs in the
-- column.
CREATE TABLE outbox_results (
    chunk_id TEXT NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    packed   BLOB NOT NULL
);
CREATE INDEX outbox_results_chunk_id ON outbox_results (chunk_id);

-- +goose Down
-- Unfinished chunks lose their interim results: their messages are sent
-- again (SQLite cannot concatenate blobs as blobs).
DROP TABLE outbox_results;
