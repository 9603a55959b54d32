package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/webhooks"
)

// Backlog bounds: a scrape reads at most this many rows of each table, so
// its cost stays the same however far behind delivery is. 10,000 outbox
// chunks hold up to 5 million messages at the default chunk size.
const (
	backlogChunks   = 10000
	backlogMessages = 100000
	backlogBatches  = 100000
)

// Backlog counts unfinished messages: the outbox chunks with messages not
// final yet (their unfinished part) and the rows of messages not finished
// (retries, partly claimed chunks, rows older than the outbox). Every
// query reads through a partial index of unfinished rows, and at most a
// bounded number of them.
func (s *MessageStore) Backlog(ctx context.Context) (messages.Backlog, error) {
	var b messages.Backlog
	var chunks, inChunks, rows int
	unfinished := unfinishedChunks(s.db.Dialect)
	err := s.db.queryRow(ctx, s.db, fmt.Sprintf(`SELECT count(*), coalesce(sum(size - done), 0)
		FROM (SELECT size, done FROM outbox WHERE %s LIMIT %d) t`, unfinished, backlogChunks)).Scan(&chunks, &inChunks)
	if err != nil {
		return b, fmt.Errorf("outbox backlog: %w", err)
	}
	err = s.db.queryRow(ctx, s.db, fmt.Sprintf(`SELECT count(*)
		FROM (SELECT 1 FROM messages WHERE finished_at IS NULL LIMIT %d) t`, backlogMessages)).Scan(&rows)
	if err != nil {
		return b, fmt.Errorf("messages backlog: %w", err)
	}
	b.Unfinished, b.Capped = inChunks+rows, chunks == backlogChunks || rows == backlogMessages
	for _, q := range []string{
		`SELECT enqueued_at FROM outbox WHERE ` + unfinished + ` ORDER BY enqueued_at LIMIT 1`,
		`SELECT enqueued_at FROM messages WHERE finished_at IS NULL ORDER BY enqueued_at LIMIT 1`,
	} {
		at, err := s.db.firstTime(ctx, q)
		if err != nil {
			return b, fmt.Errorf("oldest unfinished message: %w", err)
		}
		if !at.IsZero() && (b.OldestDue.IsZero() || at.Before(b.OldestDue)) {
			b.OldestDue = at
		}
	}
	return b, nil
}

// Backlog counts the batches waiting to be POSTed (through the partial
// index of pending batches, at most a bounded number of them) and finds
// when the oldest was made.
func (s *WebhookStore) Backlog(ctx context.Context) (webhooks.Backlog, error) {
	var b webhooks.Backlog
	err := s.db.queryRow(ctx, s.db, fmt.Sprintf(`SELECT count(*)
		FROM (SELECT 1 FROM webhook_batches WHERE status = 'pending' LIMIT %d) t`, backlogBatches)).Scan(&b.Pending)
	if err != nil {
		return b, fmt.Errorf("webhook backlog: %w", err)
	}
	b.Capped = b.Pending == backlogBatches
	b.Oldest, err = s.db.firstTime(ctx, `SELECT created_at FROM webhook_batches WHERE status = 'pending' ORDER BY created_at LIMIT 1`)
	if err != nil {
		return b, fmt.Errorf("oldest pending webhook batch: %w", err)
	}
	return b, nil
}

// firstTime runs a query of one time column and returns its first row's
// value, or zero when there is none.
func (db *DB) firstTime(ctx context.Context, query string) (time.Time, error) {
	var at time.Time
	err := db.queryRow(ctx, db, query).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	return at.UTC(), err
}

// unfinishedChunks is the condition on outbox rows of the chunks not
// finished yet, in terms that the dialect's partial index of them
// (outbox_unfinished) is seen to cover: PostgreSQL's names the lease
// (finished chunks are leased until finishedLease, so that updating done
// leaves the index alone), SQLite's done.
func unfinishedChunks(d Dialect) string {
	if d == Postgres {
		return `(lease_until IS NULL OR lease_until < ` + finishedLeaseSQL + `) AND done < size`
	}
	return `done < size`
}
