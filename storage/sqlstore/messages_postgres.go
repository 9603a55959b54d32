package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/messages"
)

// postgresMessages writes PostgreSQL's outbox rows (outbox.go says how),
// with arrays for parameters; finishStatement is the part of finish that
// writes results into messages (a retry's, or of a message claimed from
// messages).
type postgresMessages struct{ db *DB }

// insert stores msgs as one outbox row per IDGroup, in one statement.
func (p postgresMessages) insert(ctx context.Context, msgs []*messages.Message) error {
	var c outboxChunks
	if err := eachChunk(msgs, func(chunk []*messages.Message) error { c.add(chunk); return nil }); err != nil {
		return fmt.Errorf("store messages: %w", err)
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

func (p postgresMessages) markEnqueued(ctx context.Context, ids []string, at time.Time) error {
	if _, err := p.db.exec(ctx, p.db, `UPDATE outbox SET enqueued_at = ? WHERE id = ANY(?)`, at.UTC(), outboxKeys(ids)); err != nil {
		return err
	}
	_, err := p.db.exec(ctx, p.db, `UPDATE messages SET enqueued_at = ? WHERE id = ANY(?) AND status = 'queued'`, at.UTC(), ids)
	return err
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
			lease_until = CASE WHEN o.done + c.n >= o.size THEN ` + finishedLeaseSQL + ` ELSE o.lease_until END
		FROM counts c WHERE o.id = c.grp
	)
	INSERT INTO webhook_events (` + eventColumns + `)
	SELECT d.id, u.event_kind, u.event_id, d.app_id, d.bucket_id, d.foreign_id, u.event_reason, u.event_action, d.updated_at
	FROM done d JOIN u ON u.id = d.id JOIN buckets b ON b.id = d.bucket_id AND b.has_callback
	WHERE u.event_kind <> ''
	ON CONFLICT DO NOTHING`
