package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/inbox"
)

const notificationColumns = `n.id, n.app_id, n.title, n.message, n.priority, n.extras, n.image_url, n.click_url, n.broadcast,
	n.source, n.bucket_id, n.message_id, n.context_id, n.created_at, n.expires_at`

// countColumns are a notification's aggregate counts: the users that
// acknowledged or read it one by one (their state rows, of an index that
// holds the times) and those that read it by a read-all (a counter that
// ReadAll keeps on the row).
const countColumns = `n.recipients,
	(SELECT count(s.delivered_at) FROM inbox_states s WHERE s.notification_id = n.id),
	(SELECT count(s.read_at) FROM inbox_states s WHERE s.notification_id = n.id) + n.read_alls`

// scanNotification reads notificationColumns, then more (such as counts).
func scanNotification(row interface{ Scan(...any) error }, more ...any) (*inbox.Notification, error) {
	var n inbox.Notification
	var extras, source string
	dest := append([]any{&n.ID, &n.AppID, &n.Title, &n.Message, &n.Priority, &extras, &n.ImageURL, &n.ClickURL, &n.Broadcast,
		&source, &n.BucketID, &n.MessageID, &n.ContextID, &n.CreatedAt, &n.ExpiresAt}, more...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if extras != "" {
		n.Extras = []byte(extras)
	}
	n.Source = inbox.Source(source)
	n.CreatedAt, n.ExpiresAt = n.CreatedAt.UTC(), n.ExpiresAt.UTC()
	return &n, nil
}

// recipientRows bounds one insert of recipients (SQLite): 4 parameters a row.
const recipientRows = 250

// InsertNotification stores n, and a row per user when it is targeted; a
// broadcast is the one row whatever the number of users.
func (s *InboxStore) InsertNotification(ctx context.Context, n *inbox.Notification, c inbox.Counts) error {
	if s.db.Dialect == Postgres {
		return s.insertNotificationPostgres(ctx, n, c)
	}
	return s.db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := s.db.exec(ctx, tx, `INSERT INTO inbox_notifications (id, app_id, title, message, priority, extras, image_url, click_url,
			broadcast, recipients, source, bucket_id, message_id, context_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			n.ID, n.AppID, n.Title, n.Message, n.Priority, string(n.Extras), n.ImageURL, n.ClickURL,
			n.Broadcast, c.Recipients, string(n.Source), n.BucketID, n.MessageID, n.ContextID, n.CreatedAt.UTC(), n.ExpiresAt.UTC())
		switch {
		case isForeignKeyViolation(err):
			return pushgate.NotFound("app")
		case isUniqueViolation(err):
			return pushgate.Errorf(pushgate.ECONFLICT, "a notification with that id exists")
		case err != nil:
			return err
		}
		if n.Broadcast {
			return nil
		}
		return s.insertRecipients(ctx, tx, n)
	})
}

// insertRecipients stores a targeted notification's users on SQLite, which
// has no arrays, in rows of parameters.
func (s *InboxStore) insertRecipients(ctx context.Context, tx *sql.Tx, n *inbox.Notification) error {
	for users := n.UserIDs; len(users) > 0; {
		part := users[:min(len(users), recipientRows)]
		users = users[len(part):]
		args := make([]any, 0, 4*len(part))
		for _, u := range part {
			args = append(args, n.ID, n.AppID, u, n.CreatedAt.UTC())
		}
		q := `INSERT INTO inbox_recipients (notification_id, app_id, user_id, created_at) VALUES (?, ?, ?, ?)` +
			strings.Repeat(`, (?, ?, ?, ?)`, len(part)-1)
		if _, err := s.db.exec(ctx, tx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// insertNotificationPostgres stores n and its users in one statement, one
// round trip with no transaction around it, where BEGIN, two inserts and
// COMMIT took four: a notification to one user is the latency the issue
// bounds at 2 ms. The users go as one array: a 1000-user send is one
// statement of a few parameters, not four of 1000 (bench/wsload: a third
// less CPU in the node, which encoded every parameter, and a sixth less in
// PostgreSQL). A broadcast's array is empty.
func (s *InboxStore) insertNotificationPostgres(ctx context.Context, n *inbox.Notification, c inbox.Counts) error {
	users := n.UserIDs
	if n.Broadcast || users == nil {
		users = []string{}
	}
	_, err := s.db.exec(ctx, s.db, `WITH n AS (INSERT INTO inbox_notifications (id, app_id, title, message, priority, extras, image_url, click_url,
			broadcast, recipients, source, bucket_id, message_id, context_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			RETURNING id, app_id, created_at)
		INSERT INTO inbox_recipients (notification_id, app_id, user_id, created_at)
		SELECT n.id, n.app_id, u, n.created_at FROM n, unnest(?::text[]) AS u`,
		n.ID, n.AppID, n.Title, n.Message, n.Priority, string(n.Extras), n.ImageURL, n.ClickURL,
		n.Broadcast, c.Recipients, string(n.Source), n.BucketID, n.MessageID, n.ContextID, n.CreatedAt.UTC(), n.ExpiresAt.UTC(), users)
	switch {
	case isForeignKeyViolation(err):
		return pushgate.NotFound("app")
	case isUniqueViolation(err):
		return pushgate.Errorf(pushgate.ECONFLICT, "a notification with that id exists")
	}
	return err
}

// GetNotification returns the notification with its users when targeted.
func (s *InboxStore) GetNotification(ctx context.Context, appID, id string) (*inbox.Notification, inbox.Counts, error) {
	var c inbox.Counts
	n, err := scanNotification(s.db.queryRow(ctx, s.db, `SELECT `+notificationColumns+`, `+countColumns+`
		FROM inbox_notifications n WHERE n.app_id = ? AND n.id = ?`, appID, id), &c.Recipients, &c.Delivered, &c.Read)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, c, pushgate.NotFound("notification")
	}
	if err != nil {
		return nil, c, err
	}
	if n.UserIDs, err = s.recipients(ctx, s.db, n); err != nil {
		return nil, c, err
	}
	return n, c, nil
}

// recipients lists the users of a targeted notification (nil for a
// broadcast).
func (s *InboxStore) recipients(ctx context.Context, q querier, n *inbox.Notification) ([]string, error) {
	if n.Broadcast {
		return nil, nil
	}
	rows, err := s.db.query(ctx, q, `SELECT user_id FROM inbox_recipients WHERE notification_id = ? ORDER BY user_id`, n.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var users []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	return users, rows.Err()
}

// ListNotifications pages an app's notifications newest first, without
// their users (GetNotification has them).
func (s *InboxStore) ListNotifications(ctx context.Context, appID, cursor string, limit int) ([]*inbox.Notification, []inbox.Counts, string, error) {
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, nil, "", err
	}
	q := `SELECT ` + notificationColumns + `, ` + countColumns + ` FROM inbox_notifications n WHERE n.app_id = ?`
	args := []any{appID}
	if after != nil {
		q += ` AND (n.created_at, n.id) < (?, ?)`
		args = append(args, after.at, after.id)
	}
	rows, err := s.db.query(ctx, s.db, q+` ORDER BY n.created_at DESC, n.id DESC LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, nil, "", err
	}
	defer rows.Close()
	list, counts := []*inbox.Notification{}, []inbox.Counts{}
	for rows.Next() {
		var c inbox.Counts
		n, err := scanNotification(rows, &c.Recipients, &c.Delivered, &c.Read)
		if err != nil {
			return nil, nil, "", err
		}
		list, counts = append(list, n), append(counts, c)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, "", err
	}
	if len(list) > limit {
		list, counts = list[:limit], counts[:limit]
		last := list[limit-1]
		return list, counts, encodeCursor(last.CreatedAt, last.ID), nil
	}
	return list, counts, "", nil
}

// DeleteNotification removes the notification; its recipients and every
// user's state of it go by cascade.
func (s *InboxStore) DeleteNotification(ctx context.Context, appID, id string) (*inbox.Notification, error) {
	var n *inbox.Notification
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = scanNotification(s.db.queryRow(ctx, tx, `SELECT `+notificationColumns+` FROM inbox_notifications n WHERE n.app_id = ? AND n.id = ?`, appID, id))
		if errors.Is(err, sql.ErrNoRows) {
			return pushgate.NotFound("notification")
		}
		if err != nil {
			return err
		}
		if n.UserIDs, err = s.recipients(ctx, tx, n); err != nil {
			return err
		}
		_, err = s.db.exec(ctx, tx, `DELETE FROM inbox_notifications WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}
