package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/messages"
)

// On PostgreSQL an accepted chunk of messages (the ids one send task
// carries, which share a pushgate.IDGroup) is one row of the outbox table
// (migrations 00008, 00009), keyed by that IDGroup. Rows written before
// ids kept 66 bits of their own are keyed by the first 28 characters of
// their ids instead (oldSchemeGroup): every look-up by id finds both kinds
// (see outboxKeys). A task's claim of the whole chunk leases the row; its
// final results are then appended to the row (results_postgres.go), and a
// retry's result inserts the message whole into messages. The row stays
// as the chunk's record once all its messages are final or moved. A send
// of 1000 receivers writes two rows, and their results two or three row
// versions, not a thousand rows. A claim that names part of a chunk, and
// a client report for a message of a chunk, move the chunk into messages
// first (with the results kept in it).
// SQLite, with one writer and no network between, keeps writing messages
// directly and updates them with their results (messages_sqlite.go).
// This file holds the outbox rows; messages_postgres.go the statements of
// messages.Store that use them.
//
// A chunk's receivers are packed into one bytea: for each message, six
// strings (id, foreign id, token or user id (recipients.Receiver.Address),
// endpoint, p256dh, auth), each an unsigned
// varint length and the bytes.

const outboxFields = 6

func packReceivers(msgs []*messages.Message) []byte {
	size := 0
	for _, m := range msgs {
		r := &m.Receiver
		size += len(m.ID) + len(m.ForeignID) + len(r.Address()) + len(r.Endpoint) + len(r.P256dh) + len(r.Auth) + outboxFields*2
	}
	b := make([]byte, 0, size)
	for _, m := range msgs {
		r := &m.Receiver
		for _, s := range [outboxFields]string{m.ID, m.ForeignID, r.Address(), r.Endpoint, r.P256dh, r.Auth} {
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
	id                                                 string
	appID, bucketID, contextID, credentialID, provider string
	createdAt, enqueuedAt                              time.Time
	expiresAt, leaseUntil, claimedAt                   sql.NullTime
	claims, done, finals                               int
	receivers, results                                 []byte
}

// outboxColumns are those Insert writes; outboxReadColumns all of them.
const (
	outboxColumns     = `app_id, bucket_id, context_id, credential_id, provider, created_at, expires_at, enqueued_at, receivers`
	outboxReadColumns = `id, ` + outboxColumns + `, lease_until, claimed_at, claims, done, results, finals`
)

func (o *outboxRow) scan(row interface{ Scan(...any) error }) error {
	return row.Scan(&o.id, &o.appID, &o.bucketID, &o.contextID, &o.credentialID, &o.provider, &o.createdAt, &o.expiresAt, &o.enqueuedAt, &o.receivers,
		&o.leaseUntil, &o.claimedAt, &o.claims, &o.done, &o.results, &o.finals)
}

// messages returns the chunk's messages: those with a result kept in the
// chunk as it says (results_postgres.go), the others sending, leased, if a
// worker holds the chunk (the current claim is not an attempt yet), queued
// otherwise; every ended claim counts as an attempt.
func (o *outboxRow) messages() ([]*messages.Message, error) {
	finals, err := unpackResults(o.results)
	if err != nil {
		return nil, err
	}
	var out []*messages.Message
	err = unpackReceivers(o.receivers, func(f *[outboxFields]string) {
		m := &messages.Message{ID: f[0], AppID: o.appID, BucketID: o.bucketID, ContextID: o.contextID, CredentialID: o.credentialID,
			Provider: o.provider, ForeignID: f[1], Status: messages.Queued, Attempts: o.claims,
			CreatedAt: o.createdAt.UTC(), UpdatedAt: o.createdAt.UTC(), EnqueuedAt: o.enqueuedAt.UTC()}
		m.Receiver.CredentialID, m.Receiver.ForeignID = o.credentialID, f[1]
		m.Receiver.Endpoint, m.Receiver.P256dh, m.Receiver.Auth = f[3], f[4], f[5]
		m.Receiver.SetAddress(buckets.CredentialType(o.provider), f[2])
		if o.expiresAt.Valid {
			m.ExpiresAt = o.expiresAt.Time.UTC()
		}
		if o.leaseUntil.Valid {
			m.Status, m.Attempts, m.LeaseUntil = messages.Sending, o.claims-1, o.leaseUntil.Time.UTC()
			if o.claimedAt.Valid {
				m.UpdatedAt = o.claimedAt.Time.UTC()
			}
		}
		if r, ok := finals[m.ID]; ok {
			r.apply(m)
		}
		out = append(out, m)
	})
	return out, err
}

// pending returns the chunk's messages still to send: neither final in
// the chunk nor moved into messages.
func (o *outboxRow) pending(ctx context.Context, tx pgx.Tx) ([]*messages.Message, error) {
	msgs, err := o.unmoved(ctx, tx)
	if err != nil {
		return nil, err
	}
	out := msgs[:0]
	for _, m := range msgs {
		if !m.Status.Final() {
			out = append(out, m)
		}
	}
	return out, nil
}

// unmoved returns the chunk's messages that are not in messages (done
// counts those moved and finals those final in the chunk).
func (o *outboxRow) unmoved(ctx context.Context, tx pgx.Tx) ([]*messages.Message, error) {
	msgs, err := o.messages()
	if err != nil || o.done == o.finals {
		return msgs, err
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	// Planned for each call, as recordClientEventsPG says why.
	rows, err := tx.Query(ctx, `SELECT id FROM messages WHERE id = ANY($1)`, pgx.QueryExecModeCacheDescribe, ids)
	if err != nil {
		return nil, err
	}
	written := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		written[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := msgs[:0]
	for _, m := range msgs {
		if !written[m.ID] {
			out = append(out, m)
		}
	}
	return out, nil
}

// readOutbox runs a statement that returns outbox rows (outboxReadColumns)
// and reads them all.
func readOutbox(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]outboxRow, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var o outboxRow
		if err := o.scan(rows); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// oldSchemeGroupLen is the length of the outbox keys of rows written when
// the ids of a chunk shared their first 28 characters. Nodes of that
// version may still run beside this one, and their rows wait in the outbox
// after an upgrade; the key lengths differ, so the two kinds never meet.
const oldSchemeGroupLen = 28

// outboxKeys returns the outbox keys of the rows that may hold ids, for
// ids that tasks carry (claims, the sweep's MarkEnqueued): each IDGroup,
// and the old-scheme keys of a group only where its ids look like an old
// chunk. A new group's ids differ by their 28th character, so the old key
// of each would be one more key per id (a claim of 500 would send 501 for
// one row); an old chunk's ids share their first 28 characters. So a
// group gets its ids' old keys when it is one id, or when two of its ids
// share 28 characters (a sweep's task can carry two old chunks made in one
// millisecond, which share 17). A group of lone ids of different old
// chunks gets none: postgresMessages.claim looks for the ids it found nowhere by
// their old keys, and allOutboxKeys serves callers that name ids at random.
// (A key of the other kind that matches by chance names a row without the
// id: claiming or moving it does no harm, see postgresMessages.claim.)
func outboxKeys(ids []string) []string {
	sorted := slices.Clone(ids)
	slices.Sort(sorted) // a group's ids together, and within it those sharing 28 characters
	out := make([]string, 0, 2)
	for start := 0; start < len(sorted); {
		group := pushgate.IDGroup(sorted[start])
		end, shared := start+1, false
		for end < len(sorted) && pushgate.IDGroup(sorted[end]) == group {
			shared = shared || oldSchemeGroup(sorted[end]) == oldSchemeGroup(sorted[end-1])
			end++
		}
		out = append(out, group)
		if end-start == 1 || shared {
			for i := start; i < end; i++ {
				if old := oldSchemeGroup(sorted[i]); old != "" && (i == start || old != oldSchemeGroup(sorted[i-1])) {
					out = append(out, old)
				}
			}
		}
		start = end
	}
	return out
}

// allOutboxKeys returns every outbox key a row holding any of ids may have:
// each id's IDGroup and old-scheme key. For ids named one by one (client
// reports), where a key too many costs less than a message not found.
func allOutboxKeys(ids []string) []string {
	keys := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		keys = append(keys, pushgate.IDGroup(id))
		if old := oldSchemeGroup(id); old != "" {
			keys = append(keys, old)
		}
	}
	return uniqueKeys(keys)
}

// oldSchemeGroup is the outbox key an older node gave id's chunk ("" if id
// is not a canonical UUID).
func oldSchemeGroup(id string) string {
	if len(id) != 36 {
		return ""
	}
	return id[:oldSchemeGroupLen]
}

// uniqueKeys returns keys without repeats, in their first order.
func uniqueKeys(keys []string) []string {
	seen := make(map[string]bool, 4)
	out := make([]string, 0, 4)
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

var claimCopyColumns = append(append([]string{}, insertColumns...), "lease_until", "reason", "last_error", "sent_at", "finished_at")

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

// copyMessages writes msgs into messages as they are (status, attempts,
// lease, result).
func copyMessages(ctx context.Context, tx pgx.Tx, msgs []*messages.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	rows := make([][]any, len(msgs))
	for i, m := range msgs {
		var lease any
		if !m.LeaseUntil.IsZero() {
			lease = m.LeaseUntil.UTC()
		}
		var finished any
		if m.Status.Final() {
			finished = m.UpdatedAt.UTC()
		}
		rows[i] = append(insertRow(storableCopy(m)), lease, messages.StorableText(m.Reason), messages.StorableText(m.LastError), nullTime(m.SentAt), finished)
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"messages"}, claimCopyColumns, pgx.CopyFromRows(rows))
	return err
}

// storableCopy returns m with the texts of its receiver made storable
// (messages.StorableText): a chunk's row holds in bytea what text columns
// refuse, such as a NUL in a foreign id.
func storableCopy(m *messages.Message) *messages.Message {
	c := *m
	c.ForeignID = messages.StorableText(c.ForeignID)
	r := &c.Receiver
	r.ForeignID, r.Token, r.Endpoint = messages.StorableText(r.ForeignID), messages.StorableText(r.Token), messages.StorableText(r.Endpoint)
	r.UserID, r.P256dh, r.Auth = messages.StorableText(r.UserID), messages.StorableText(r.P256dh), messages.StorableText(r.Auth)
	return &c
}

// materialize moves the outbox chunks holding ids into messages, as they
// are (final with the results kept in the chunk, queued, or sending if a
// worker holds the chunk: its results then update them), so that
// statements on messages find them. It reports how many messages it moved.
func (db *DB) materialize(ctx context.Context, ids []string) (int, error) {
	moved := 0
	err := db.withPgx(ctx, func(tx pgx.Tx) error {
		// The chunks are locked in id order, so two moves of the same chunks
		// wait for each other instead of deadlocking.
		rows, err := readOutbox(ctx, tx, `DELETE FROM outbox WHERE id IN (
			SELECT id FROM outbox WHERE id = ANY($1) ORDER BY id FOR UPDATE) RETURNING `+outboxReadColumns, allOutboxKeys(ids))
		if err != nil {
			return err
		}
		var all []*messages.Message
		for i := range rows {
			msgs, err := rows[i].unmoved(ctx, tx)
			if err != nil {
				return err
			}
			all = append(all, msgs...)
		}
		moved = len(all)
		return copyMessages(ctx, tx, all)
	})
	return moved, err
}

// prefixColumns puts prefix before each of the comma-separated columns.
func prefixColumns(prefix, columns string) string {
	parts := strings.Split(columns, ", ")
	for i, p := range parts {
		parts[i] = prefix + p
	}
	return strings.Join(parts, ", ")
}
