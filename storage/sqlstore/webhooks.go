package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/webhooks"
)

// WebhookStore implements webhooks.Store.
type WebhookStore struct {
	db *DB
	batchTable
}

var _ webhooks.Store = (*WebhookStore)(nil)

// Webhooks returns the webhook event and batch store of db.
func (db *DB) Webhooks() *WebhookStore {
	return &WebhookStore{db: db, batchTable: batchTable{db: db, name: "webhook_batches"}}
}

// batchTable is the part of webhooks.Queue that reads and writes batches
// only, on one of the two tables of batches (webhook_batches of bucket
// callbacks, channel_webhook_batches of apps' channel webhooks), whose
// columns are the same. name is one of those constants, never input.
type batchTable struct {
	db   *DB
	name string
}

const eventColumns = `message_id, kind, id, app_id, bucket_id, foreign_id, reason, action, at`

func (s *WebhookStore) PendingBuckets(ctx context.Context, limit int) ([]webhooks.PendingBucket, error) {
	rows, err := s.db.query(ctx, s.db, `SELECT app_id, bucket_id, sum(events), min(at) FROM webhook_events WHERE batch_id IS NULL
		GROUP BY app_id, bucket_id ORDER BY min(at) LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("pending webhook events: %w", err)
	}
	defer rows.Close()
	var out []webhooks.PendingBucket
	for rows.Next() {
		var p webhooks.PendingBucket
		var oldest any
		if err := rows.Scan(&p.AppID, &p.BucketID, &p.Events, &oldest); err != nil {
			return nil, err
		}
		if p.Oldest, err = anyTime(oldest); err != nil {
			return nil, fmt.Errorf("pending webhook events: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// anyTime reads a time that SQLite returns as text: an aggregate such as
// min() has no declared column type for the driver to convert by.
func anyTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t.UTC(), nil
	case []byte:
		return anyTime(string(t))
	case string:
		for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
			if p, err := time.Parse(layout, t); err == nil {
				return p.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("unreadable time %q", t)
	}
	return time.Time{}, fmt.Errorf("unreadable time of type %T", v)
}

func (s *WebhookStore) CreateBatch(ctx context.Context, b webhooks.NewBatch) (int, error) {
	if s.db.Dialect == Postgres {
		return s.createBatchPG(ctx, b)
	}
	return s.createBatchSQLite(ctx, b)
}

func (s *WebhookStore) DropPending(ctx context.Context, bucketID string) (int, error) {
	var n sql.NullInt64
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.db.queryRow(ctx, tx, `SELECT sum(events) FROM webhook_events WHERE bucket_id = ? AND batch_id IS NULL`, bucketID).Scan(&n); err != nil {
			return err
		}
		_, err := s.db.exec(ctx, tx, `DELETE FROM webhook_events WHERE bucket_id = ? AND batch_id IS NULL`, bucketID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("drop webhook events: %w", err)
	}
	return int(n.Int64), nil
}

const batchColumns = `id, app_id, bucket_id, status, events, attempts, last_status, last_error,
	created_at, retry_since, next_attempt_at, last_attempt_at, delivered_at`

// qualified prefixes every column of a list with a table alias.
func qualified(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

func scanBatch(row interface{ Scan(...any) error }) (*webhooks.Batch, error) {
	var b webhooks.Batch
	var status string
	var next, last, delivered sql.NullTime
	if err := row.Scan(&b.ID, &b.AppID, &b.BucketID, &status, &b.Events, &b.Attempts, &b.LastStatusCode, &b.LastError,
		&b.CreatedAt, &b.RetrySince, &next, &last, &delivered); err != nil {
		return nil, err
	}
	b.Status = webhooks.Status(status)
	b.CreatedAt, b.RetrySince = b.CreatedAt.UTC(), b.RetrySince.UTC()
	for _, p := range []struct {
		src sql.NullTime
		dst *time.Time
	}{{next, &b.NextAttemptAt}, {last, &b.LastAttemptAt}, {delivered, &b.DeliveredAt}} {
		if p.src.Valid {
			*p.dst = p.src.Time.UTC()
		}
	}
	return &b, nil
}

func scanBatches(rows *sql.Rows, err error) ([]*webhooks.Batch, error) {
	if err != nil {
		return nil, err
	}
	return collect(rows, scanBatch)
}

func (s batchTable) ClaimBatches(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*webhooks.Batch, error) {
	var out []*webhooks.Batch
	var err error
	if s.db.Dialect == Postgres {
		out, err = scanBatches(s.db.query(ctx, s.db, `UPDATE `+s.name+` AS b SET attempts = b.attempts + 1, next_attempt_at = ?, last_attempt_at = ?
			FROM (SELECT id FROM `+s.name+` WHERE status = 'pending' AND next_attempt_at <= ?
				ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED) AS due
			WHERE b.id = due.id RETURNING `+qualified("b", batchColumns), leaseUntil.UTC(), now.UTC(), now.UTC(), limit))
	} else {
		out, err = scanBatches(s.db.query(ctx, s.db, `UPDATE `+s.name+` SET attempts = attempts + 1, next_attempt_at = ?, last_attempt_at = ?
			WHERE id IN (SELECT id FROM `+s.name+` WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?)
			RETURNING `+batchColumns, leaseUntil.UTC(), now.UTC(), now.UTC(), limit))
	}
	if err != nil {
		return nil, fmt.Errorf("claim webhook batches: %w", err)
	}
	return out, nil
}

func (s *WebhookStore) BatchEvents(ctx context.Context, batchID string) ([]webhooks.Event, error) {
	rows, err := s.db.query(ctx, s.db, `SELECT `+eventColumns+`, packed FROM webhook_events WHERE batch_id = ?`, batchID)
	if err != nil {
		return nil, fmt.Errorf("webhook batch events: %w", err)
	}
	defer rows.Close()
	var out []webhooks.Event
	for rows.Next() {
		var e webhooks.Event
		var kind string
		var packed []byte
		if err := rows.Scan(&e.MessageID, &kind, &e.ID, &e.AppID, &e.BucketID, &e.ForeignID, &e.Reason, &e.Action, &e.At, &packed); err != nil {
			return nil, err
		}
		if packed != nil {
			if out, err = unpackEvents(out, packed, e.ID, e.AppID, e.BucketID); err != nil {
				return nil, fmt.Errorf("webhook batch events: %w", err)
			}
			continue
		}
		e.Kind, e.At = webhooks.Kind(kind), e.At.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sortEvents(out)
	return out, nil
}

func (s batchTable) FinishAttempt(ctx context.Context, o webhooks.Outcome) error {
	var next, delivered any
	switch o.Status {
	case webhooks.StatusPending:
		next = o.NextAttemptAt.UTC()
	case webhooks.StatusDelivered:
		delivered = o.At.UTC()
	}
	_, err := s.db.exec(ctx, s.db, `UPDATE `+s.name+` SET status = ?, last_status = ?, last_error = ?, next_attempt_at = ?, delivered_at = ?
		WHERE id = ? AND status = 'pending' AND attempts = ?`,
		string(o.Status), o.StatusCode, truncate(o.Error, 1000), next, delivered, o.BatchID, o.Attempt)
	if err != nil {
		return fmt.Errorf("finish webhook attempt: %w", err)
	}
	return nil
}

func (s batchTable) GetBatch(ctx context.Context, appID, bucketID, id string) (*webhooks.Batch, error) {
	b, err := scanBatch(s.db.queryRow(ctx, s.db, `SELECT `+batchColumns+` FROM `+s.name+` WHERE id = ? AND app_id = ? AND bucket_id = ?`, id, appID, bucketID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pushgate.NotFound("webhook batch")
	}
	return b, err
}

func (s batchTable) ListBatches(ctx context.Context, appID, bucketID string, opts webhooks.ListOptions) ([]*webhooks.Batch, error) {
	q := `SELECT ` + batchColumns + ` FROM ` + s.name + ` WHERE app_id = ? AND bucket_id = ?`
	args := []any{appID, bucketID}
	if opts.Status != "" {
		q += ` AND status = ?`
		args = append(args, string(opts.Status))
	}
	if opts.Before != "" {
		q += ` AND id < ?`
		args = append(args, opts.Before)
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = 50
	}
	out, err := scanBatches(s.db.query(ctx, s.db, q+` ORDER BY id DESC LIMIT ?`, append(args, limit)...))
	if err != nil {
		return nil, fmt.Errorf("list webhook batches: %w", err)
	}
	return out, nil
}

func (s batchTable) Redeliver(ctx context.Context, appID, bucketID, id string, now time.Time) error {
	res, err := s.db.exec(ctx, s.db, `UPDATE `+s.name+` SET status = 'pending', retry_since = ?, next_attempt_at = ?, delivered_at = NULL
		WHERE id = ? AND app_id = ? AND bucket_id = ? AND status <> 'pending'`, now.UTC(), now.UTC(), id, appID, bucketID)
	if err != nil {
		return fmt.Errorf("redeliver webhook batch: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	if _, err := s.GetBatch(ctx, appID, bucketID, id); err != nil {
		return err
	}
	return pushgate.Errorf(pushgate.ECONFLICT, "webhook batch is already pending delivery")
}

func (s batchTable) PruneBatches(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.db.exec(ctx, s.db, `DELETE FROM `+s.name+` WHERE id IN (
		SELECT id FROM `+s.name+` WHERE status <> 'pending' AND last_attempt_at < ? LIMIT ?)`, before.UTC(), limit)
	if err != nil {
		return 0, fmt.Errorf("prune webhook batches: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
