package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/webhooks"
)

// ChannelWebhookStore implements webhooks.ChannelStore: the apps' Pusher
// channel webhook events and their batches. Its batches share their
// columns, and the statements that claim and record them, with the bucket
// callbacks' (batchTable).
type ChannelWebhookStore struct {
	db *DB
	batchTable
}

var _ webhooks.ChannelStore = (*ChannelWebhookStore)(nil)

// ChannelWebhooks returns the channel webhook store of db.
func (db *DB) ChannelWebhooks() *ChannelWebhookStore {
	return &ChannelWebhookStore{db: db, batchTable: batchTable{db: db, name: "channel_webhook_batches"}}
}

// AddChannelEvents stores events in one statement (per 500), in order.
func (s *ChannelWebhookStore) AddChannelEvents(ctx context.Context, events []webhooks.Event) error {
	for len(events) > 0 {
		n := min(len(events), 500)
		args := make([]any, 0, 3*n)
		for _, e := range events[:n] {
			body, err := json.Marshal(e.Channel)
			if err != nil {
				return err
			}
			args = append(args, e.AppID, string(body), e.At.UTC())
		}
		q := `INSERT INTO channel_webhook_events (app_id, body, at) VALUES (?, ?, ?)` + strings.Repeat(`, (?, ?, ?)`, n-1)
		if _, err := s.db.exec(ctx, s.db, q, args...); err != nil {
			return fmt.Errorf("store channel webhook events: %w", err)
		}
		events = events[n:]
	}
	return nil
}

func (s *ChannelWebhookStore) PendingBuckets(ctx context.Context, limit int) ([]webhooks.PendingBucket, error) {
	rows, err := s.db.query(ctx, s.db, `SELECT app_id, count(*), min(at) FROM channel_webhook_events WHERE batch_id IS NULL
		GROUP BY app_id ORDER BY min(at) LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("pending channel webhook events: %w", err)
	}
	defer rows.Close()
	var out []webhooks.PendingBucket
	for rows.Next() {
		var p webhooks.PendingBucket
		var oldest any
		if err := rows.Scan(&p.AppID, &p.Events, &oldest); err != nil {
			return nil, err
		}
		if p.Oldest, err = anyTime(oldest); err != nil {
			return nil, fmt.Errorf("pending channel webhook events: %w", err)
		}
		p.BucketID = p.AppID
		out = append(out, p)
	}
	return out, rows.Err()
}

// CreateBatch moves the app's oldest unbatched events into a new batch.
// On PostgreSQL the rows are locked as they are read, skipping those
// another node's flusher holds, so no event goes into two batches.
func (s *ChannelWebhookStore) CreateBatch(ctx context.Context, b webhooks.NewBatch) (int, error) {
	pick := `SELECT seq FROM channel_webhook_events WHERE app_id = ? AND batch_id IS NULL ORDER BY seq LIMIT ?`
	if s.db.Dialect == Postgres {
		pick += ` FOR UPDATE SKIP LOCKED`
	}
	n := 0
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		seqs, err := scanInts(s.db.query(ctx, tx, pick, b.AppID, b.Max))
		if err != nil || len(seqs) == 0 {
			return err
		}
		at := b.CreatedAt.UTC()
		if _, err := s.db.exec(ctx, tx, `INSERT INTO channel_webhook_batches (id, app_id, bucket_id, status, events, created_at, retry_since, next_attempt_at)
			VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)`, b.ID, b.AppID, b.AppID, len(seqs), at, at, at); err != nil {
			if errorsContains(err, "FOREIGN KEY") || errorsContains(err, "SQLSTATE 23503") {
				return pushgate.NotFound("app")
			}
			return err
		}
		args := []any{b.ID}
		for _, q := range seqs {
			args = append(args, q)
		}
		list := "(?" + strings.Repeat(", ?", len(seqs)-1) + ")"
		if _, err := s.db.exec(ctx, tx, `UPDATE channel_webhook_events SET batch_id = ? WHERE seq IN `+list, args...); err != nil {
			return err
		}
		n = len(seqs)
		return nil
	})
	switch {
	case pushgate.ErrorCode(err) == pushgate.ENOTFOUND:
		return 0, err
	case err != nil:
		return 0, fmt.Errorf("create channel webhook batch: %w", err)
	}
	return n, nil
}

func scanInts(rows *sql.Rows, err error) ([]int64, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// DropPending deletes an app's unbatched events (bucketID is the app id).
func (s *ChannelWebhookStore) DropPending(ctx context.Context, bucketID string) (int, error) {
	res, err := s.db.exec(ctx, s.db, `DELETE FROM channel_webhook_events WHERE app_id = ? AND batch_id IS NULL`, bucketID)
	if err != nil {
		return 0, fmt.Errorf("drop channel webhook events: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (s *ChannelWebhookStore) BatchEvents(ctx context.Context, batchID string) ([]webhooks.Event, error) {
	rows, err := s.db.query(ctx, s.db, `SELECT seq, app_id, body, at FROM channel_webhook_events WHERE batch_id = ? ORDER BY seq`, batchID)
	if err != nil {
		return nil, fmt.Errorf("channel webhook batch events: %w", err)
	}
	defer rows.Close()
	var out []webhooks.Event
	for rows.Next() {
		var seq int64
		var body string
		var at time.Time
		e := webhooks.Event{Channel: &webhooks.ChannelEvent{}}
		if err := rows.Scan(&seq, &e.AppID, &body, &at); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(body), e.Channel); err != nil {
			return nil, fmt.Errorf("channel webhook event %d: %w", seq, err)
		}
		e.ID, e.BucketID, e.At = strconv.FormatInt(seq, 10), e.AppID, at.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
