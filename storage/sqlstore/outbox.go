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
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/messages"
)

// On PostgreSQL an accepted chunk of messages (the ids one send task
// carries, which share a pushgate.IDGroup) is one row of the outbox table
// (migrations 00008, 00009), keyed by that IDGroup. Rows written before
// ids kept 66 bits of their own are keyed by the first 28 characters of
// their ids instead (oldSchemeGroup): every look-up by id finds both kinds
// (see outboxKeys). A task's claim of the whole chunk leases the row; each
// result is then inserted into messages with the message whole, and the
// row goes once all its messages are there. A message is written once in
// its life, and accepting a send of 1000 receivers writes two rows, not a
// thousand. A claim that names part of a chunk, and a client report
// for a message still in the outbox, move the chunk into messages first.
// SQLite, with one writer and no network between, keeps writing messages
// directly and updates them with their results.
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
	id                                                 string
	appID, bucketID, contextID, credentialID, provider string
	createdAt, enqueuedAt                              time.Time
	expiresAt, leaseUntil, claimedAt                   sql.NullTime
	claims, done                                       int
	receivers                                          []byte
}

// outboxColumns are those Insert writes; outboxReadColumns all of them.
const (
	outboxColumns     = `app_id, bucket_id, context_id, credential_id, provider, created_at, expires_at, enqueued_at, receivers`
	outboxReadColumns = `id, ` + outboxColumns + `, lease_until, claimed_at, claims, done`
)

func (o *outboxRow) scan(row interface{ Scan(...any) error }) error {
	return row.Scan(&o.id, &o.appID, &o.bucketID, &o.contextID, &o.credentialID, &o.provider, &o.createdAt, &o.expiresAt, &o.enqueuedAt, &o.receivers,
		&o.leaseUntil, &o.claimedAt, &o.claims, &o.done)
}

// messages returns the chunk's messages: sending, leased, if a worker holds
// the chunk (the current claim is not an attempt yet), queued otherwise;
// every ended claim counts as an attempt.
func (o *outboxRow) messages() ([]*messages.Message, error) {
	var out []*messages.Message
	err := unpackReceivers(o.receivers, func(f *[outboxFields]string) {
		m := &messages.Message{ID: f[0], AppID: o.appID, BucketID: o.bucketID, ContextID: o.contextID, CredentialID: o.credentialID,
			Provider: o.provider, ForeignID: f[1], Status: messages.Queued, Attempts: o.claims,
			CreatedAt: o.createdAt.UTC(), UpdatedAt: o.createdAt.UTC(), EnqueuedAt: o.enqueuedAt.UTC()}
		m.Receiver.CredentialID, m.Receiver.ForeignID = o.credentialID, f[1]
		m.Receiver.Token, m.Receiver.Endpoint, m.Receiver.P256dh, m.Receiver.Auth = f[2], f[3], f[4], f[5]
		if o.expiresAt.Valid {
			m.ExpiresAt = o.expiresAt.Time.UTC()
		}
		if o.leaseUntil.Valid {
			m.Status, m.Attempts, m.LeaseUntil = messages.Sending, o.claims-1, o.leaseUntil.Time.UTC()
			if o.claimedAt.Valid {
				m.UpdatedAt = o.claimedAt.Time.UTC()
			}
		}
		out = append(out, m)
	})
	return out, err
}

// pending returns the chunk's messages that are not in messages yet (once
// any are, done counts them).
func (o *outboxRow) pending(ctx context.Context, tx pgx.Tx) ([]*messages.Message, error) {
	msgs, err := o.messages()
	if err != nil || o.done == 0 {
		return msgs, err
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	rows, err := tx.Query(ctx, `SELECT id FROM messages WHERE id = ANY($1)`, ids)
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
// chunks gets none: claimPostgres looks for the ids it found nowhere by
// their old keys, and allOutboxKeys serves callers that name ids at random.
// (A key of the other kind that matches by chance names a row without the
// id: claiming or moving it does no harm, see claimPostgres.)
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
	if isUniqueViolation(err) {
		// Another node's chunk made in the same millisecond has the key
		// (or this insert names one group twice): nothing was stored.
		return fmt.Errorf("%w: %v", messages.ErrIDTaken, err)
	}
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

// copyMessages writes msgs into messages as they are (status, attempts,
// lease).
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
		rows[i] = append(insertRow(m), lease)
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"messages"}, claimCopyColumns, pgx.CopyFromRows(rows))
	return err
}

// claimPostgres claims ids. A chunk in the outbox that no worker holds is
// leased whole when ids name all its messages still to send (what a task
// made by the Sender does): nothing is written for its messages until
// their results. A chunk named in part (a sweep's or a retry's mix) moves
// into messages, the named messages sending and the rest queued. The ids
// not in the outbox (retries, chunks moved before) are claimed in messages;
// those found nowhere are looked for once more by the old-scheme keys that
// outboxKeys left out (lone ids of old chunks; otherwise ids claimed or
// finished already, as when a task runs twice).
func (s *MessageStore) claimPostgres(ctx context.Context, ids []string, now, leaseUntil time.Time) ([]*messages.Message, error) {
	var out []*messages.Message
	err := s.db.withPgx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		want := make(map[string]bool, len(ids))
		for _, id := range ids {
			want[id] = true
		}
		var split []string
		var moved []*messages.Message
		lease := func(keys []string) error {
			leased, err := readOutbox(ctx, tx, `UPDATE outbox SET lease_until = $1, claimed_at = $2, claims = claims + 1
				WHERE id = ANY($3) AND lease_until IS NULL RETURNING `+outboxReadColumns, leaseUntil.UTC(), now.UTC(), keys)
			if err != nil {
				return err
			}
			for i := range leased {
				msgs, err := leased[i].pending(ctx, tx)
				if err != nil {
					return err
				}
				whole := true
				for _, m := range msgs {
					if want[m.ID] {
						delete(want, m.ID)
						m.Chunk = leased[i].id // its result finds the row by it
						out = append(out, m)
					} else { // stays queued, and so the chunk moves
						whole = false
						m.Status, m.LeaseUntil, m.UpdatedAt = messages.Queued, time.Time{}, m.CreatedAt
					}
				}
				if !whole {
					split, moved = append(split, leased[i].id), append(moved, msgs...)
				}
			}
			return nil
		}
		keys := outboxKeys(ids)
		if err := lease(keys); err != nil {
			return err
		}
		if len(want) > 0 {
			rest := make([]string, 0, len(want))
			for id := range want {
				rest = append(rest, id)
			}
			rows, err := tx.Query(ctx, `UPDATE messages SET status = 'sending', lease_until = $1, updated_at = $2
				WHERE id = ANY($3) AND status = 'queued' RETURNING `+claimColumns, leaseUntil.UTC(), now.UTC(), rest)
			if err != nil {
				return err
			}
			for rows.Next() {
				m, err := scanClaimed(rows)
				if err != nil {
					rows.Close()
					return err
				}
				delete(want, m.ID)
				out = append(out, m)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		if old := untriedOldKeys(want, keys); len(old) > 0 {
			if err := lease(old); err != nil {
				return err
			}
		}
		if len(split) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, split); err != nil {
				return err
			}
			return copyMessages(ctx, tx, moved)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim messages: %w", err)
	}
	return out, nil
}

// untriedOldKeys returns the old-scheme keys of ids that are not among
// tried.
func untriedOldKeys(ids map[string]bool, tried []string) []string {
	if len(ids) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(tried)+len(ids))
	for _, k := range tried {
		seen[k] = true
	}
	var out []string
	for id := range ids {
		if old := oldSchemeGroup(id); old != "" && !seen[old] {
			seen[old] = true
			out = append(out, old)
		}
	}
	return out
}

// materialize moves the outbox chunks holding ids into messages, as they
// are (queued, or sending if a worker holds the chunk: its results then
// update them), so that statements on messages find them. It reports how
// many messages it moved.
func (db *DB) materialize(ctx context.Context, ids []string) (int, error) {
	moved := 0
	err := db.withPgx(ctx, func(tx pgx.Tx) error {
		rows, err := readOutbox(ctx, tx, `DELETE FROM outbox WHERE id = ANY($1) RETURNING `+outboxReadColumns, allOutboxKeys(ids))
		if err != nil {
			return err
		}
		var all []*messages.Message
		for i := range rows {
			msgs, err := rows[i].pending(ctx, tx)
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

// getOutbox finds a message still in the outbox.
func (s *MessageStore) getOutbox(ctx context.Context, appID, bucketID, id string) (*messages.Message, error) {
	rows, err := s.db.query(ctx, s.db, `SELECT `+outboxReadColumns+` FROM outbox WHERE id IN (?, ?) AND app_id = ? AND bucket_id = ?`,
		pushgate.IDGroup(id), oldSchemeGroup(id), appID, bucketID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var o outboxRow
		if err := o.scan(rows); err != nil {
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
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return nil, pushgate.NotFound("message")
}

// staleOutbox hands back the chunks whose worker's lease ended before now
// (the unknown attempt counts: claims already did) and returns their
// messages still to send, then those of chunks due before dueBefore, whole
// rows, oldest first, about limit messages (the last row may go past it).
func (s *MessageStore) staleOutbox(ctx context.Context, now, dueBefore time.Time, limit int) ([]messages.Ref, error) {
	var refs []messages.Ref
	err := s.db.withPgx(ctx, func(tx pgx.Tx) error {
		refs = refs[:0]
		ended, err := readOutbox(ctx, tx, `UPDATE outbox SET lease_until = NULL, enqueued_at = $1 WHERE lease_until < $1 RETURNING `+outboxReadColumns, now.UTC())
		if err != nil {
			return err
		}
		var due []outboxRow
		if limit > 0 {
			endedIDs := make([]string, len(ended))
			for i := range ended {
				endedIDs[i] = ended[i].id
			}
			due, err = readOutbox(ctx, tx, `WITH due AS (
					SELECT id, sum(size - done) OVER (ORDER BY enqueued_at, id) - (size - done) AS before FROM outbox
					WHERE lease_until IS NULL AND enqueued_at < $1 AND NOT (id = ANY($3)) ORDER BY enqueued_at, id LIMIT $2)
				SELECT `+prefixColumns("o.", outboxReadColumns)+` FROM outbox o JOIN due d ON d.id = o.id
				WHERE d.before < $2 ORDER BY o.enqueued_at, o.id`, dueBefore.UTC(), limit, endedIDs)
			if err != nil {
				return err
			}
		}
		for _, rows := range [][]outboxRow{ended, due} {
			for i := range rows {
				o := &rows[i]
				msgs, err := o.pending(ctx, tx)
				if err != nil {
					return err
				}
				for _, m := range msgs {
					refs = append(refs, messages.Ref{ID: m.ID, AppID: o.appID, BucketID: o.bucketID, ContextID: o.contextID, CredentialID: o.credentialID})
				}
			}
		}
		return nil
	})
	return refs, err
}

// prefixColumns puts prefix before each of the comma-separated columns.
func prefixColumns(prefix, columns string) string {
	parts := strings.Split(columns, ", ")
	for i, p := range parts {
		parts[i] = prefix + p
	}
	return strings.Join(parts, ", ")
}

// finishPostgres writes results in one statement. A message of a leased
// outbox chunk is inserted whole, with its result, and counted done on its
// chunk (which goes once all its messages are in messages); one already in
// messages is updated. Either way only a message still sending changes,
// and a final result of a bucket with a callback records its webhook event
// in the same statement. The chunks' rows are locked first, so a client
// report that moves a chunk into messages (materialize) waits for this, or
// this for it.
func (s *MessageStore) finishPostgres(ctx context.Context, results []messages.Result) error {
	n := len(results)
	ids, groups, statuses, reasons, errs, eventIDs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	apps, buckets, contexts, creds, providers := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	foreign, tokens, endpoints, p256dhs, auths := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	attempts := make([]int32, n)
	ats, retries, created := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	expires := make([]*time.Time, n)
	for i, r := range results {
		m := r.Message
		ids[i], groups[i], statuses[i], reasons[i], errs[i] = m.ID, m.Chunk, string(r.Status), r.Reason, errorText(r.Error)
		if groups[i] == "" { // not claimed from a row (or by a caller that kept its own copy)
			groups[i] = pushgate.IDGroup(m.ID)
		}
		attempts[i], ats[i], retries[i] = int32(r.Attempts), r.At.UTC(), r.RetryAt.UTC()
		if r.RetryAt.IsZero() {
			retries[i] = r.At.UTC()
		}
		if r.Status.Final() {
			eventIDs[i] = pushgate.NewID()
		}
		apps[i], buckets[i], contexts[i], creds[i], providers[i] = m.AppID, m.BucketID, m.ContextID, m.CredentialID, m.Provider
		foreign[i], tokens[i], endpoints[i], p256dhs[i], auths[i] = m.ForeignID, m.Receiver.Token, m.Receiver.Endpoint, m.Receiver.P256dh, m.Receiver.Auth
		created[i] = m.CreatedAt.UTC()
		if !m.ExpiresAt.IsZero() {
			e := m.ExpiresAt.UTC()
			expires[i] = &e
		}
	}
	return s.db.withPgx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT id FROM outbox WHERE id = ANY($1) ORDER BY id FOR UPDATE`, uniqueKeys(groups))
		b.Queue(`WITH u AS (
				SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::timestamptz[], $8::timestamptz[], $9::text[],
					$10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[],
					$20::timestamptz[], $21::timestamptz[])
				AS u(id, grp, status, reason, err, attempts, at, retry_at, event_id,
					app_id, bucket_id, context_id, credential_id, provider, foreign_id, token, endpoint, p256dh, auth, created_at, expires_at)
			), done AS (
				INSERT INTO messages AS m (id, app_id, bucket_id, context_id, credential_id, provider, foreign_id, token, endpoint, p256dh, auth,
					status, reason, last_error, attempts, created_at, updated_at, expires_at, enqueued_at, sent_at, finished_at)
				SELECT u.id, u.app_id, u.bucket_id, u.context_id, u.credential_id, u.provider, u.foreign_id, u.token, u.endpoint, u.p256dh, u.auth,
					u.status, u.reason, u.err, u.attempts, u.created_at, u.at, u.expires_at, u.retry_at,
					CASE WHEN u.status = 'sent' THEN u.at END,
					CASE WHEN u.status IN ('sent', 'failed', 'expired') THEN u.at END
				FROM u
				WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.id = u.grp AND o.lease_until IS NOT NULL)
					OR EXISTS (SELECT 1 FROM messages x WHERE x.id = u.id)
				ON CONFLICT (id) DO UPDATE SET status = excluded.status, reason = excluded.reason, last_error = excluded.last_error,
					attempts = excluded.attempts, updated_at = excluded.updated_at, lease_until = NULL,
					sent_at = coalesce(excluded.sent_at, m.sent_at), finished_at = excluded.finished_at,
					enqueued_at = CASE WHEN excluded.status = 'queued' THEN excluded.enqueued_at ELSE m.enqueued_at END
				WHERE m.status = 'sending'
				RETURNING m.id, m.app_id, m.bucket_id, m.foreign_id, m.status, m.reason, m.updated_at, m.xmax = 0 AS inserted
			), counts AS (
				SELECT u.grp, count(*)::int AS n FROM done d JOIN u ON u.id = d.id WHERE d.inserted GROUP BY u.grp
			), emptied AS (
				DELETE FROM outbox o USING counts c WHERE o.id = c.grp AND o.done + c.n >= o.size
			), counted AS (
				UPDATE outbox o SET done = o.done + c.n FROM counts c WHERE o.id = c.grp AND o.done + c.n < o.size
			)
			INSERT INTO webhook_events (`+eventColumns+`)
			SELECT d.id, CASE WHEN d.status = 'sent' THEN 'sent' ELSE 'failed' END, u.event_id, d.app_id, d.bucket_id, d.foreign_id,
				CASE WHEN d.status = 'sent' THEN '' ELSE d.reason END, '', d.updated_at
			FROM done d JOIN u ON u.id = d.id JOIN buckets b ON b.id = d.bucket_id AND b.has_callback
			WHERE d.status IN ('sent', 'failed', 'expired')
			ON CONFLICT DO NOTHING`,
			ids, groups, statuses, reasons, errs, attempts, ats, retries, eventIDs,
			apps, buckets, contexts, creds, providers, foreign, tokens, endpoints, p256dhs, auths, created, expires)
		br := tx.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
		return br.Close()
	})
}
