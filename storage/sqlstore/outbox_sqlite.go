package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/messages"
)

// liteChunkTx is chunkTx on SQLite (outbox.go): statements with lists of
// parameters, in one transaction that holds the database's one write
// lock from its start (_txlock=immediate), so rows read are locked too.
type liteChunkTx struct {
	db *DB
	tx *sql.Tx
}

var _ chunkTx = liteChunkTx{}

// readOutbox runs a statement that returns outbox rows (outboxReadColumns)
// and reads them all.
func (t liteChunkTx) readOutbox(ctx context.Context, query string, args ...any) ([]outboxRow, error) {
	rows, err := t.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanOutboxRows(rows)
}

func (t liteChunkTx) leaseChunks(ctx context.Context, keys []string, now, leaseUntil time.Time) ([]outboxRow, error) {
	list, args := inList(keys)
	return t.readOutbox(ctx, `UPDATE outbox SET lease_until = ?, claimed_at = ?, claims = claims + 1
		WHERE id IN `+list+` AND lease_until IS NULL RETURNING `+outboxReadColumns, append([]any{leaseUntil, now}, args...)...)
}

func (t liteChunkTx) inMessages(ctx context.Context, ids []string) (map[string]bool, error) {
	list, args := inList(ids)
	rows, err := t.tx.QueryContext(ctx, `SELECT id FROM messages WHERE id IN `+list, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanIDSet(rows)
}

func (t liteChunkTx) claimMessages(ctx context.Context, ids []string, now, leaseUntil time.Time) ([]*messages.Message, error) {
	list, args := inList(ids)
	rows, err := t.tx.QueryContext(ctx, `UPDATE messages SET status = 'sending', lease_until = ?, updated_at = ?
		WHERE id IN `+list+` AND status = 'queued' RETURNING `+claimColumns, append([]any{leaseUntil, now}, args...)...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanClaimed)
}

// takeChunks reads the rows' interim results before it deletes the rows
// (the delete cascades to them).
func (t liteChunkTx) takeChunks(ctx context.Context, keys []string) ([]outboxRow, error) {
	more, err := t.interim(ctx, keys)
	if err != nil {
		return nil, err
	}
	list, args := inList(keys)
	rows, err := t.readOutbox(ctx, `DELETE FROM outbox WHERE id IN `+list+` RETURNING `+outboxReadColumns, args...)
	attachInterim(rows, more)
	return rows, err
}

func (t liteChunkTx) interim(ctx context.Context, keys []string) (map[string][]byte, error) {
	list, args := inList(keys)
	rows, err := t.tx.QueryContext(ctx, `SELECT chunk_id, packed FROM outbox_results WHERE chunk_id IN `+list, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanInterim(rows)
}

func (t liteChunkTx) endLeases(ctx context.Context, now time.Time) ([]outboxRow, error) {
	return t.readOutbox(ctx, `UPDATE outbox SET lease_until = NULL, enqueued_at = ? WHERE lease_until < ? AND done < size RETURNING `+outboxReadColumns, now, now)
}

func (t liteChunkTx) dueChunks(ctx context.Context, except []string, dueBefore time.Time, limit int) ([]outboxRow, error) {
	list, args := inList(append(except, "")) // no chunk's key is empty
	return t.readOutbox(ctx, `WITH due AS (
			SELECT id, sum(size - done) OVER (ORDER BY enqueued_at, id) - (size - done) AS before FROM outbox
			WHERE lease_until IS NULL AND enqueued_at < ? AND done < size AND id NOT IN `+list+` ORDER BY enqueued_at, id LIMIT ?)
		SELECT `+prefixColumns("o.", outboxReadColumns)+` FROM outbox o JOIN due d ON d.id = o.id
		WHERE d.before < ? ORDER BY o.enqueued_at, o.id`, append(append([]any{dueBefore}, args...), limit, limit)...)
}

func (t liteChunkTx) copyMessages(ctx context.Context, msgs []*messages.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	stmt, err := t.tx.PrepareContext(ctx, `INSERT INTO messages (`+strings.Join(claimCopyColumns, ", ")+`) VALUES (?`+strings.Repeat(", ?", len(claimCopyColumns)-1)+`)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, m := range msgs {
		if _, err := stmt.ExecContext(ctx, copyRow(m)...); err != nil {
			return err
		}
	}
	return nil
}

func (t liteChunkTx) lockChunks(ctx context.Context, keys []string) (map[string]*lockedChunk, error) {
	list, args := inList(keys)
	rows, err := t.tx.QueryContext(ctx, `SELECT o.id, o.app_id, o.bucket_id, o.lease_until IS NOT NULL AND o.done < o.size, o.results, coalesce(b.has_callback, FALSE),
			o.done, o.size, o.claims
		FROM outbox o LEFT JOIN buckets b ON b.id = o.bucket_id WHERE o.id IN `+list, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanLockedChunks(rows)
}

// storeFinish writes p: the results that go into messages (storeRest),
// then for each chunk that gained results an interim row, or its results
// folded into its row if this finishes it (results.go), and its counts;
// then one INSERT per event set.
func (t liteChunkTx) storeFinish(ctx context.Context, p *finishPlan) error {
	moved, err := t.storeRest(ctx, p)
	if err != nil {
		return err
	}
	for key, c := range p.chunks {
		if err := t.storeChunk(ctx, key, c, moved[key]); err != nil {
			return err
		}
	}
	for _, s := range p.events {
		if err := t.insertSet(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// storeChunk stores what a finish adds to the chunk key: its results c
// and moved messages moved into messages.
func (t liteChunkTx) storeChunk(ctx context.Context, key string, c *lockedChunk, moved int) error {
	n := int(c.n) + moved
	if n == 0 {
		return nil
	}
	var results []byte // the row's value whole, when folded: || would make it text
	switch {
	case c.n > 0 && c.finishes(moved):
		if !c.lookedUp { // the interim rows, to fold
			more, err := t.interim(ctx, []string{key})
			if err != nil {
				return err
			}
			c.stored, c.lookedUp = append(c.stored, more[key]...), true
		}
		results = c.finished()
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM outbox_results WHERE chunk_id = ?`, key); err != nil {
			return err
		}
	case c.n > 0:
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO outbox_results (chunk_id, packed) VALUES (?, ?)`, key, c.packed); err != nil {
			return err
		}
	}
	_, err := t.tx.ExecContext(ctx, `UPDATE outbox SET results = coalesce(?, results), finals = finals + ?, done = done + ?,
		lease_until = CASE WHEN done + ? >= size THEN ? ELSE lease_until END WHERE id = ?`,
		results, c.n, n, n, finishedLease, key)
	return err
}

// insertSet stores s as one row of webhook_events.
func (t liteChunkTx) insertSet(ctx context.Context, s *eventSet) error {
	id := pushgate.NewID()
	_, err := t.tx.ExecContext(ctx, `INSERT INTO webhook_events (message_id, kind, id, app_id, bucket_id, at, events, packed)
		VALUES (?, '`+eventSetKind+`', ?, ?, ?, ?, ?, ?)`, id, id, s.appID, s.bucketID, s.at.UTC(), s.n, s.packed)
	return err
}

// storeRest stores the results of p.rest in messages: a message there
// (a retry's, or one claimed from messages) is updated if it is still
// sending; one still in its chunk, which a worker holds, is inserted whole
// with its result and counted done on the chunk (moved, by chunk key);
// any other is dropped. A final one stores its webhook event, if its
// bucket has a callback.
func (t liteChunkTx) storeRest(ctx context.Context, p *finishPlan) (map[string]int, error) {
	if len(p.rest) == 0 {
		return nil, nil
	}
	ids := make([]string, len(p.rest))
	for i := range p.rest {
		ids[i] = p.rest[i].Message.ID
	}
	written, err := t.inMessages(ctx, ids)
	if err != nil {
		return nil, err
	}
	moved := map[string]int{}
	var inserts []*messages.Message
	ev := restEvents{t: t, hasCallback: map[string]bool{}}
	for i := range p.rest {
		r := &p.rest[i]
		if written[r.Message.ID] {
			if err := t.updateMessage(ctx, r, &ev); err != nil {
				return nil, err
			}
			continue
		}
		key, c := p.chunkOf(r.Message)
		if c == nil || !c.open {
			continue
		}
		moved[key]++
		ev.hasCallback[c.bucketID] = c.hasCallback
		inserts = append(inserts, resultMessage(r))
		ev.add(r, r.Message.AppID, r.Message.BucketID, r.Message.ForeignID)
	}
	if err := t.copyMessages(ctx, inserts); err != nil {
		return nil, err
	}
	return moved, ev.store(ctx)
}

// updateMessage stores r's result in its row of messages if the message
// is still sending, and notes its event in ev.
func (t liteChunkTx) updateMessage(ctx context.Context, r *messages.Result, ev *restEvents) error {
	retry := r.RetryAt
	if retry.IsZero() {
		retry = r.At
	}
	status, at := string(r.Status), r.At.UTC()
	var appID, bucketID, foreignID string
	err := t.tx.QueryRowContext(ctx, `UPDATE messages SET status = ?, reason = ?, last_error = ?, attempts = ?, updated_at = ?, lease_until = NULL,
		sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END,
		finished_at = CASE WHEN ? IN ('sent', 'failed', 'expired') THEN ? ELSE NULL END,
		enqueued_at = CASE WHEN ? = 'queued' THEN ? ELSE enqueued_at END
		WHERE id = ? AND status = 'sending'
		RETURNING app_id, bucket_id, foreign_id`, status, r.Reason, errorText(r.Error), r.Attempts, at,
		status, at, status, at, status, retry.UTC(), r.Message.ID).Scan(&appID, &bucketID, &foreignID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	ev.add(r, appID, bucketID, foreignID)
	return nil
}

// resultMessage is r's message with r's result, as a row of messages
// holds it.
func resultMessage(r *messages.Result) *messages.Message {
	m := *r.Message
	m.Status, m.Reason, m.LastError, m.Attempts = r.Status, r.Reason, errorText(r.Error), r.Attempts
	m.UpdatedAt, m.LeaseUntil, m.EnqueuedAt = r.At.UTC(), time.Time{}, r.At.UTC()
	if !r.RetryAt.IsZero() {
		m.EnqueuedAt = r.RetryAt.UTC()
	}
	if r.Status == messages.Sent {
		m.SentAt = r.At.UTC()
	}
	return &m
}

// restEvents are the webhook events of the results storeRest stored, one
// row each.
type restEvents struct {
	t           liteChunkTx
	hasCallback map[string]bool // by bucket, as far as known
	rows        [][]any
	buckets     []string
}

func (e *restEvents) add(r *messages.Result, appID, bucketID, foreignID string) {
	ev, ok := resultEvent(r)
	if !ok {
		return
	}
	e.rows = append(e.rows, []any{r.Message.ID, string(ev.Kind), pushgate.NewID(), appID, bucketID, foreignID, ev.Reason, ev.Action, r.At.UTC()})
	e.buckets = append(e.buckets, bucketID)
}

// store inserts the events whose bucket has a callback.
func (e *restEvents) store(ctx context.Context) error {
	for i, row := range e.rows {
		wants, known := e.hasCallback[e.buckets[i]]
		if !known {
			err := e.t.tx.QueryRowContext(ctx, `SELECT has_callback FROM buckets WHERE id = ?`, e.buckets[i]).Scan(&wants)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			e.hasCallback[e.buckets[i]] = wants
		}
		if !wants {
			continue
		}
		if _, err := e.t.tx.ExecContext(ctx, `INSERT INTO webhook_events (`+eventColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, row...); err != nil {
			return err
		}
	}
	return nil
}
