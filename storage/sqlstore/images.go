package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/pushgate/pushgate/imagecdn"
)

// ImageSources implements imagecdn.FetchCache, shared by every node.
type ImageSources struct{ db *DB }

var _ imagecdn.FetchCache = (*ImageSources)(nil)

// ImageSources returns the store of fetched image URLs of db.
func (db *DB) ImageSources() *ImageSources { return &ImageSources{db: db} }

func urlHash(url string) string {
	h := sha256.Sum256([]byte(url))
	return hex.EncodeToString(h[:])
}

func (s *ImageSources) Get(ctx context.Context, url string) (imagecdn.CacheEntry, bool, error) {
	var e imagecdn.CacheEntry
	var stored string
	err := s.db.queryRow(ctx, s.db, `SELECT url, digest, content_type, etag, last_modified, checked_at FROM image_sources WHERE url_hash = ?`, urlHash(url)).
		Scan(&stored, &e.Digest, &e.ContentType, &e.ETag, &e.LastModified, &e.CheckedAt)
	if errors.Is(err, sql.ErrNoRows) || err == nil && stored != url {
		return imagecdn.CacheEntry{}, false, nil
	}
	if err != nil {
		return imagecdn.CacheEntry{}, false, fmt.Errorf("image source: %w", err)
	}
	e.CheckedAt = e.CheckedAt.UTC()
	return e, true, nil
}

func (s *ImageSources) Put(ctx context.Context, url string, e imagecdn.CacheEntry) error {
	_, err := s.db.exec(ctx, s.db, `INSERT INTO image_sources (url_hash, url, digest, content_type, etag, last_modified, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (url_hash) DO UPDATE SET url = excluded.url, digest = excluded.digest, content_type = excluded.content_type,
			etag = excluded.etag, last_modified = excluded.last_modified, checked_at = excluded.checked_at`,
		urlHash(url), url, e.Digest, e.ContentType, e.ETag, e.LastModified, e.CheckedAt.UTC())
	if err != nil {
		return fmt.Errorf("store image source: %w", err)
	}
	return nil
}

// Forget deletes what is remembered of URLs last checked before before,
// and reports how many it deleted.
func (s *ImageSources) Forget(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.exec(ctx, s.db, `DELETE FROM image_sources WHERE checked_at < ?`, before.UTC())
	if err != nil {
		return 0, fmt.Errorf("forget image sources: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
