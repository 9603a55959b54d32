package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/inbox"
)

// A user's inbox is two index ranges: the user's rows of inbox_recipients
// (targeted notifications) and the app's broadcasts created since the
// user's first token, each bounded below by how far the purge cleared the
// user's read-all, and for unread ones by the read-all watermark. Each
// range is walked in order with its own limit and the two are merged, so
// a page costs its length, not the inbox's.

// selection is what one query of a user's inbox takes.
type selection struct {
	inbox.Query
	// until keeps notifications created at or before it (zero: no bound).
	until time.Time
	// ids keeps only these notifications (nil: all).
	ids   []string
	after *pageKey
	// page orders and limits each range and the result (false: a count).
	page bool
}

// sqlText builds a statement and its arguments in order.
type sqlText struct {
	strings.Builder
	args []any
}

func (b *sqlText) add(s string, args ...any) {
	b.WriteString(s)
	b.args = append(b.args, args...)
}

// userValue is a column of the user's inbox_users row, or def when the row
// or the value is missing. It is evaluated once per statement.
func (b *sqlText) userValue(sel *selection, column string, def any) {
	b.add(`COALESCE((SELECT `+column+` FROM inbox_users WHERE app_id = ? AND user_id = ?), ?)`, sel.AppID, sel.UserID, def)
}

// inboxRange writes the SELECT of one of the two ranges: notification id
// and creation time of the user's live notifications that sel keeps.
func (b *sqlText) inboxRange(sel *selection, broadcast bool) {
	at, id := "r.created_at", "r.notification_id"
	if broadcast {
		at, id = "n.created_at", "n.id"
		b.add(`SELECT n.id AS id, n.created_at AS created_at FROM inbox_notifications n
			LEFT JOIN inbox_states s ON s.app_id = n.app_id AND s.user_id = ? AND s.notification_id = n.id
			WHERE n.app_id = ? AND n.broadcast = TRUE AND n.created_at >= `, sel.UserID, sel.AppID)
		// No row or no first token: the user has no broadcasts.
		b.add(`(SELECT first_token_at FROM inbox_users WHERE app_id = ? AND user_id = ?)`, sel.AppID, sel.UserID)
	} else {
		b.add(`SELECT r.notification_id AS id, r.created_at AS created_at FROM inbox_recipients r
			JOIN inbox_notifications n ON n.id = r.notification_id
			LEFT JOIN inbox_states s ON s.app_id = r.app_id AND s.user_id = r.user_id AND s.notification_id = r.notification_id
			WHERE r.app_id = ? AND r.user_id = ?`, sel.AppID, sel.UserID)
	}
	b.add(` AND ` + at + ` > `)
	b.userValue(sel, "cleared_before", epoch)
	b.add(` AND n.expires_at > ? AND s.deleted_at IS NULL`, sel.Now.UTC())
	switch sel.Filter {
	case inbox.FilterUnseen:
		b.add(` AND s.read_at IS NULL AND ` + at + ` > `)
		b.userValue(sel, "read_all_at", epoch)
	case inbox.FilterSeen:
		b.add(` AND (s.read_at IS NOT NULL OR ` + at + ` <= `)
		b.userValue(sel, "read_all_at", epoch)
		b.add(`)`)
	}
	if !sel.Since.IsZero() {
		b.add(` AND `+at+` >= ?`, sel.Since.UTC())
	}
	if !sel.until.IsZero() {
		b.add(` AND `+at+` <= ?`, sel.until.UTC())
	}
	if sel.ids != nil {
		list, args := inList(sel.ids)
		b.add(` AND `+id+` IN `+list, args...)
	}
	if !sel.page {
		return
	}
	order, cmp := " DESC", "<"
	if sel.Oldest {
		order, cmp = "", ">"
	}
	if sel.after != nil {
		b.add(` AND (`+at+`, `+id+`) `+cmp+` (?, ?)`, sel.after.at, sel.after.id)
	}
	b.add(` ORDER BY `+at+order+`, `+id+order+` LIMIT ?`, sel.Limit+1)
}

// items runs a page query of sel: at most sel.Limit items, and the key
// of the next page when there is one.
func (s *InboxStore) items(ctx context.Context, q querier, sel *selection) ([]*inbox.Item, *pageKey, error) {
	sel.page = true
	var b sqlText
	b.add(`SELECT ` + notificationColumns + `, s.delivered_at, s.read_at, w.read_all_at FROM (SELECT * FROM (`)
	b.inboxRange(sel, false)
	b.add(`) a UNION ALL SELECT * FROM (`)
	b.inboxRange(sel, true)
	order := " DESC"
	if sel.Oldest {
		order = ""
	}
	b.add(`) b) p JOIN inbox_notifications n ON n.id = p.id
		LEFT JOIN inbox_states s ON s.app_id = ? AND s.user_id = ? AND s.notification_id = p.id
		LEFT JOIN inbox_users w ON w.app_id = ? AND w.user_id = ?
		ORDER BY p.created_at`+order+`, p.id`+order+` LIMIT ?`, sel.AppID, sel.UserID, sel.AppID, sel.UserID, sel.Limit+1)
	rows, err := s.db.query(ctx, q, b.String(), b.args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	out := []*inbox.Item{}
	for rows.Next() {
		var delivered, read, readAll sql.NullTime
		n, err := scanNotification(rows, &delivered, &read, &readAll)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, itemOf(n, delivered, read, readAll))
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(out) > sel.Limit {
		out = out[:sel.Limit]
		last := out[sel.Limit-1]
		return out, &pageKey{at: last.CreatedAt, id: last.ID}, nil
	}
	return out, nil, nil
}

// itemOf is n as a user stands with it: read when read or under the
// read-all watermark, else delivered when acknowledged, else unseen.
func itemOf(n *inbox.Notification, delivered, read, readAll sql.NullTime) *inbox.Item {
	it := &inbox.Item{Notification: *n, Status: inbox.StatusUnseen}
	if delivered.Valid {
		t := delivered.Time.UTC()
		it.Status, it.DeliveredAt = inbox.StatusDelivered, &t
	}
	switch {
	case read.Valid:
		t := read.Time.UTC()
		it.Status, it.ReadAt = inbox.StatusRead, &t
	case readAll.Valid && !n.CreatedAt.After(readAll.Time):
		t := readAll.Time.UTC()
		it.Status, it.ReadAt = inbox.StatusRead, &t
	}
	return it
}

func (s *InboxStore) Inbox(ctx context.Context, q inbox.Query) ([]*inbox.Item, string, error) {
	after, err := decodeCursor(q.Cursor)
	if err != nil {
		return nil, "", err
	}
	items, next, err := s.items(ctx, s.db, &selection{Query: q, after: after})
	if err != nil || next == nil {
		return items, "", err
	}
	return items, encodeCursor(next.at, next.id), nil
}

func (s *InboxStore) Item(ctx context.Context, appID, userID, id string, now time.Time) (*inbox.Item, error) {
	items, _, err := s.items(ctx, s.db, &selection{
		Query: inbox.Query{AppID: appID, UserID: userID, Filter: inbox.FilterAll, Limit: 1, Now: now},
		ids:   []string{id},
	})
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, pushgate.NotFound("notification")
	}
	return items[0], nil
}

// count counts the user's live notifications that sel keeps.
func (s *InboxStore) count(ctx context.Context, q querier, sel *selection) (int, error) {
	var b sqlText
	b.add(`SELECT (SELECT count(*) FROM (`)
	b.inboxRange(sel, false)
	b.add(`) a) + (SELECT count(*) FROM (`)
	b.inboxRange(sel, true)
	b.add(`) b)`)
	var n int64
	err := s.db.queryRow(ctx, q, b.String(), b.args...).Scan(&n)
	return int(n), err
}

func (s *InboxStore) Unseen(ctx context.Context, appID, userID string, now time.Time) (int, error) {
	return s.count(ctx, s.db, &selection{Query: inbox.Query{AppID: appID, UserID: userID, Filter: inbox.FilterUnseen, Now: now}})
}

// lockUser locks the user's inbox_users row (making it if missing) until
// the transaction ends: reads and read-alls of one user run one at a time,
// so that each read is counted once. ok is false when the app is gone.
// SQLite runs one transaction at a time: there the row is only made.
func (s *InboxStore) lockUser(ctx context.Context, tx *sql.Tx, appID, userID string) (ok bool, _ error) {
	_, err := s.db.exec(ctx, tx, `INSERT INTO inbox_users (app_id, user_id) VALUES (?, ?) ON CONFLICT (app_id, user_id) DO NOTHING`, appID, userID)
	if isForeignKeyViolation(err) {
		return false, nil
	}
	if err != nil || s.db.Dialect != Postgres {
		return err == nil, err
	}
	_, err = s.strings(ctx, tx, `SELECT user_id FROM inbox_users WHERE app_id = ? AND user_id = ? FOR NO KEY UPDATE`, appID, userID)
	return err == nil, err
}

// readAllChunk bounds the ids of one counter update.
const readAllChunk = 500

// countReadAlls adds one to the read_alls counter of the notifications ids
// (sorted). On PostgreSQL the rows are first locked in id order, with the
// lock UPDATE takes (which does not wait for the key-share locks that state
// inserts hold on their notifications), so that read-alls of users who
// share broadcasts cannot deadlock. SQLite runs one transaction at a time.
func (s *InboxStore) countReadAlls(ctx context.Context, tx *sql.Tx, ids []string) error {
	for len(ids) > 0 {
		part := ids[:min(len(ids), readAllChunk)]
		ids = ids[len(part):]
		list, args := inList(part)
		if s.db.Dialect == Postgres {
			if _, err := s.strings(ctx, tx, `SELECT id FROM inbox_notifications WHERE id IN `+list+` ORDER BY id FOR NO KEY UPDATE`, args...); err != nil {
				return err
			}
		}
		if _, err := s.db.exec(ctx, tx, `UPDATE inbox_notifications SET read_alls = read_alls + 1 WHERE id IN `+list, args...); err != nil {
			return err
		}
	}
	return nil
}

// ReadAll counts what it reads on the notifications' rows and moves the
// user's watermark forward to at (never back), in one transaction.
func (s *InboxStore) ReadAll(ctx context.Context, appID, userID string, at time.Time) (int, error) {
	var ids []string
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		if ok, err := s.lockUser(ctx, tx, appID, userID); !ok {
			return err
		}
		var b sqlText
		sel := &selection{Query: inbox.Query{AppID: appID, UserID: userID, Filter: inbox.FilterUnseen, Now: at}, until: at}
		b.add(`SELECT id FROM (`)
		b.inboxRange(sel, false)
		b.add(` UNION ALL `)
		b.inboxRange(sel, true)
		b.add(`) u ORDER BY id`)
		var err error
		if ids, err = s.strings(ctx, tx, b.String(), b.args...); err != nil {
			return err
		}
		if err := s.countReadAlls(ctx, tx, ids); err != nil {
			return err
		}
		_, err = s.db.exec(ctx, tx, `UPDATE inbox_users SET read_all_at = ?
			WHERE app_id = ? AND user_id = ? AND (read_all_at IS NULL OR read_all_at < ?)`, at.UTC(), appID, userID, at.UTC())
		return err
	})
	return len(ids), err
}

// strings runs a query of one text column.
func (s *InboxStore) strings(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	rows, err := s.db.query(ctx, q, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// markState writes a user's state forward: each statement inserts the
// state, or updates it only from an earlier one, so that two marks racing
// never move a state back (a read stays read when acknowledged later).
var markState = map[inbox.Status]string{
	inbox.StatusDelivered: `INSERT INTO inbox_states (app_id, user_id, notification_id, status, delivered_at) VALUES (?, ?, ?, 'delivered', ?)
		ON CONFLICT (app_id, user_id, notification_id) DO NOTHING`,
	inbox.StatusRead: `INSERT INTO inbox_states (app_id, user_id, notification_id, status, read_at) VALUES (?, ?, ?, 'read', ?)
		ON CONFLICT (app_id, user_id, notification_id) DO UPDATE SET status = 'read', read_at = excluded.read_at
		WHERE inbox_states.status = 'delivered'`,
	inbox.StatusDeleted: `INSERT INTO inbox_states (app_id, user_id, notification_id, status, deleted_at) VALUES (?, ?, ?, 'deleted', ?)
		ON CONFLICT (app_id, user_id, notification_id) DO UPDATE SET status = 'deleted', deleted_at = excluded.deleted_at
		WHERE inbox_states.status <> 'deleted'`,
}

func (s *InboxStore) Mark(ctx context.Context, appID, userID string, ids []string, status inbox.Status, at time.Time) ([]*inbox.Item, error) {
	stmt, ok := markState[status]
	if !ok {
		return nil, pushgate.Invalid("the status is invalid", `status: must be "delivered", "read" or "deleted"`)
	}
	at = at.UTC()
	changed := []*inbox.Item{}
	if len(ids) == 0 {
		return changed, nil
	}
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		changed = changed[:0]
		// Reads are counted with read-alls: they take turns.
		if status == inbox.StatusRead {
			if ok, err := s.lockUser(ctx, tx, appID, userID); !ok {
				return err
			}
		}
		items, _, err := s.items(ctx, tx, &selection{
			Query: inbox.Query{AppID: appID, UserID: userID, Filter: inbox.FilterAll, Limit: len(ids), Now: at},
			ids:   ids,
		})
		if err != nil {
			return err
		}
		for _, it := range items {
			if !moves(it, status) {
				continue
			}
			res, err := s.db.exec(ctx, tx, stmt, appID, userID, it.ID, at)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				if err != nil {
					return err
				}
				continue
			}
			switch status {
			case inbox.StatusDelivered:
				it.DeliveredAt = &at
			case inbox.StatusRead:
				it.ReadAt = &at
			}
			it.Status = status
			changed = append(changed, it)
		}
		return nil
	})
	return changed, err
}

// moves reports whether marking it with status moves it forward.
func moves(it *inbox.Item, status inbox.Status) bool {
	switch status {
	case inbox.StatusDelivered:
		return it.Status == inbox.StatusUnseen
	case inbox.StatusRead:
		return it.Status != inbox.StatusRead
	}
	return true // listed items are not deleted
}
