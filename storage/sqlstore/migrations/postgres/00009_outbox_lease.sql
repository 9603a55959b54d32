-- +goose Up
-- A worker's claim of a whole chunk now leases its outbox row instead of
-- copying the chunk into messages; each message is written into messages
-- once, with its result (see outbox.go). lease_until is set while a worker
-- holds the chunk, claims counts the claims (the attempts of its messages),
-- done counts its messages already in messages; the row goes when done
-- reaches size.
ALTER TABLE outbox
    ADD COLUMN lease_until TIMESTAMPTZ,
    ADD COLUMN claimed_at  TIMESTAMPTZ,
    ADD COLUMN claims      INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN done        INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE outbox
    DROP COLUMN lease_until,
    DROP COLUMN claimed_at,
    DROP COLUMN claims,
    DROP COLUMN done;
