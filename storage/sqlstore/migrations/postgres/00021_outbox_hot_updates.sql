-- +goose Up
-- Issue 14: a worker updates its chunk's row at every write of results
-- (done, finals), every ten milliseconds or so. The partial index of
-- unfinished chunks named done in its predicate, so PostgreSQL could not
-- update the row in place (a HOT update): each write added a new entry
-- to each of the table's three indexes, for 19 of 20 updates. A chunk is
-- finished exactly when its lease is finishedLease (results.go: the
-- statement that makes done reach size sets it), so the predicate now
-- names the lease, which those writes leave as it is, and the table keeps
-- room on each page for the new row versions.
CREATE INDEX outbox_unfinished_lease ON outbox (enqueued_at, id)
    WHERE lease_until IS NULL OR lease_until < '9999-12-31 00:00:00+00'::timestamptz;
DROP INDEX outbox_unfinished;
ALTER INDEX outbox_unfinished_lease RENAME TO outbox_unfinished;
ALTER TABLE outbox SET (fillfactor = 50);

-- +goose Down
ALTER TABLE outbox RESET (fillfactor);
CREATE INDEX outbox_unfinished_done ON outbox (enqueued_at, id) WHERE done < size;
DROP INDEX outbox_unfinished;
ALTER INDEX outbox_unfinished_done RENAME TO outbox_unfinished;
