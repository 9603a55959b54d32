package sqlstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/pushgate/pushgate/messages"
)

// pgChunkTx is chunkTx on PostgreSQL (outbox.go): statements with arrays
// for parameters, on one pgx transaction: a pgx.Tx, or a connection on
// which finish's first statement begins one and its last commits it
// (pipelined: withPipelined).
type pgChunkTx struct {
	tx        pgxTx
	pipelined bool
}

// pgxTx is what pgChunkTx runs statements on: a pgx.Tx or a *pgx.Conn.
type pgxTx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

var _ chunkTx = pgChunkTx{}

func (t pgChunkTx) leaseChunks(ctx context.Context, keys []string, now, leaseUntil time.Time) ([]outboxRow, error) {
	return readOutbox(ctx, t.tx, `UPDATE outbox SET lease_until = $1, claimed_at = $2, claims = claims + 1
		WHERE id = ANY($3) AND lease_until IS NULL RETURNING `+outboxReadColumns, leaseUntil, now, keys)
}

func (t pgChunkTx) inMessages(ctx context.Context, ids []string) (map[string]bool, error) {
	// Planned for each call, as recordClientEventsPG says why.
	rows, err := t.tx.Query(ctx, `SELECT id FROM messages WHERE id = ANY($1)`, pgx.QueryExecModeCacheDescribe, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanIDSet(rows)
}

func (t pgChunkTx) claimMessages(ctx context.Context, ids []string, now, leaseUntil time.Time) ([]*messages.Message, error) {
	rows, err := t.tx.Query(ctx, `UPDATE messages SET status = 'sending', lease_until = $1, updated_at = $2
		WHERE id = ANY($3) AND status = 'queued' RETURNING `+claimColumns, leaseUntil, now, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*messages.Message
	for rows.Next() {
		m, err := scanClaimed(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// takeChunks locks the rows, reads their interim results (which the
// delete cascades to), then deletes the rows: three statements, so that
// the read sees every result stored before the locks were taken.
func (t pgChunkTx) takeChunks(ctx context.Context, keys []string) ([]outboxRow, error) {
	if _, err := t.tx.Exec(ctx, `SELECT id FROM outbox WHERE id = ANY($1) ORDER BY id FOR UPDATE`, keys); err != nil {
		return nil, err
	}
	more, err := t.interim(ctx, keys)
	if err != nil {
		return nil, err
	}
	rows, err := readOutbox(ctx, t.tx, `DELETE FROM outbox WHERE id = ANY($1) RETURNING `+outboxReadColumns, keys)
	attachInterim(rows, more)
	return rows, err
}

func (t pgChunkTx) interim(ctx context.Context, keys []string) (map[string][]byte, error) {
	rows, err := t.tx.Query(ctx, `SELECT chunk_id, packed FROM outbox_results WHERE chunk_id = ANY($1)`, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanInterim(rows)
}

func (t pgChunkTx) endLeases(ctx context.Context, now time.Time) ([]outboxRow, error) {
	return readOutbox(ctx, t.tx, `UPDATE outbox SET lease_until = NULL, enqueued_at = $1 WHERE lease_until < $1 AND `+unfinishedChunks(Postgres)+` RETURNING `+outboxReadColumns, now)
}

func (t pgChunkTx) dueChunks(ctx context.Context, except []string, dueBefore time.Time, limit int) ([]outboxRow, error) {
	return readOutbox(ctx, t.tx, `WITH due AS (
			SELECT id, sum(size - done) OVER (ORDER BY enqueued_at, id) - (size - done) AS before FROM outbox
			WHERE lease_until IS NULL AND enqueued_at < $1 AND done < size AND NOT (id = ANY($3)) ORDER BY enqueued_at, id LIMIT $2)
		SELECT `+prefixColumns("o.", outboxReadColumns)+` FROM outbox o JOIN due d ON d.id = o.id
		WHERE d.before < $2 ORDER BY o.enqueued_at, o.id`, dueBefore, limit, except)
}

// readOutbox runs a statement that returns outbox rows (outboxReadColumns)
// and reads them all.
func readOutbox(ctx context.Context, tx pgxTx, query string, args ...any) ([]outboxRow, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanOutboxRows(rows)
}

var claimCopyColumns = append(append([]string{}, insertColumns...), "lease_until", "reason", "last_error", "sent_at", "finished_at")

// copyRow is m as a row of claimCopyColumns.
func copyRow(m *messages.Message) []any {
	var finished any
	if m.Status.Final() {
		finished = m.UpdatedAt.UTC()
	}
	return append(insertRow(m), nullTime(m.LeaseUntil), m.Reason, m.LastError, nullTime(m.SentAt), finished)
}

func (t pgChunkTx) copyMessages(ctx context.Context, msgs []*messages.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	rows := make([][]any, len(msgs))
	for i, m := range msgs {
		rows[i] = copyRow(storableCopy(m))
	}
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{"messages"}, claimCopyColumns, pgx.CopyFromRows(rows))
	return err
}

// storableCopy returns m with its texts made storable
// (messages.StorableText): a chunk's row holds in bytea what text columns
// refuse, such as a NUL in a foreign id.
func storableCopy(m *messages.Message) *messages.Message {
	c := *m
	c.ForeignID, c.Reason, c.LastError = messages.StorableText(c.ForeignID), messages.StorableText(c.Reason), messages.StorableText(c.LastError)
	r := &c.Receiver
	r.ForeignID, r.Token, r.Endpoint = messages.StorableText(r.ForeignID), messages.StorableText(r.Token), messages.StorableText(r.Endpoint)
	r.UserID, r.P256dh, r.Auth = messages.StorableText(r.UserID), messages.StorableText(r.P256dh), messages.StorableText(r.Auth)
	return &c
}

// withPgx runs fn on one pgx connection of the pool, in a transaction.
func (db *DB) withPgx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		return pgx.BeginFunc(ctx, dc.(*stdlib.Conn).Conn(), fn)
	})
}

// withPipelined runs fn on one pgx connection of the pool, in a
// transaction that fn's first statement begins and its last commits, sent
// with them (pgChunkTx.pipelined): two round trips fewer than withPgx,
// which finish, written every few milliseconds, needs (issue 18). The
// transaction is rolled back if fn fails or leaves it open.
func (db *DB) withPipelined(ctx context.Context, fn func(t pgChunkTx) error) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c := dc.(*stdlib.Conn).Conn()
		err := fn(pgChunkTx{tx: c, pipelined: true})
		if c.PgConn().TxStatus() != 'I' { // a failed or unfinished transaction
			if _, rerr := c.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
				c.Close(context.WithoutCancel(ctx)) // the pool drops it
			}
			if err == nil {
				err = errors.New("a pipelined transaction was left open")
			}
		}
		return err
	})
}

// prefixColumns puts prefix before each of the comma-separated columns.
func prefixColumns(prefix, columns string) string {
	parts := strings.Split(columns, ", ")
	for i, p := range parts {
		parts[i] = prefix + p
	}
	return strings.Join(parts, ", ")
}
