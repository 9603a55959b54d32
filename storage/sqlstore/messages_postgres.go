package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/messages"
)

// postgresMessages is the PostgreSQL model of messages: an accepted chunk
// is one outbox row (outbox_postgres.go says how), which a task claims
// and which keeps the final results of its messages (results_postgres.go);
// a message goes into messages only for a retry, a partial claim or a
// client report. Statements on messages alone are shared with SQLite.
type postgresMessages struct{ db *DB }

// insert stores msgs as one outbox row per IDGroup, in one statement.
func (p postgresMessages) insert(ctx context.Context, msgs []*messages.Message) error {
	var c outboxChunks
	for start := 0; start < len(msgs); {
		end, err := chunkEnd(msgs, start)
		if err != nil {
			return fmt.Errorf("store messages: %w", err)
		}
		c.add(msgs[start:end])
		start = end
	}
	_, err := p.db.exec(ctx, p.db, `INSERT INTO outbox (id, `+outboxColumns+`, size)
		SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::timestamptz[], ?::timestamptz[], ?::bytea[], ?::int[])`,
		c.keys, c.apps, c.buckets, c.contexts, c.creds, c.providers, c.created, c.expires, c.enqueued, c.packed, c.sizes)
	if isUniqueViolation(err) {
		// Another node's chunk made in the same millisecond has the key
		// (or this insert names one group twice): nothing was stored.
		return fmt.Errorf("store messages: %w: %v", messages.ErrIDTaken, err)
	}
	if err != nil {
		return fmt.Errorf("store messages: %w", err)
	}
	return nil
}

// chunkEnd returns the end of the chunk that starts at msgs[start]: the
// messages after it of its IDGroup, which must differ from it in their
// receivers only.
func chunkEnd(msgs []*messages.Message, start int) (int, error) {
	first := msgs[start]
	key := pushgate.IDGroup(first.ID)
	end := start + 1
	for end < len(msgs) && pushgate.IDGroup(msgs[end].ID) == key {
		m := msgs[end]
		if m.BucketID != first.BucketID || m.ContextID != first.ContextID || m.CredentialID != first.CredentialID || m.AppID != first.AppID ||
			m.Provider != first.Provider || !m.CreatedAt.Equal(first.CreatedAt) || !m.ExpiresAt.Equal(first.ExpiresAt) || !m.EnqueuedAt.Equal(first.EnqueuedAt) {
			return 0, fmt.Errorf("messages of id group %s differ in more than their receivers", key)
		}
		end++
	}
	return end, nil
}

// outboxChunks are the columns of the outbox rows one insert writes.
type outboxChunks struct {
	keys, apps, buckets, contexts, creds, providers []string
	created, enqueued                               []time.Time
	expires                                         []*time.Time
	sizes                                           []int32
	packed                                          [][]byte
}

// add appends the row of one chunk.
func (c *outboxChunks) add(chunk []*messages.Message) {
	first := chunk[0]
	c.keys, c.apps, c.buckets = append(c.keys, pushgate.IDGroup(first.ID)), append(c.apps, first.AppID), append(c.buckets, first.BucketID)
	c.contexts, c.creds, c.providers = append(c.contexts, first.ContextID), append(c.creds, first.CredentialID), append(c.providers, first.Provider)
	c.created, c.enqueued = append(c.created, first.CreatedAt.UTC()), append(c.enqueued, first.EnqueuedAt.UTC())
	c.expires, c.sizes, c.packed = append(c.expires, timePtr(first.ExpiresAt)), append(c.sizes, int32(len(chunk))), append(c.packed, packReceivers(chunk))
}

// timePtr is t in UTC, or nil (NULL) when t is zero.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// get finds a message in messages, or else in the outbox.
func (p postgresMessages) get(ctx context.Context, appID, bucketID, id string) (*messages.Message, error) {
	m, err := getMessage(ctx, p.db, appID, bucketID, id)
	if pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
		return m, err
	}
	if m, err = p.getOutbox(ctx, appID, bucketID, id); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
		return m, err
	}
	// Claimed between the two reads: it is in messages now (or gone).
	return getMessage(ctx, p.db, appID, bucketID, id)
}

// getOutbox finds a message still in the outbox.
func (p postgresMessages) getOutbox(ctx context.Context, appID, bucketID, id string) (*messages.Message, error) {
	rows, err := p.db.query(ctx, p.db, `SELECT `+outboxReadColumns+` FROM outbox WHERE id IN (?, ?) AND app_id = ? AND bucket_id = ?`,
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

// stale hands back the stale messages of messages, then those of the
// outbox (staleOutbox), up to about limit.
func (p postgresMessages) stale(ctx context.Context, now, dueBefore time.Time, limit int) ([]messages.Ref, error) {
	refs, err := staleMessages(ctx, p.db, now, dueBefore, limit)
	if err != nil {
		return nil, err
	}
	more, err := p.staleOutbox(ctx, now, dueBefore, limit-len(refs))
	if err != nil {
		return nil, err
	}
	return append(refs, more...), nil
}

// staleOutbox hands back the chunks whose worker's lease ended before now
// (the unknown attempt counts: claims already did) and returns their
// messages still to send, then those of chunks due before dueBefore, whole
// rows, oldest first, about limit messages (the last row may go past it).
func (p postgresMessages) staleOutbox(ctx context.Context, now, dueBefore time.Time, limit int) ([]messages.Ref, error) {
	var refs []messages.Ref
	err := p.db.withPgx(ctx, func(tx pgx.Tx) error {
		refs = refs[:0]
		ended, err := readOutbox(ctx, tx, `UPDATE outbox SET lease_until = NULL, enqueued_at = $1 WHERE lease_until < $1 AND done < size RETURNING `+outboxReadColumns, now.UTC())
		if err != nil {
			return err
		}
		var due []outboxRow
		if limit > 0 {
			if due, err = dueOutbox(ctx, tx, ended, dueBefore, limit); err != nil {
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

// dueOutbox reads the chunks no worker holds that were due before
// dueBefore, other than those just handed back (ended), whole rows, oldest
// first, about limit messages.
func dueOutbox(ctx context.Context, tx pgx.Tx, ended []outboxRow, dueBefore time.Time, limit int) ([]outboxRow, error) {
	endedIDs := make([]string, len(ended))
	for i := range ended {
		endedIDs[i] = ended[i].id
	}
	return readOutbox(ctx, tx, `WITH due AS (
			SELECT id, sum(size - done) OVER (ORDER BY enqueued_at, id) - (size - done) AS before FROM outbox
			WHERE lease_until IS NULL AND enqueued_at < $1 AND done < size AND NOT (id = ANY($3)) ORDER BY enqueued_at, id LIMIT $2)
		SELECT `+prefixColumns("o.", outboxReadColumns)+` FROM outbox o JOIN due d ON d.id = o.id
		WHERE d.before < $2 ORDER BY o.enqueued_at, o.id`, dueBefore.UTC(), limit, endedIDs)
}

func (p postgresMessages) markEnqueued(ctx context.Context, ids []string, at time.Time) error {
	if _, err := p.db.exec(ctx, p.db, `UPDATE outbox SET enqueued_at = ? WHERE id = ANY(?)`, at.UTC(), outboxKeys(ids)); err != nil {
		return err
	}
	_, err := p.db.exec(ctx, p.db, `UPDATE messages SET enqueued_at = ? WHERE id = ANY(?) AND status = 'queued'`, at.UTC(), ids)
	return err
}

// claim claims ids. A chunk in the outbox that no worker holds is leased
// whole when ids name all its messages still to send (what a task made by
// the Sender does): nothing is written for its messages until their
// results. A chunk named in part (a sweep's or a retry's mix) moves into
// messages, the named messages sending and the rest queued. The ids not in
// the outbox (retries, chunks moved before) are claimed in messages; those
// found nowhere are looked for once more by the old-scheme keys that
// outboxKeys left out (lone ids of old chunks; otherwise ids claimed or
// finished already, as when a task runs twice).
func (p postgresMessages) claim(ctx context.Context, ids []string, now, leaseUntil time.Time) ([]*messages.Message, error) {
	var out []*messages.Message
	err := p.db.withPgx(ctx, func(tx pgx.Tx) error {
		c := &pgClaim{tx: tx, now: now.UTC(), leaseUntil: leaseUntil.UTC(), want: make(map[string]bool, len(ids))}
		for _, id := range ids {
			c.want[id] = true
		}
		keys := outboxKeys(ids)
		if err := c.lease(ctx, keys); err != nil {
			return err
		}
		if err := c.claimMessages(ctx); err != nil {
			return err
		}
		if old := untriedOldKeys(c.want, keys); len(old) > 0 {
			if err := c.lease(ctx, old); err != nil {
				return err
			}
		}
		if err := c.moveSplit(ctx); err != nil {
			return err
		}
		out = c.out
		return nil
	})
	return out, err
}

// pgClaim is one claim in progress, in one transaction.
type pgClaim struct {
	tx              pgx.Tx
	now, leaseUntil time.Time
	// want holds the ids not claimed yet.
	want map[string]bool
	out  []*messages.Message
	// split are the outbox rows named in part, and moved their messages,
	// which go into messages.
	split []string
	moved []*messages.Message
}

// lease leases the outbox rows among keys that no worker holds and claims
// the wanted messages in them.
func (c *pgClaim) lease(ctx context.Context, keys []string) error {
	leased, err := readOutbox(ctx, c.tx, `UPDATE outbox SET lease_until = $1, claimed_at = $2, claims = claims + 1
		WHERE id = ANY($3) AND lease_until IS NULL RETURNING `+outboxReadColumns, c.leaseUntil, c.now, keys)
	if err != nil {
		return err
	}
	for i := range leased {
		msgs, err := leased[i].pending(ctx, c.tx)
		if err != nil {
			return err
		}
		whole := true
		for _, m := range msgs {
			if c.want[m.ID] {
				delete(c.want, m.ID)
				m.Chunk = leased[i].id // its result finds the row by it
				c.out = append(c.out, m)
			} else { // stays queued, and so the chunk moves
				whole = false
				m.Status, m.LeaseUntil, m.UpdatedAt = messages.Queued, time.Time{}, m.CreatedAt
			}
		}
		if !whole {
			c.split, c.moved = append(c.split, leased[i].id), append(c.moved, msgs...)
		}
	}
	return nil
}

// claimMessages claims the wanted ids that are rows of messages.
func (c *pgClaim) claimMessages(ctx context.Context) error {
	if len(c.want) == 0 {
		return nil
	}
	rest := make([]string, 0, len(c.want))
	for id := range c.want {
		rest = append(rest, id)
	}
	rows, err := c.tx.Query(ctx, `UPDATE messages SET status = 'sending', lease_until = $1, updated_at = $2
		WHERE id = ANY($3) AND status = 'queued' RETURNING `+claimColumns, c.leaseUntil, c.now, rest)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		m, err := scanClaimed(rows)
		if err != nil {
			return err
		}
		delete(c.want, m.ID)
		c.out = append(c.out, m)
	}
	return rows.Err()
}

// moveSplit moves the chunks named in part into messages.
func (c *pgClaim) moveSplit(ctx context.Context) error {
	if len(c.split) == 0 {
		return nil
	}
	if _, err := c.tx.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, c.split); err != nil {
		return err
	}
	return copyMessages(ctx, c.tx, c.moved)
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

// finish stores results: the final ones of messages claimed with their
// chunk in the chunk's row, with their events in one row per bucket
// (results_postgres.go); the others with finishStatement. The chunks' rows
// are locked first, so a client report that moves a chunk into messages
// (materialize) waits for this, or this for it.
func (p postgresMessages) finish(ctx context.Context, results []messages.Result) error {
	return p.db.withPgx(ctx, func(tx pgx.Tx) error { return finishChunks(ctx, tx, results) })
}

// finishRows are the results as finishStatement's arrays take them: one
// element per result, the message's columns, the result's, and those of
// its webhook event (kind empty when it makes none).
type finishRows struct {
	ids, groups, statuses, reasons, errs             []string
	apps, buckets, contexts, creds, providers        []string
	foreign, tokens, endpoints, p256dhs, auths       []string
	eventIDs, eventKinds, eventReasons, eventActions []string
	attempts                                         []int32
	ats, retries, created                            []time.Time
	expires                                          []*time.Time
}

func newFinishRows(results []messages.Result) *finishRows {
	f := &finishRows{}
	for i := range results {
		f.add(&results[i])
	}
	return f
}

func (f *finishRows) add(r *messages.Result) {
	m := r.Message
	group := m.Chunk
	if group == "" { // not claimed from a row (or by a caller that kept its own copy)
		group = pushgate.IDGroup(m.ID)
	}
	retry := r.RetryAt
	if retry.IsZero() {
		retry = r.At
	}
	var eventID string
	e, ok := resultEvent(r)
	if ok {
		eventID = pushgate.NewID()
	}
	f.ids, f.groups, f.statuses, f.reasons, f.errs = append(f.ids, m.ID), append(f.groups, group), append(f.statuses, string(r.Status)),
		append(f.reasons, r.Reason), append(f.errs, errorText(r.Error))
	f.attempts, f.ats, f.retries = append(f.attempts, int32(r.Attempts)), append(f.ats, r.At.UTC()), append(f.retries, retry.UTC())
	f.eventIDs, f.eventKinds = append(f.eventIDs, eventID), append(f.eventKinds, string(e.Kind))
	f.eventReasons, f.eventActions = append(f.eventReasons, e.Reason), append(f.eventActions, e.Action)
	f.apps, f.buckets, f.contexts = append(f.apps, m.AppID), append(f.buckets, m.BucketID), append(f.contexts, m.ContextID)
	f.creds, f.providers, f.foreign = append(f.creds, m.CredentialID), append(f.providers, m.Provider), append(f.foreign, m.ForeignID)
	f.tokens, f.endpoints = append(f.tokens, m.Receiver.Address()), append(f.endpoints, m.Receiver.Endpoint)
	f.p256dhs, f.auths = append(f.p256dhs, m.Receiver.P256dh), append(f.auths, m.Receiver.Auth)
	f.created, f.expires = append(f.created, m.CreatedAt.UTC()), append(f.expires, timePtr(m.ExpiresAt))
}

// args are finishStatement's parameters.
func (f *finishRows) args() []any {
	return []any{f.ids, f.groups, f.statuses, f.reasons, f.errs, f.attempts, f.ats, f.retries, f.eventIDs,
		f.apps, f.buckets, f.contexts, f.creds, f.providers, f.foreign, f.tokens, f.endpoints, f.p256dhs, f.auths, f.created, f.expires,
		f.eventKinds, f.eventReasons, f.eventActions}
}

// finishStatement stores results (finishRows) and their webhook events.
const finishStatement = `WITH u AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::timestamptz[], $8::timestamptz[], $9::text[],
			$10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[],
			$20::timestamptz[], $21::timestamptz[], $22::text[], $23::text[], $24::text[])
		AS u(id, grp, status, reason, err, attempts, at, retry_at, event_id,
			app_id, bucket_id, context_id, credential_id, provider, foreign_id, token, endpoint, p256dh, auth, created_at, expires_at,
			event_kind, event_reason, event_action)
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
		RETURNING m.id, m.app_id, m.bucket_id, m.foreign_id, m.updated_at, m.xmax = 0 AS inserted
	), counts AS (
		SELECT u.grp, count(*)::int AS n FROM done d JOIN u ON u.id = d.id WHERE d.inserted GROUP BY u.grp
	), counted AS (
		UPDATE outbox o SET done = o.done + c.n,
			lease_until = CASE WHEN o.done + c.n >= o.size THEN ` + finishedLease + ` ELSE o.lease_until END
		FROM counts c WHERE o.id = c.grp
	)
	INSERT INTO webhook_events (` + eventColumns + `)
	SELECT d.id, u.event_kind, u.event_id, d.app_id, d.bucket_id, d.foreign_id, u.event_reason, u.event_action, d.updated_at
	FROM done d JOIN u ON u.id = d.id JOIN buckets b ON b.id = d.bucket_id AND b.has_callback
	WHERE u.event_kind <> ''
	ON CONFLICT DO NOTHING`
