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
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/webhooks"
)

// MessageStore implements messages.Store. Both dialects keep an accepted
// chunk of messages as one outbox row, which keeps the final results of
// the messages claimed with it (outbox.go, results.go); a message goes
// into messages only for a retry, a partial claim or a client report.
// Claim, Finish, Get and Stale are written once over each dialect's
// statements (chunkTx); Insert and MarkEnqueued, one statement or two,
// are written per dialect (messages_postgres.go, messages_sqlite.go).
//
// Finish writes another package's table: it stores the webhook events of
// final results (webhooks.ResultEvent maps the result to each) in
// webhook_events, atomically with the results.
type MessageStore struct {
	db    *DB
	model messageModel
}

// messageModel is what one dialect writes in its own way: the methods of
// messages.Store so named, called with non-empty arguments. insert's
// errors are returned as they are.
type messageModel interface {
	insert(ctx context.Context, msgs []*messages.Message) error
	markEnqueued(ctx context.Context, ids []string, at time.Time) error
}

var _ messages.Store = (*MessageStore)(nil)

// Messages returns the message store of db.
func (db *DB) Messages() *MessageStore {
	if db.Dialect == Postgres {
		return &MessageStore{db: db, model: postgresMessages{db: db}}
	}
	return &MessageStore{db: db, model: sqliteMessages{db: db}}
}

func (s *MessageStore) Insert(ctx context.Context, msgs []*messages.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	return s.model.insert(ctx, msgs)
}

func (s *MessageStore) Claim(ctx context.Context, ids []string, now, leaseUntil time.Time) ([]*messages.Message, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var out []*messages.Message
	err := s.db.withChunks(ctx, func(t chunkTx) error {
		var err error
		out, err = claimChunks(ctx, t, ids, now, leaseUntil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim messages: %w", err)
	}
	return out, nil
}

// Finish stores results and, in the same transaction, the webhook event of every final one
// (webhooks.ResultEvent: sent, or failed with its reason; an expired
// message is a failure with its reason) whose bucket has a callback. A
// crash can therefore never keep a message's fate and lose its event.
func (s *MessageStore) Finish(ctx context.Context, results []messages.Result) error {
	if len(results) == 0 {
		return nil
	}
	for _, r := range results {
		if r.Message == nil {
			return errors.New("finish messages: a result does not carry its message")
		}
	}
	finish := func(t chunkTx) error { return finishChunks(ctx, t, results) }
	var err error
	if s.db.Dialect == Postgres {
		err = s.db.withPipelined(ctx, func(t pgChunkTx) error { return finish(t) })
	} else {
		err = s.db.withChunks(ctx, finish)
	}
	if err != nil {
		return finishError(err)
	}
	return nil
}

func (s *MessageStore) Get(ctx context.Context, appID, bucketID, id string) (*messages.Message, error) {
	return getChunked(ctx, s.db, appID, bucketID, id)
}

func (s *MessageStore) Stale(ctx context.Context, now, dueBefore time.Time, limit int) ([]messages.Ref, error) {
	refs, err := staleAll(ctx, s.db, now, dueBefore, limit)
	if err != nil {
		return nil, fmt.Errorf("stale messages: %w", err)
	}
	return refs, nil
}

func (s *MessageStore) MarkEnqueued(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	return s.model.markEnqueued(ctx, ids, at)
}

// resultEvent is the webhook event r makes (webhooks.ResultEvent), if any.
func resultEvent(r *messages.Result) (webhooks.Event, bool) {
	return webhooks.ResultEvent(string(r.Status), r.Reason)
}

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
	return []any{m.ID, m.AppID, m.BucketID, m.ContextID, m.CredentialID, m.Provider, m.ForeignID, r.Address(), r.Endpoint, r.P256dh, r.Auth,
		string(m.Status), m.Attempts, m.CreatedAt.UTC(), m.UpdatedAt.UTC(), nullTime(m.ExpiresAt), m.EnqueuedAt.UTC()}
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
	r.SetAddress(buckets.CredentialType(m.Provider), r.Token)
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
	r.SetAddress(buckets.CredentialType(m.Provider), r.Token)
	m.Status = messages.Sending
	if expires.Valid {
		m.ExpiresAt = expires.Time.UTC()
	}
	return &m, nil
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

// getMessage reads a message of the messages table.
func getMessage(ctx context.Context, db *DB, appID, bucketID, id string) (*messages.Message, error) {
	m, err := scanMessage(db.queryRow(ctx, db, `SELECT `+messageColumns+` FROM messages WHERE id = ? AND app_id = ? AND bucket_id = ?`, id, appID, bucketID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pushgate.NotFound("message")
	}
	return m, err
}

// staleMessages hands back the messages of the messages table whose
// worker's lease ended before now, and then, up to limit in all, queued
// ones whose task was due before dueBefore.
func staleMessages(ctx context.Context, db *DB, now, dueBefore time.Time, limit int) ([]messages.Ref, error) {
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
	if err := scan(db.query(ctx, db, `UPDATE messages SET status = 'queued', attempts = attempts + 1, lease_until = NULL, updated_at = ?, enqueued_at = ?
		WHERE finished_at IS NULL AND status = 'sending' AND lease_until < ? RETURNING id, app_id, bucket_id, context_id, credential_id`, now.UTC(), now.UTC(), now.UTC())); err != nil {
		return nil, err
	}
	if len(refs) < limit {
		if err := scan(db.query(ctx, db, `SELECT id, app_id, bucket_id, context_id, credential_id FROM messages
			WHERE finished_at IS NULL AND status = 'queued' AND enqueued_at < ? ORDER BY enqueued_at LIMIT ?`, dueBefore.UTC(), limit-len(refs))); err != nil {
			return nil, err
		}
	}
	return refs, nil
}
