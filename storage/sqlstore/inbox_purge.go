package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// Purge removes expired notifications, takes read ones out of inboxes
// (read alone: a deleted state; read by read-all: the user's
// cleared_before moves up to the watermark, one row whatever it covers),
// and removes targeted notifications that no user still has.
func (s *InboxStore) Purge(ctx context.Context, now, readBefore time.Time, limit int) (int, error) {
	now, readBefore = now.UTC(), readBefore.UTC()
	expired, err := s.removeNotifications(ctx, `SELECT id FROM inbox_notifications WHERE expires_at <= ? ORDER BY expires_at LIMIT ?`, now, limit)
	if err != nil {
		return 0, fmt.Errorf("purge expired notifications: %w", err)
	}
	if _, err := s.db.exec(ctx, s.db, `UPDATE inbox_states SET status = 'deleted', deleted_at = ? WHERE deleted_at IS NULL AND read_at < ?`,
		now, readBefore); err != nil {
		return expired, fmt.Errorf("purge read notifications: %w", err)
	}
	if _, err := s.db.exec(ctx, s.db, `UPDATE inbox_users SET cleared_before = read_all_at
		WHERE read_all_at < ? AND (cleared_before IS NULL OR cleared_before < read_all_at)`, readBefore); err != nil {
		return expired, fmt.Errorf("purge read notifications: %w", err)
	}
	if limit <= expired {
		return expired, nil
	}
	// Candidates are targeted notifications that some user deleted or
	// cleared; of those, the ones that every user has deleted or cleared.
	orphans, err := s.removeNotifications(ctx, `SELECT n.id FROM inbox_notifications n
		WHERE n.broadcast = ? AND n.id IN (
			SELECT notification_id FROM inbox_states WHERE deleted_at IS NOT NULL
			UNION
			SELECT r.notification_id FROM inbox_users u JOIN inbox_recipients r
				ON r.app_id = u.app_id AND r.user_id = u.user_id AND r.created_at <= u.cleared_before
			WHERE u.cleared_before IS NOT NULL)
		AND NOT EXISTS (SELECT 1 FROM inbox_recipients r
			LEFT JOIN inbox_states s ON s.app_id = r.app_id AND s.user_id = r.user_id AND s.notification_id = r.notification_id
			LEFT JOIN inbox_users u ON u.app_id = r.app_id AND u.user_id = r.user_id
			WHERE r.notification_id = n.id AND s.deleted_at IS NULL
				AND (u.cleared_before IS NULL OR r.created_at > u.cleared_before))
		LIMIT ?`, false, limit-expired)
	if err != nil {
		return expired, fmt.Errorf("purge notifications no user has: %w", err)
	}
	return expired + orphans, nil
}

// removeNotifications deletes the notifications a query selects, with
// their recipients and states (by cascade), and reports how many.
func (s *InboxStore) removeNotifications(ctx context.Context, query string, args ...any) (int, error) {
	rows, err := s.db.query(ctx, s.db, query, args...)
	if err != nil {
		return 0, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return 0, err
	}
	list, idArgs := inList(ids)
	res, err := s.db.exec(ctx, s.db, `DELETE FROM inbox_notifications WHERE id IN `+list, idArgs...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
