package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/messages"
)

// MessageStore implements messages.Store.
type MessageStore struct{ db *DB }

var _ messages.Store = (*MessageStore)(nil)

// Messages returns the outbox store of db.
func (db *DB) Messages() *MessageStore { return &MessageStore{db: db} }

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

var insertColumns = []string{"id", "app_id", "bucket_id", "context_id", "credential_id", "provider", "foreign_id", "token", "endpoint", "p256dh", "auth",
	"status", "attempts", "created_at", "updated_at", "expires_at", "enqueued_at"}

func insertRow(m *messages.Message) []any {
	r := m.Receiver
	return []any{m.ID, m.AppID, m.BucketID, m.ContextID, m.CredentialID, m.Provider, m.ForeignID, r.Token, r.Endpoint, r.P256dh, r.Auth,
		string(m.Status), m.Attempts, m.CreatedAt.UTC(), m.UpdatedAt.UTC(), nullTime(m.ExpiresAt), m.EnqueuedAt.UTC()}
}

func (s *MessageStore) Insert(ctx context.Context, msgs []*messages.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if s.db.Dialect == Postgres {
		if err := s.insertOutbox(ctx, msgs); err != nil {
			return fmt.Errorf("store messages: %w", err)
		}
		return nil
	}
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

const messageColumns = `id, app_id, bucket_id, context_id, credential_id, provider, foreign_id, token, endpoint, p256dh, auth, status, reason, last_error, attempts,
	created_at, updated_at, expires_at, enqueued_at, lease_until, sent_at, delivered_at, clicked_at, closed_at`

func scanMessage(row interface{ Scan(...any) error }) (*messages.Message, error) {
	var m messages.Message
	var status string
	var expires, lease, sent, delivered, clicked, closed sql.NullTime
	r := &m.Receiver
	if err := row.Scan(&m.ID, &m.AppID, &m.BucketID, &m.ContextID, &m.CredentialID, &m.Provider, &m.ForeignID, &r.Token, &r.Endpoint, &r.P256dh, &r.Auth, &status,
		&m.Reason, &m.LastError, &m.Attempts, &m.CreatedAt, &m.UpdatedAt, &expires, &m.EnqueuedAt, &lease, &sent, &delivered, &clicked, &closed); err != nil {
		return nil, err
	}
	r.CredentialID, r.ForeignID = m.CredentialID, m.ForeignID
	m.Status = messages.Status(status)
	m.CreatedAt, m.UpdatedAt, m.EnqueuedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC(), m.EnqueuedAt.UTC()
	for _, p := range []struct {
		src sql.NullTime
		dst *time.Time
	}{{expires, &m.ExpiresAt}, {lease, &m.LeaseUntil}, {sent, &m.SentAt}, {delivered, &m.DeliveredAt}, {clicked, &m.ClickedAt}, {closed, &m.ClosedAt}} {
		if p.src.Valid {
			*p.dst = p.src.Time.UTC()
		}
	}
	return &m, nil
}

// inList returns "(?, ?, ...)" and the ids as arguments.
func inList(ids []string) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(?" + strings.Repeat(", ?", len(ids)-1) + ")", args
}

// claimColumns are what a worker needs of a message: the rest is for the
// status API, and reading it back for every send costs a worker CPU.
const claimColumns = `id, app_id, bucket_id, context_id, credential_id, provider, foreign_id, token, endpoint, p256dh, auth, attempts, expires_at`

func scanClaimed(row interface{ Scan(...any) error }) (*messages.Message, error) {
	var m messages.Message
	var expires sql.NullTime
	r := &m.Receiver
	if err := row.Scan(&m.ID, &m.AppID, &m.BucketID, &m.ContextID, &m.CredentialID, &m.Provider, &m.ForeignID,
		&r.Token, &r.Endpoint, &r.P256dh, &r.Auth, &m.Attempts, &expires); err != nil {
		return nil, err
	}
	r.CredentialID, r.ForeignID = m.CredentialID, m.ForeignID
	m.Status = messages.Sending
	if expires.Valid {
		m.ExpiresAt = expires.Time.UTC()
	}
	return &m, nil
}

func (s *MessageStore) Claim(ctx context.Context, ids []string, now, leaseUntil time.Time) ([]*messages.Message, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if s.db.Dialect == Postgres {
		return s.claimPostgres(ctx, ids, now, leaseUntil)
	}
	list, args := inList(ids)
	rows, err := s.db.query(ctx, s.db, `UPDATE messages SET status = 'sending', lease_until = ?, updated_at = ?
		WHERE id IN `+list+` AND status = 'queued' RETURNING `+claimColumns, append([]any{leaseUntil.UTC(), now.UTC()}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("claim messages: %w", err)
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

// Finish stores results and, in the same statement (PostgreSQL) or
// transaction (SQLite), the webhook event of every final one (sent, or
// failed with its reason; an expired message is a failure with reason
// expired) whose bucket has a callback. A crash can therefore never keep a
// message's fate and lose its event.
func (s *MessageStore) Finish(ctx context.Context, results []messages.Result) error {
	if len(results) == 0 {
		return nil
	}
	for _, r := range results {
		if r.Message == nil {
			return errors.New("finish messages: a result does not carry its message")
		}
	}
	if s.db.Dialect == Postgres {
		if err := s.finishPostgres(ctx, results); err != nil {
			return finishError(err)
		}
		return nil
	}
	err := s.db.inTx(ctx, func(tx *sql.Tx) error {
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
		for _, r := range results {
			retry := r.RetryAt
			if retry.IsZero() {
				retry = r.At
			}
			var appID, bucketID, foreignID string
			err := stmt.QueryRowContext(ctx, string(r.Status), r.Reason, errorText(r.Error), r.Attempts, r.At.UTC(),
				string(r.Status), r.At.UTC(), string(r.Status), r.At.UTC(), string(r.Status), retry.UTC(), r.Message.ID).Scan(&appID, &bucketID, &foreignID)
			if errors.Is(err, sql.ErrNoRows) || err == nil && !r.Status.Final() {
				continue
			}
			if err != nil {
				return err
			}
			wants, known := hasCallback[bucketID]
			if !known {
				err := s.db.queryRow(ctx, tx, `SELECT has_callback FROM buckets WHERE id = ?`, bucketID).Scan(&wants)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				hasCallback[bucketID] = wants
			}
			if !wants {
				continue
			}
			kind, reason := "sent", ""
			if r.Status != messages.Sent {
				kind, reason = "failed", r.Reason
			}
			if _, err := s.db.exec(ctx, tx, `INSERT INTO webhook_events (`+eventColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?) ON CONFLICT DO NOTHING`,
				r.Message.ID, kind, pushgate.NewID(), appID, bucketID, foreignID, reason, r.At.UTC()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return finishError(err)
	}
	return nil
}

// truncate cuts s to at most n bytes, on a character boundary: half a
// character is invalid UTF-8, which PostgreSQL refuses.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// errorText is a vendor's error as last_error keeps it: text for people,
// so what a database cannot hold is replaced rather than refused.
func errorText(s string) string { return truncate(messages.StorableText(s), 1000) }

// finishError wraps err with messages.ErrUnstorable when the database
// refused the results' data, so a worker can tell them from a lost
// connection.
func finishError(err error) error {
	if refusedData(err) {
		return fmt.Errorf("finish messages: %w: %w", messages.ErrUnstorable, err)
	}
	return fmt.Errorf("finish messages: %w", err)
}

func (s *MessageStore) Get(ctx context.Context, appID, bucketID, id string) (*messages.Message, error) {
	get := func() (*messages.Message, error) {
		m, err := scanMessage(s.db.queryRow(ctx, s.db, `SELECT `+messageColumns+` FROM messages WHERE id = ? AND app_id = ? AND bucket_id = ?`, id, appID, bucketID))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, pushgate.NotFound("message")
		}
		return m, err
	}
	m, err := get()
	if pushgate.ErrorCode(err) != pushgate.ENOTFOUND || s.db.Dialect != Postgres {
		return m, err
	}
	if m, err = s.getOutbox(ctx, appID, bucketID, id); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
		return m, err
	}
	// Claimed between the two reads: it is in messages now (or gone).
	return get()
}

func (s *MessageStore) Stale(ctx context.Context, now, dueBefore time.Time, limit int) ([]messages.Ref, error) {
	var refs []messages.Ref
	scan := func(rows *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r messages.Ref
			if err := rows.Scan(&r.ID, &r.AppID, &r.BucketID, &r.ContextID, &r.CredentialID); err != nil {
				return err
			}
			refs = append(refs, r)
		}
		return rows.Err()
	}
	// A lease that ended means the worker died mid-chunk: whether the vendor
	// got the message is unknown, so it counts as an attempt.
	if err := scan(s.db.query(ctx, s.db, `UPDATE messages SET status = 'queued', attempts = attempts + 1, lease_until = NULL, updated_at = ?, enqueued_at = ?
		WHERE finished_at IS NULL AND status = 'sending' AND lease_until < ? RETURNING id, app_id, bucket_id, context_id, credential_id`, now.UTC(), now.UTC(), now.UTC())); err != nil {
		return nil, fmt.Errorf("stale messages: %w", err)
	}
	if len(refs) < limit {
		if err := scan(s.db.query(ctx, s.db, `SELECT id, app_id, bucket_id, context_id, credential_id FROM messages
			WHERE finished_at IS NULL AND status = 'queued' AND enqueued_at < ? ORDER BY enqueued_at LIMIT ?`, dueBefore.UTC(), limit-len(refs))); err != nil {
			return nil, fmt.Errorf("stale messages: %w", err)
		}
	}
	if s.db.Dialect == Postgres {
		more, err := s.staleOutbox(ctx, now, dueBefore, limit-len(refs))
		if err != nil {
			return nil, fmt.Errorf("stale messages: %w", err)
		}
		refs = append(refs, more...)
	}
	return refs, nil
}

func (s *MessageStore) MarkEnqueued(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if s.db.Dialect == Postgres {
		if _, err := s.db.exec(ctx, s.db, `UPDATE outbox SET enqueued_at = ? WHERE id = ANY(?)`, at.UTC(), outboxKeys(ids)); err != nil {
			return err
		}
		_, err := s.db.exec(ctx, s.db, `UPDATE messages SET enqueued_at = ? WHERE id = ANY(?) AND status = 'queued'`, at.UTC(), ids)
		return err
	}
	list, args := inList(ids)
	_, err := s.db.exec(ctx, s.db, `UPDATE messages SET enqueued_at = ? WHERE id IN `+list+` AND status = 'queued'`, append([]any{at.UTC()}, args...)...)
	return err
}
