-- +goose Up
-- deleted_buckets remembers buckets deleted recently. A send that raced
-- the deletion can insert messages after the bucket's were deleted
-- (messages have no foreign key); maintenance deletes those too, for as
-- long as a bucket is remembered here.
CREATE TABLE deleted_buckets (
    id         TEXT PRIMARY KEY,
    deleted_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE deleted_buckets;
