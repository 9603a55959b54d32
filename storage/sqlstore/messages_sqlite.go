package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/webhooks"
)

// sqliteMessages is the SQLite model of messages: with one writer and no
// network between, every message is a row of messages from Insert on, and
// its result updates it.
type sqliteMessages struct{ db *DB }

func (s sqliteMessages) insert(ctx context.Context, msgs []*messages.Message) error {
	return s.db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO messages (`+strings.Join(insertColumns, ", ")+`) VALUES (?`+strings.Repeat(", ?", len(insertColumns)-1)+`)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, m := range msgs {
			if _, err := stmt.ExecContext(ctx, insertRow(m)...); err != nil {
				if isUniqueViolation(err) {
					return fmt.Errorf("store messages: %w: %v", messages.ErrIDTaken, err)
				}
				return err
			}
		}
		return nil
	})
}

func (s sqliteMessages) claim(ctx context.Context, ids []string, now, leaseUntil time.Time) ([]*messages.Message, error) {
	list, args := inList(ids)
	rows, err := s.db.query(ctx, s.db, `UPDATE messages SET status = 'sending', lease_until = ?, updated_at = ?
		WHERE id IN `+list+` AND status = 'queued' RETURNING `+claimColumns, append([]any{leaseUntil.UTC(), now.UTC()}, args...)...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanClaimed)
}

// finish updates each sending message with its result and stores the
// webhook event of a final one whose bucket has a callback, in one
// transaction.
func (s sqliteMessages) finish(ctx context.Context, results []messages.Result) error {
	return s.db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE messages SET status = ?, reason = ?, last_error = ?, attempts = ?, updated_at = ?, lease_until = NULL,
			sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END,
			finished_at = CASE WHEN ? IN ('sent', 'failed', 'expired') THEN ? ELSE NULL END,
			enqueued_at = CASE WHEN ? = 'queued' THEN ? ELSE enqueued_at END
			WHERE id = ? AND status = 'sending'
			RETURNING app_id, bucket_id, foreign_id`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		hasCallback := map[string]bool{}
		for i := range results {
			r := &results[i]
			retry := r.RetryAt
			if retry.IsZero() {
				retry = r.At
			}
			var e webhooks.Event
			err := stmt.QueryRowContext(ctx, string(r.Status), r.Reason, errorText(r.Error), r.Attempts, r.At.UTC(),
				string(r.Status), r.At.UTC(), string(r.Status), r.At.UTC(), string(r.Status), retry.UTC(), r.Message.ID).Scan(&e.AppID, &e.BucketID, &e.ForeignID)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if err := s.resultEvent(ctx, tx, r, e, hasCallback); err != nil {
				return err
			}
		}
		return nil
	})
}

// resultEvent stores the webhook event of r, whose message (app, bucket
// and foreign id in stored) was just updated, if its result is final and
// its bucket has a callback. hasCallback remembers the buckets looked up.
func (s sqliteMessages) resultEvent(ctx context.Context, tx *sql.Tx, r *messages.Result, stored webhooks.Event, hasCallback map[string]bool) error {
	e, ok := resultEvent(r)
	if !ok {
		return nil
	}
	wants, known := hasCallback[stored.BucketID]
	if !known {
		err := s.db.queryRow(ctx, tx, `SELECT has_callback FROM buckets WHERE id = ?`, stored.BucketID).Scan(&wants)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		hasCallback[stored.BucketID] = wants
	}
	if !wants {
		return nil
	}
	_, err := s.db.exec(ctx, tx, `INSERT INTO webhook_events (`+eventColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		r.Message.ID, string(e.Kind), pushgate.NewID(), stored.AppID, stored.BucketID, stored.ForeignID, e.Reason, e.Action, r.At.UTC())
	return err
}

func (s sqliteMessages) get(ctx context.Context, appID, bucketID, id string) (*messages.Message, error) {
	return getMessage(ctx, s.db, appID, bucketID, id)
}

func (s sqliteMessages) stale(ctx context.Context, now, dueBefore time.Time, limit int) ([]messages.Ref, error) {
	return staleMessages(ctx, s.db, now, dueBefore, limit)
}

func (s sqliteMessages) markEnqueued(ctx context.Context, ids []string, at time.Time) error {
	list, args := inList(ids)
	_, err := s.db.exec(ctx, s.db, `UPDATE messages SET enqueued_at = ? WHERE id IN `+list+` AND status = 'queued'`, append([]any{at.UTC()}, args...)...)
	return err
}
