-- +goose Up
-- Issue 14/18: a worker writes the results of a chunk it holds every few
-- tens of milliseconds. Appending them to the chunk's results column made
-- PostgreSQL read and write that value whole (TOAST, uncompressed) each
-- time, which cost more than the sends themselves. Interim results now go
-- into rows of their own, one per chunk and write, appended only; the
-- write that finishes a chunk folds them into its results column and
-- deletes them. A chunk's results are its column and its rows together
-- (results.go). Rows written before this migration keep theirs in the
-- column. Deleting a chunk (its bucket's deletion) deletes its rows.
CREATE TABLE outbox_results (
    chunk_id TEXT COLLATE "C" NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    packed   BYTEA NOT NULL
);
ALTER TABLE outbox_results ALTER COLUMN packed SET STORAGE EXTERNAL;
CREATE INDEX outbox_results_chunk_id ON outbox_results (chunk_id);

-- +goose Down
-- Fold what is left into the chunks' column first.
UPDATE outbox o SET results = o.results || r.packed
FROM (SELECT chunk_id, string_agg(packed, ''::bytea) AS packed FROM outbox_results GROUP BY chunk_id) r
WHERE o.id = r.chunk_id;
DROP TABLE outbox_results;
