package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/webhooks"
)

// A row of webhook_events holds either one event (events 1, packed NULL:
// every client event, and the result events of retries and of messages
// claimed from messages) or the result events of many messages of one
// bucket that one Finish stored with their chunks (kind eventSetKind,
// events counting them, packed holding them; see results.go). Statements that count events sum events; a batch
// takes whole rows, and a set larger than the batch's room is split first
// (splitSet), so that a batch holds its bucket's size, never more.
//
// packed holds, for each event: the message id, foreign id, kind, reason
// and action (each an unsigned varint length and the bytes), then its time
// in Unix microseconds (an unsigned varint).

// eventSetKind is the kind of a row that holds a set of events.
const eventSetKind = "results"

func packEvent(b []byte, e webhooks.Event) []byte {
	for _, s := range [...]string{e.MessageID, e.ForeignID, string(e.Kind), e.Reason, e.Action} {
		b = appendString(b, s)
	}
	return binary.AppendUvarint(b, uint64(e.At.UnixMicro()))
}

var errBadEvents = errors.New("webhook events: corrupt set")

// unpackEvents appends to out the events packed in b, each with the set's
// ids.
func unpackEvents(out []webhooks.Event, packed []byte, id, appID, bucketID string) ([]webhooks.Event, error) {
	b := blob(packed)
	n := b.count(5, 1)
	if n < 0 {
		return nil, errBadEvents
	}
	out = slices.Grow(out, n)
	for len(b) > 0 {
		var f [5]string
		ok := true
		for i := range f {
			f[i], b, _ = b.str() // counted above
		}
		var at uint64
		if at, b, ok = b.uvarint(); !ok {
			return nil, errBadEvents
		}
		out = append(out, webhooks.Event{ID: id, AppID: appID, BucketID: bucketID, MessageID: f[0], ForeignID: f[1], Kind: webhooks.Kind(f[2]),
			Reason: f[3], Action: f[4], At: time.UnixMicro(int64(at)).UTC()})
	}
	return out, nil
}

// sortEvents puts a batch's events in BatchEvents' stable order.
func sortEvents(events []webhooks.Event) {
	if !slices.IsSortedFunc(events, compareEvents) { // sets are, and come mostly in order
		slices.SortStableFunc(events, compareEvents)
	}
}

// compareEvents orders events by time, then message id, then kind.
func compareEvents(a, b webhooks.Event) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	if c := strings.Compare(a.MessageID, b.MessageID); c != 0 {
		return c
	}
	return strings.Compare(string(a.Kind), string(b.Kind))
}

// fillBatch returns how many of the oldest unbatched rows (counts: the
// events of each) a batch of max events takes, as many as fit, and the
// events they hold; room is, when the last one taken is a set that does
// not fit whole, the events of it the batch takes (splitEvents), so that
// a batch is as full as it was with one row an event.
func fillBatch(counts []int, max int) (take, total, room int) {
	for _, n := range counts {
		left := max - total
		if left == 0 {
			break
		}
		if n > left { // only a set holds more than one
			return take + 1, max, left
		}
		take, total = take+1, total+n
	}
	return take, total, 0
}

// splitEvents divides the set packed (of row id) in two: its first max
// events in time order (head), and the others (tail).
func splitEvents(packed []byte, id, appID, bucketID string, max int) (head, tail *eventSet, err error) {
	events, err := unpackEvents(nil, packed, id, appID, bucketID)
	if err != nil {
		return nil, nil, err
	}
	sortEvents(events)
	head, tail = &eventSet{appID: appID, bucketID: bucketID}, &eventSet{appID: appID, bucketID: bucketID}
	for i, e := range events {
		set := head
		if i >= max {
			set = tail
		}
		set.add(e.MessageID, e.ForeignID, e, e.At)
	}
	return head, tail, nil
}

// eventRow is an unbatched row CreateBatch may take: its ctid finds it
// again while it is locked. (The ctids go as a tid[] parameter: cast from
// text in the statement, they were cast again for every row scanned.)
type eventRow struct {
	ctid      pgtype.TID
	messageID string
	events    int
}

// createBatchPG moves up to b.Max of a bucket's oldest unbatched events
// into a new batch: rows, oldest first, as many as fit, and of a set that
// does not fit whole the events that fill the batch (splitSet), so that a
// batch is as full as it was with one row an event. Rows other flushers
// hold are skipped (SKIP LOCKED).
func (s *WebhookStore) createBatchPG(ctx context.Context, b webhooks.NewBatch) (int, error) {
	n := 0
	err := s.db.withPgx(ctx, func(tx pgx.Tx) error {
		rows, err := lockUnbatched(ctx, tx, b.BucketID, b.Max)
		if err != nil || len(rows) == 0 {
			return err
		}
		counts := make([]int, len(rows))
		for i, r := range rows {
			counts[i] = r.events
		}
		take, total, room := fillBatch(counts, b.Max)
		if room > 0 {
			ctid, err := splitSet(ctx, tx, rows[take-1].ctid, room)
			if err != nil {
				return err
			}
			rows[take-1].ctid = ctid
		}
		ctids := make([]pgtype.TID, take)
		for i, r := range rows[:take] {
			ctids[i] = r.ctid
		}
		at := b.CreatedAt.UTC()
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_batches (id, app_id, bucket_id, status, events, created_at, retry_since, next_attempt_at)
			VALUES ($1, $2, $3, 'pending', $4, $5, $5, $5)`, b.ID, b.AppID, b.BucketID, total, at); err != nil {
			return err
		}
		// The planner fetches a thousand rows by ctid with a scan of the
		// whole table (batched events stay until their batch is pruned):
		// naming the bucket's unbatched rows lets it read those alone,
		// through webhook_events_unbatched. Planned for each call, so that
		// a plan made while the table was small is not kept.
		if _, err := tx.Exec(ctx, `UPDATE webhook_events SET batch_id = $1 WHERE bucket_id = $2 AND batch_id IS NULL AND ctid = ANY($3::tid[])`,
			pgx.QueryExecModeCacheDescribe, b.ID, b.BucketID, ctids); err != nil {
			return err
		}
		n = total
		return nil
	})
	switch {
	case errorsContains(err, "SQLSTATE 23503"):
		return 0, pushgate.NotFound("bucket")
	case err != nil:
		return 0, fmt.Errorf("create webhook batch: %w", err)
	}
	return n, nil
}

// lockUnbatched locks and returns up to limit of a bucket's oldest
// unbatched rows that no other transaction holds.
func lockUnbatched(ctx context.Context, tx pgx.Tx, bucketID string, limit int) ([]eventRow, error) {
	rows, err := tx.Query(ctx, `SELECT ctid, message_id, events FROM webhook_events WHERE bucket_id = $1 AND batch_id IS NULL
		ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED`, bucketID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []eventRow
	for rows.Next() {
		var r eventRow
		if err := rows.Scan(&r.ctid, &r.messageID, &r.events); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// splitSet leaves the first max events of the set at ctid (locked) in its
// row and moves the others into a new set row. It returns the row's new
// ctid.
func splitSet(ctx context.Context, tx pgx.Tx, ctid pgtype.TID, max int) (pgtype.TID, error) {
	var id, appID, bucketID string
	var packed []byte
	if err := tx.QueryRow(ctx, `SELECT message_id, app_id, bucket_id, packed FROM webhook_events WHERE ctid = $1`, ctid).
		Scan(&id, &appID, &bucketID, &packed); err != nil {
		return pgtype.TID{}, err
	}
	head, tail, err := splitEvents(packed, id, appID, bucketID, max)
	if err != nil {
		return pgtype.TID{}, err
	}
	var moved pgtype.TID
	b := &pgx.Batch{}
	b.Queue(`UPDATE webhook_events SET events = $2, packed = $3, at = $4 WHERE ctid = $1 RETURNING ctid`,
		ctid, head.n, head.packed, head.at.UTC()).QueryRow(func(row pgx.Row) error { return row.Scan(&moved) })
	queueEventSets(b, map[string]*eventSet{bucketID: tail})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return pgtype.TID{}, err
	}
	return moved, nil
}

// createBatchSQLite is createBatchPG on SQLite, which has one writer at a
// time: the rows read are the rows moved.
func (s *WebhookStore) createBatchSQLite(ctx context.Context, b webhooks.NewBatch) (int, error) {
	n := 0
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		rowids, counts, err := unbatchedRows(ctx, tx, b.BucketID, b.Max)
		if err != nil {
			return err
		}
		take, total, room := fillBatch(counts, b.Max)
		if take == 0 {
			return nil
		}
		if room > 0 {
			if err := splitSetSQLite(ctx, liteChunkTx{db: s.db, tx: tx}, rowids[take-1], room); err != nil {
				return err
			}
		}
		at := b.CreatedAt.UTC()
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_batches (id, app_id, bucket_id, status, events, created_at, retry_since, next_attempt_at)
			VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)`, b.ID, b.AppID, b.BucketID, total, at, at, at); err != nil {
			if errorsContains(err, "FOREIGN KEY") {
				return pushgate.NotFound("bucket")
			}
			return err
		}
		args := []any{b.ID}
		for _, r := range rowids[:take] {
			args = append(args, r)
		}
		list := "(?" + strings.Repeat(", ?", take-1) + ")"
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_events SET batch_id = ? WHERE rowid IN `+list, args...); err != nil {
			return err
		}
		n = total
		return nil
	})
	switch {
	case pushgate.ErrorCode(err) == pushgate.ENOTFOUND:
		return 0, err
	case err != nil:
		return 0, fmt.Errorf("create webhook batch: %w", err)
	}
	return n, nil
}

// unbatchedRows returns the rowids of up to limit of a bucket's oldest
// unbatched rows, and the events of each.
func unbatchedRows(ctx context.Context, tx *sql.Tx, bucketID string, limit int) (rowids []int64, counts []int, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT rowid, events FROM webhook_events WHERE bucket_id = ? AND batch_id IS NULL ORDER BY at LIMIT ?`, bucketID, limit)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var rowid int64
		var n int
		if err := rows.Scan(&rowid, &n); err != nil {
			return nil, nil, err
		}
		rowids, counts = append(rowids, rowid), append(counts, n)
	}
	return rowids, counts, rows.Err()
}

// splitSetSQLite leaves the first max events of the set at rowid in its
// row and moves the others into a new set row.
func splitSetSQLite(ctx context.Context, t liteChunkTx, rowid int64, max int) error {
	var id, appID, bucketID string
	var packed []byte
	if err := t.tx.QueryRowContext(ctx, `SELECT message_id, app_id, bucket_id, packed FROM webhook_events WHERE rowid = ?`, rowid).
		Scan(&id, &appID, &bucketID, &packed); err != nil {
		return err
	}
	head, tail, err := splitEvents(packed, id, appID, bucketID, max)
	if err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE webhook_events SET events = ?, packed = ?, at = ? WHERE rowid = ?`,
		head.n, head.packed, head.at.UTC(), rowid); err != nil {
		return err
	}
	return t.insertSet(ctx, tail)
}
