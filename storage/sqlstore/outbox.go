package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/messages"
)

// On PostgreSQL an accepted chunk of messages (the ids one send task
// carries, which share a pushgate.IDGroup) is one row of the outbox table
// until a worker claims it; the claim deletes the row and writes its
// messages into messages (migration 00008). Accepting a send of 1000
// receivers then writes two rows, not a thousand, and a message is written
// twice in its life (claim, result) instead of three times. SQLite, with one
// writer and no network between, keeps writing messages directly.
//
// A chunk's receivers are packed into one bytea: for each message, six
// strings (id, foreign id, token, endpoint, p256dh, auth), each an unsigned
// varint length and the bytes.

const outboxFields = 6

func packReceivers(msgs []*messages.Message) []byte {
	size := 0
	for _, m := range msgs {
		r := &m.Receiver
		size += len(m.ID) + len(m.ForeignID) + len(r.Token) + len(r.Endpoint) + len(r.P256dh) + len(r.Auth) + outboxFields*2
	}
	b := make([]byte, 0, size)
	for _, m := range msgs {
		r := &m.Receiver
		for _, s := range [outboxFields]string{m.ID, m.ForeignID, r.Token, r.Endpoint, r.P256dh, r.Auth} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
	}
	return b
}

var errBadOutbox = errors.New("outbox: corrupt receivers")

// unpackReceivers calls fn with the fields of each packed message.
func unpackReceivers(b []byte, fn func(f *[outboxFields]string)) error {
	var f [outboxFields]string
	for len(b) > 0 {
		for i := range f {
			n, w := binary.Uvarint(b)
			if w <= 0 || uint64(len(b)-w) < n {
				return errBadOutbox
			}
			f[i] = string(b[w : w+int(n)])
			b = b[w+int(n):]
		}
		fn(&f)
	}
	return nil
}

// outboxRow is a chunk read back from the outbox.
type outboxRow struct {
	appID, bucketID, contextID, credentialID, provider string
	createdAt, enqueuedAt                              time.Time
	expiresAt                                          sql.NullTime
	receivers                                          []byte
}

const outboxColumns = `app_id, bucket_id, context_id, credential_id, provider, created_at, expires_at, enqueued_at, receivers`

func (o *outboxRow) scan(row interface{ Scan(...any) error }) error {
	return row.Scan(&o.appID, &o.bucketID, &o.contextID, &o.credentialID, &o.provider, &o.createdAt, &o.expiresAt, &o.enqueuedAt, &o.receivers)
}

// messages returns the chunk's messages, as Insert was given them: queued,
// no attempts yet.
func (o *outboxRow) messages() ([]*messages.Message, error) {
	var out []*messages.Message
	err := unpackReceivers(o.receivers, func(f *[outboxFields]string) {
		m := &messages.Message{ID: f[0], AppID: o.appID, BucketID: o.bucketID, ContextID: o.contextID, CredentialID: o.credentialID,
			Provider: o.provider, ForeignID: f[1], Status: messages.Queued,
			CreatedAt: o.createdAt.UTC(), UpdatedAt: o.createdAt.UTC(), EnqueuedAt: o.enqueuedAt.UTC()}
		m.Receiver.CredentialID, m.Receiver.ForeignID = o.credentialID, f[1]
		m.Receiver.Token, m.Receiver.Endpoint, m.Receiver.P256dh, m.Receiver.Auth = f[2], f[3], f[4], f[5]
		if o.expiresAt.Valid {
			m.ExpiresAt = o.expiresAt.Time.UTC()
		}
		out = append(out, m)
	})
	return out, err
}

// idGroups returns the distinct IDGroups of ids.
func idGroups(ids []string) []string {
	seen := make(map[string]bool, 4)
	var out []string
	for _, id := range ids {
		if g := pushgate.IDGroup(id); !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

// insertOutbox stores msgs as one outbox row per IDGroup, in one statement.
func (s *MessageStore) insertOutbox(ctx context.Context, msgs []*messages.Message) error {
	var keys, apps, buckets, contexts, creds, providers []string
	var created, enqueued []time.Time
	var expires []*time.Time
	var sizes []int32
	var packed [][]byte
	for start := 0; start < len(msgs); {
		first := msgs[start]
		key := pushgate.IDGroup(first.ID)
		end := start + 1
		for end < len(msgs) && pushgate.IDGroup(msgs[end].ID) == key {
			m := msgs[end]
			if m.BucketID != first.BucketID || m.ContextID != first.ContextID || m.CredentialID != first.CredentialID || m.AppID != first.AppID ||
				m.Provider != first.Provider || !m.CreatedAt.Equal(first.CreatedAt) || !m.ExpiresAt.Equal(first.ExpiresAt) || !m.EnqueuedAt.Equal(first.EnqueuedAt) {
				return fmt.Errorf("store messages: messages of id group %s differ in more than their receivers", key)
			}
			end++
		}
		keys, apps, buckets, contexts = append(keys, key), append(apps, first.AppID), append(buckets, first.BucketID), append(contexts, first.ContextID)
		creds, providers = append(creds, first.CredentialID), append(providers, first.Provider)
		created, enqueued = append(created, first.CreatedAt.UTC()), append(enqueued, first.EnqueuedAt.UTC())
		var exp *time.Time
		if !first.ExpiresAt.IsZero() {
			e := first.ExpiresAt.UTC()
			exp = &e
		}
		expires, sizes, packed = append(expires, exp), append(sizes, int32(end-start)), append(packed, packReceivers(msgs[start:end]))
		start = end
	}
	_, err := s.db.exec(ctx, s.db, `INSERT INTO outbox (id, `+outboxColumns+`, size)
		SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::timestamptz[], ?::timestamptz[], ?::bytea[], ?::int[])`,
		keys, apps, buckets, contexts, creds, providers, created, expires, enqueued, packed, sizes)
	return err
}

var claimCopyColumns = append(append([]string{}, insertColumns...), "lease_until")

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

// takeOutbox deletes the outbox rows of groups and writes all their
// messages into messages: those in claim (which it deletes from the map)
// as sending, leased until leaseUntil, and returned; the rest queued.
// Deleting a row is what makes this atomic: of two concurrent calls one
// deletes it and the other, having waited for that commit, finds nothing.
func takeOutbox(ctx context.Context, tx pgx.Tx, groups []string, claim map[string]bool, now, leaseUntil time.Time) ([]*messages.Message, int, error) {
	rows, err := tx.Query(ctx, `DELETE FROM outbox WHERE id = ANY($1) RETURNING `+outboxColumns, groups)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var claimed []*messages.Message
	var copyRows [][]any
	for rows.Next() {
		var o outboxRow
		if err := o.scan(rows); err != nil {
			return nil, 0, err
		}
		msgs, err := o.messages()
		if err != nil {
			return nil, 0, err
		}
		for _, m := range msgs {
			var lease any
			if claim[m.ID] {
				delete(claim, m.ID)
				m.Status, m.UpdatedAt, m.LeaseUntil = messages.Sending, now.UTC(), leaseUntil.UTC()
				lease = m.LeaseUntil
				claimed = append(claimed, m)
			}
			copyRows = append(copyRows, append(insertRow(m), lease))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(copyRows) == 0 {
		return claimed, 0, err
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"messages"}, claimCopyColumns, pgx.CopyFromRows(copyRows))
	return claimed, len(copyRows), err
}

// claimPostgres claims ids: those still in the outbox through takeOutbox,
// the others (retries, and the rest of chunks taken before) in messages.
func (s *MessageStore) claimPostgres(ctx context.Context, ids []string, now, leaseUntil time.Time) ([]*messages.Message, error) {
	var out []*messages.Message
	err := s.db.withPgx(ctx, func(tx pgx.Tx) error {
		want := make(map[string]bool, len(ids))
		for _, id := range ids {
			want[id] = true
		}
		var err error
		if out, _, err = takeOutbox(ctx, tx, idGroups(ids), want, now, leaseUntil); err != nil || len(want) == 0 {
			return err
		}
		rest := make([]string, 0, len(want))
		for id := range want {
			rest = append(rest, id)
		}
		rows, err := tx.Query(ctx, `UPDATE messages SET status = 'sending', lease_until = $1, updated_at = $2
			WHERE id = ANY($3) AND status = 'queued' RETURNING `+claimColumns, leaseUntil.UTC(), now.UTC(), rest)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanClaimed(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim messages: %w", err)
	}
	return out, nil
}

// materialize moves the outbox chunks holding ids into messages, as queued
// messages, so that statements on messages find them. It reports how many
// messages it moved.
func (db *DB) materialize(ctx context.Context, ids []string) (int, error) {
	moved := 0
	err := db.withPgx(ctx, func(tx pgx.Tx) error {
		_, n, err := takeOutbox(ctx, tx, idGroups(ids), nil, time.Time{}, time.Time{})
		moved = n
		return err
	})
	return moved, err
}

// getOutbox finds a message still in the outbox.
func (s *MessageStore) getOutbox(ctx context.Context, appID, bucketID, id string) (*messages.Message, error) {
	var o outboxRow
	err := o.scan(s.db.queryRow(ctx, s.db, `SELECT `+outboxColumns+` FROM outbox WHERE id = ? AND app_id = ? AND bucket_id = ?`, pushgate.IDGroup(id), appID, bucketID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pushgate.NotFound("message")
	}
	if err != nil {
		return nil, err
	}
	msgs, err := o.messages()
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if m.ID == id {
			return m, nil
		}
	}
	return nil, pushgate.NotFound("message")
}

// staleOutbox returns the messages of outbox rows due before dueBefore,
// whole rows, oldest first, about limit messages (the last row may go past
// it); only those rows' receivers are read.
func (s *MessageStore) staleOutbox(ctx context.Context, dueBefore time.Time, limit int) ([]messages.Ref, error) {
	rows, err := s.db.query(ctx, s.db, `WITH due AS (
			SELECT id, sum(size) OVER (ORDER BY enqueued_at, id) - size AS before FROM outbox
			WHERE enqueued_at < ? ORDER BY enqueued_at, id LIMIT ?)
		SELECT `+prefixColumns("o.", outboxColumns)+` FROM outbox o JOIN due d ON d.id = o.id
		WHERE d.before < ? ORDER BY o.enqueued_at, o.id`, dueBefore.UTC(), limit, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var refs []messages.Ref
	for rows.Next() {
		var o outboxRow
		if err := o.scan(rows); err != nil {
			return nil, err
		}
		if err := unpackReceivers(o.receivers, func(f *[outboxFields]string) {
			refs = append(refs, messages.Ref{ID: f[0], AppID: o.appID, BucketID: o.bucketID, ContextID: o.contextID, CredentialID: o.credentialID})
		}); err != nil {
			return nil, err
		}
	}
	return refs, rows.Err()
}

// prefixColumns puts prefix before each of the comma-separated columns.
func prefixColumns(prefix, columns string) string {
	parts := strings.Split(columns, ", ")
	for i, p := range parts {
		parts[i] = prefix + p
	}
	return strings.Join(parts, ", ")
}
