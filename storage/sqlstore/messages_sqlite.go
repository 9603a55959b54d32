package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/messages"
)

// sqliteMessages writes SQLite's outbox rows (outbox.go says how), a
// statement a row: with one writer and no network between, a send of
// 1000 receivers takes the write lock for two short inserts.
type sqliteMessages struct{ db *DB }

// insert stores msgs as one outbox row per IDGroup, in one transaction.
func (s sqliteMessages) insert(ctx context.Context, msgs []*messages.Message) error {
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO outbox (id, `+outboxColumns+`, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		return eachChunk(msgs, func(chunk []*messages.Message) error {
			m := chunk[0]
			_, err := stmt.ExecContext(ctx, pushgate.IDGroup(m.ID), m.AppID, m.BucketID, m.ContextID, m.CredentialID, m.Provider,
				m.CreatedAt.UTC(), nullTime(m.ExpiresAt), m.EnqueuedAt.UTC(), packReceivers(chunk), len(chunk))
			if isUniqueViolation(err) {
				// Another process's chunk made in the same millisecond has the
				// key (or this insert names one group twice).
				return fmt.Errorf("%w: %v", messages.ErrIDTaken, err)
			}
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("store messages: %w", err)
	}
	return nil
}

func (s sqliteMessages) markEnqueued(ctx context.Context, ids []string, at time.Time) error {
	list, args := inList(outboxKeys(ids))
	if _, err := s.db.exec(ctx, s.db, `UPDATE outbox SET enqueued_at = ? WHERE id IN `+list, append([]any{at.UTC()}, args...)...); err != nil {
		return err
	}
	list, args = inList(ids)
	_, err := s.db.exec(ctx, s.db, `UPDATE messages SET enqueued_at = ? WHERE id IN `+list+` AND status = 'queued'`, append([]any{at.UTC()}, args...)...)
	return err
}
