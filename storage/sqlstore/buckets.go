package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
)

// BucketStore implements buckets.Store and contexts.Store.
type BucketStore struct{ db *DB }

var (
	_ buckets.Store  = (*BucketStore)(nil)
	_ contexts.Store = (*BucketStore)(nil)
)

// Buckets returns the bucket and context store of db.
func (db *DB) Buckets() *BucketStore { return &BucketStore{db: db} }

func (s *BucketStore) CreateBucket(ctx context.Context, b *buckets.StoredBucket) error {
	return s.db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := s.db.exec(ctx, tx, `INSERT INTO buckets (id, app_id, callback_sealed, webhook_secret_sealed, has_callback, created_at, last_used_at, idle_ttl_seconds, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			b.ID, b.AppID, b.SealedCallback, b.SealedWebhookSecret, b.HasCallback, b.CreatedAt.UTC(), b.LastUsedAt.UTC(),
			int64(b.IdleTTL/time.Second), b.LastUsedAt.Add(b.IdleTTL).UTC())
		if err != nil {
			if errorsContains(err, "FOREIGN KEY") || errorsContains(err, "SQLSTATE 23503") {
				return pushgate.NotFound("app")
			}
			return err
		}
		for _, c := range b.Credentials {
			if _, err := s.db.exec(ctx, tx, `INSERT INTO bucket_credentials (id, bucket_id, position, type, public, sealed) VALUES (?, ?, ?, ?, ?, ?)`,
				c.ID, b.ID, c.Position, string(c.Type), string(c.Public), c.Sealed); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *BucketStore) GetBucket(ctx context.Context, appID, id string, now time.Time) (*buckets.StoredBucket, error) {
	b := &buckets.StoredBucket{}
	var ttl int64
	err := s.db.queryRow(ctx, s.db, `SELECT id, app_id, callback_sealed, webhook_secret_sealed, created_at, last_used_at, idle_ttl_seconds
		FROM buckets WHERE id = ? AND app_id = ? AND expires_at > ?`, id, appID, now.UTC()).
		Scan(&b.ID, &b.AppID, &b.SealedCallback, &b.SealedWebhookSecret, &b.CreatedAt, &b.LastUsedAt, &ttl)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pushgate.NotFound("bucket")
	}
	if err != nil {
		return nil, err
	}
	b.CreatedAt, b.LastUsedAt, b.IdleTTL = b.CreatedAt.UTC(), b.LastUsedAt.UTC(), time.Duration(ttl)*time.Second
	rows, err := s.db.query(ctx, s.db, `SELECT id, position, type, public, sealed FROM bucket_credentials WHERE bucket_id = ? ORDER BY position`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		c := buckets.StoredCredential{BucketID: id}
		var typ, public string
		if err := rows.Scan(&c.ID, &c.Position, &typ, &public, &c.Sealed); err != nil {
			return nil, err
		}
		c.Type, c.Public = buckets.CredentialType(typ), []byte(public)
		b.Credentials = append(b.Credentials, c)
	}
	return b, rows.Err()
}

func (s *BucketStore) TouchBucket(ctx context.Context, appID, id string, now, expiresAt time.Time) error {
	res, err := s.db.exec(ctx, s.db, `UPDATE buckets SET last_used_at = ?, expires_at = ? WHERE id = ? AND app_id = ? AND expires_at > ?`,
		now.UTC(), expiresAt.UTC(), id, appID, now.UTC())
	if err != nil {
		return err
	}
	return mustAffect(res, "bucket")
}

// deleteBuckets deletes buckets with their messages (which have no foreign
// key, see the migration) and, by cascade, contexts and credentials.
func (s *BucketStore) deleteBuckets(ctx context.Context, tx *sql.Tx, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	list, args := inList(ids)
	// The outbox first: a worker storing results locks its chunk's row
	// before it writes the chunk's messages, so this waits for it and then
	// sees those messages.
	if _, err := s.db.exec(ctx, tx, `DELETE FROM outbox WHERE bucket_id IN `+list, args...); err != nil {
		return 0, err
	}
	if _, err := s.db.exec(ctx, tx, `DELETE FROM messages WHERE bucket_id IN `+list, args...); err != nil {
		return 0, err
	}
	now := time.Now().UTC()
	for _, id := range ids {
		if _, err := s.db.exec(ctx, tx, `INSERT INTO deleted_buckets (id, deleted_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET deleted_at = excluded.deleted_at`, id, now); err != nil {
			return 0, err
		}
	}
	res, err := s.db.exec(ctx, tx, `DELETE FROM buckets WHERE id IN `+list, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// PurgeDeleted deletes the messages of recently deleted buckets (those a
// racing send inserted after the deletion) and forgets buckets deleted
// before forgetBefore. It reports how many messages it deleted.
func (s *BucketStore) PurgeDeleted(ctx context.Context, forgetBefore time.Time) (int, error) {
	res, err := s.db.exec(ctx, s.db, `DELETE FROM messages WHERE bucket_id IN (SELECT id FROM deleted_buckets)`)
	if err != nil {
		return 0, fmt.Errorf("purge messages of deleted buckets: %w", err)
	}
	n, _ := res.RowsAffected()
	chunked, err := s.purgeChunks(ctx)
	if err != nil {
		return int(n), fmt.Errorf("purge messages of deleted buckets: %w", err)
	}
	n += chunked
	if _, err := s.db.exec(ctx, s.db, `DELETE FROM deleted_buckets WHERE deleted_at < ?`, forgetBefore.UTC()); err != nil {
		return int(n), fmt.Errorf("forget deleted buckets: %w", err)
	}
	return int(n), nil
}

// purgeChunks deletes the outbox rows of deleted buckets and counts the
// messages they held that were not moved into messages (those were
// counted there).
func (s *BucketStore) purgeChunks(ctx context.Context) (int64, error) {
	rows, err := s.db.query(ctx, s.db, `DELETE FROM outbox WHERE bucket_id IN (SELECT id FROM deleted_buckets) RETURNING size - done + finals`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var held int64
		if err := rows.Scan(&held); err != nil {
			return n, err
		}
		n += held
	}
	return n, rows.Err()
}

func (s *BucketStore) DeleteBucket(ctx context.Context, appID, id string) error {
	return s.db.inTx(ctx, func(tx *sql.Tx) error {
		var found string
		err := s.db.queryRow(ctx, tx, `SELECT id FROM buckets WHERE id = ? AND app_id = ?`, id, appID).Scan(&found)
		if errors.Is(err, sql.ErrNoRows) {
			return pushgate.NotFound("bucket")
		}
		if err != nil {
			return err
		}
		_, err = s.deleteBuckets(ctx, tx, []string{id})
		return err
	})
}

func (s *BucketStore) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	var n int
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := s.db.query(ctx, tx, `SELECT id FROM buckets WHERE expires_at <= ? LIMIT ?`, now.UTC(), limit)
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		n, err = s.deleteBuckets(ctx, tx, ids)
		return err
	})
	return n, err
}

func (s *BucketStore) CreateContext(ctx context.Context, c *contexts.Context) error {
	return s.createContext(ctx, s.db, c)
}

func (s *BucketStore) createContext(ctx context.Context, q querier, c *contexts.Context) error {
	body, err := c.Body()
	if err != nil {
		return err
	}
	images, err := marshalImages(c.Images)
	if err != nil {
		return err
	}
	_, err = s.db.exec(ctx, q, `INSERT INTO contexts (id, app_id, bucket_id, kind, body, created_at, status, failure, images) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.AppID, c.BucketID, string(c.Kind), string(body), c.CreatedAt.UTC(), string(c.State()), c.Failure, images)
	if errorsContains(err, "FOREIGN KEY") || errorsContains(err, "SQLSTATE 23503") {
		return pushgate.NotFound("bucket")
	}
	return err
}

func (s *BucketStore) GetContext(ctx context.Context, appID, bucketID, id string) (*contexts.Context, error) {
	c := &contexts.Context{}
	var kind, body, status, images string
	err := s.db.queryRow(ctx, s.db, `SELECT id, app_id, bucket_id, kind, body, created_at, status, failure, images FROM contexts WHERE id = ? AND app_id = ? AND bucket_id = ?`,
		id, appID, bucketID).Scan(&c.ID, &c.AppID, &c.BucketID, &kind, &body, &c.CreatedAt, &status, &c.Failure, &images)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pushgate.NotFound("context")
	}
	if err != nil {
		return nil, err
	}
	c.Kind, c.CreatedAt, c.Status = contexts.Kind(kind), c.CreatedAt.UTC(), contexts.Status(status)
	if images != "" {
		if err := json.Unmarshal([]byte(images), &c.Images); err != nil {
			return nil, fmt.Errorf("context %s images: %w", c.ID, err)
		}
	}
	return c, c.Decode([]byte(body))
}

func (s *BucketStore) StaleProcessing(ctx context.Context, createdBefore time.Time, limit int) ([]*contexts.Context, error) {
	rows, err := s.db.query(ctx, s.db, `SELECT id, app_id, bucket_id FROM contexts WHERE status = 'processing' AND created_at < ? ORDER BY created_at LIMIT ?`,
		createdBefore.UTC(), limit)
	if err != nil {
		return nil, fmt.Errorf("stale processing contexts: %w", err)
	}
	defer rows.Close()
	var out []*contexts.Context
	for rows.Next() {
		c := &contexts.Context{Status: contexts.Processing}
		if err := rows.Scan(&c.ID, &c.AppID, &c.BucketID); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func marshalImages(m map[string]map[string]string) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

func (s *BucketStore) FinishImages(ctx context.Context, appID, bucketID, id string, status contexts.Status, failure string, images map[string]map[string]string) error {
	if status != contexts.Ready && status != contexts.Failed {
		return fmt.Errorf("finish images: status %q", status)
	}
	enc, err := marshalImages(images)
	if err != nil {
		return err
	}
	_, err = s.db.exec(ctx, s.db, `UPDATE contexts SET status = ?, failure = ?, images = ? WHERE id = ? AND app_id = ? AND bucket_id = ? AND status = 'processing'`,
		string(status), failure, enc, id, appID, bucketID)
	return err
}
