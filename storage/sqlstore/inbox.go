package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/inbox"
)

// InboxStore implements inbox.Store: client tokens (inbox_tokens), the
// count of each app's users with one (inbox_apps), per-user watermarks
// (inbox_users), notifications stored once (inbox_notifications), the
// users of targeted ones (inbox_recipients), and per-user state where a
// user acted (inbox_states). The tables go with their app.
type InboxStore struct{ db *DB }

var _ inbox.Store = (*InboxStore)(nil)

// Inbox returns the inbox store of db.
func (db *DB) Inbox() *InboxStore { return &InboxStore{db: db} }

// epoch stands for "no bound" where a user has no watermark.
var epoch = time.Unix(0, 0).UTC()

// pageKey is where a page ends: the creation time and id of its last row.
// Cursors carry it opaquely, as base64url of "RFC3339Nano|id".
type pageKey struct {
	at time.Time
	id string
}

func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "|" + id))
}

var errCursor = pushgate.Invalid("the cursor is invalid", "cursor: is not a cursor this API returned")

// decodeCursor reads a cursor; empty is the first page (nil).
func decodeCursor(s string) (*pageKey, error) {
	if s == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errCursor
	}
	at, id, ok := strings.Cut(string(raw), "|")
	if !ok || !pushgate.ValidID(id) {
		return nil, errCursor
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return nil, errCursor
	}
	return &pageKey{at: t.UTC(), id: id}, nil
}

const tokenColumns = `id, app_id, user_id, name, hash, created_at`

func scanToken(row interface{ Scan(...any) error }) (*inbox.Token, error) {
	var t inbox.Token
	if err := row.Scan(&t.ID, &t.AppID, &t.UserID, &t.Name, &t.Hash, &t.CreatedAt); err != nil {
		return nil, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return &t, nil
}

func isForeignKeyViolation(err error) bool {
	return errorsContains(err, "FOREIGN KEY") || errorsContains(err, "SQLSTATE 23503")
}

// CreateToken stores t and counts its user: the user's first token makes
// the user one of the app's users (inbox_apps) and, the first time ever,
// sets the time from which the user has the app's broadcasts. The user's
// row is locked by the upsert, so concurrent tokens of one user count once.
func (s *InboxStore) CreateToken(ctx context.Context, t *inbox.Token) error {
	return s.db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := s.db.exec(ctx, tx, `INSERT INTO inbox_tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			t.ID, t.AppID, t.UserID, t.Name, t.Hash, t.CreatedAt.UTC())
		switch {
		case isForeignKeyViolation(err):
			return pushgate.NotFound("app")
		case isUniqueViolation(err):
			return pushgate.Errorf(pushgate.ECONFLICT, "a token with that id or value exists")
		case err != nil:
			return err
		}
		var tokens int64
		var delegated bool
		err = s.db.queryRow(ctx, tx, `INSERT INTO inbox_users (app_id, user_id, tokens, first_token_at) VALUES (?, ?, 1, ?)
			ON CONFLICT (app_id, user_id) DO UPDATE SET tokens = inbox_users.tokens + 1,
				first_token_at = COALESCE(inbox_users.first_token_at, excluded.first_token_at)
			RETURNING tokens, delegated_at IS NOT NULL`, t.AppID, t.UserID, t.CreatedAt.UTC()).Scan(&tokens, &delegated)
		// A user admitted by the app's connectAuthUrl is counted already.
		if err != nil || tokens != 1 || delegated {
			return err
		}
		_, err = s.db.exec(ctx, tx, `INSERT INTO inbox_apps (app_id, users) VALUES (?, 1)
			ON CONFLICT (app_id) DO UPDATE SET users = inbox_apps.users + 1`, t.AppID)
		return err
	})
}

// JoinDelegated makes a user the app's connectAuthUrl admitted one of the
// app's users, once: the first time, it sets delegated_at, the time from
// which the user has the app's broadcasts when it had none (no token
// before), and counts the user in inbox_apps unless a token already did.
// The conditional update locks the user's row, as CreateToken's upsert
// does, so concurrent joins and tokens count the user once.
func (s *InboxStore) JoinDelegated(ctx context.Context, appID, userID string, at time.Time) error {
	at = at.UTC()
	return s.db.inTx(ctx, func(tx *sql.Tx) error {
		var tokens int64
		err := s.db.queryRow(ctx, tx, `UPDATE inbox_users SET delegated_at = ?, first_token_at = COALESCE(first_token_at, ?)
			WHERE app_id = ? AND user_id = ? AND delegated_at IS NULL RETURNING tokens`, at, at, appID, userID).Scan(&tokens)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			res, err := s.db.exec(ctx, tx, `INSERT INTO inbox_users (app_id, user_id, tokens, first_token_at, delegated_at)
				VALUES (?, ?, 0, ?, ?) ON CONFLICT (app_id, user_id) DO NOTHING`, appID, userID, at, at)
			if isForeignKeyViolation(err) {
				return pushgate.NotFound("app")
			}
			if err != nil {
				return err
			}
			// No row inserted: the user was joined already (a concurrent
			// join or token made the row since, and counted the user).
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return err
			}
		case err != nil:
			return err
		case tokens > 0:
			return nil
		}
		_, err = s.db.exec(ctx, tx, `INSERT INTO inbox_apps (app_id, users) VALUES (?, 1)
			ON CONFLICT (app_id) DO UPDATE SET users = inbox_apps.users + 1`, appID)
		return err
	})
}

func (s *InboxStore) TokenByHash(ctx context.Context, hash string) (*inbox.Token, error) {
	t, err := scanToken(s.db.queryRow(ctx, s.db, `SELECT `+tokenColumns+` FROM inbox_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pushgate.NotFound("token")
	}
	return t, err
}

func (s *InboxStore) ListTokens(ctx context.Context, appID, userID, cursor string, limit int) ([]*inbox.Token, string, error) {
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	q := `SELECT ` + tokenColumns + ` FROM inbox_tokens WHERE app_id = ?`
	args := []any{appID}
	if userID != "" {
		q += ` AND user_id = ?`
		args = append(args, userID)
	}
	if after != nil {
		q += ` AND (created_at, id) > (?, ?)`
		args = append(args, after.at, after.id)
	}
	q += ` ORDER BY created_at, id LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.db.query(ctx, s.db, q, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := []*inbox.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		return out, encodeCursor(last.CreatedAt, last.ID), nil
	}
	return out, "", nil
}

// DeleteToken removes the token; the user's last token takes the user out
// of the app's count (the user keeps the broadcasts already had), unless
// the app's connectAuthUrl admitted the user too.
func (s *InboxStore) DeleteToken(ctx context.Context, appID, id string) (*inbox.Token, error) {
	var t *inbox.Token
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = scanToken(s.db.queryRow(ctx, tx, `DELETE FROM inbox_tokens WHERE id = ? AND app_id = ? RETURNING `+tokenColumns, id, appID))
		if errors.Is(err, sql.ErrNoRows) {
			return pushgate.NotFound("token")
		}
		if err != nil {
			return err
		}
		var left int64
		var delegated bool
		err = s.db.queryRow(ctx, tx, `UPDATE inbox_users SET tokens = tokens - 1 WHERE app_id = ? AND user_id = ?
			RETURNING tokens, delegated_at IS NOT NULL`, appID, t.UserID).Scan(&left, &delegated)
		if err != nil || left > 0 || delegated {
			return err
		}
		_, err = s.db.exec(ctx, tx, `UPDATE inbox_apps SET users = users - 1 WHERE app_id = ?`, appID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (s *InboxStore) CountUsers(ctx context.Context, appID string) (int, error) {
	var n int64
	err := s.db.queryRow(ctx, s.db, `SELECT users FROM inbox_apps WHERE app_id = ?`, appID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return int(n), err
}
