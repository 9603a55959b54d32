package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/messages"
)

// The algorithms of messages.Store over outbox chunks (outbox.go), written
// once for both dialects over chunkTx. Each runs in one transaction the
// caller opened.

// claimChunks claims ids. A chunk in the outbox that no worker holds is
// leased whole when ids name all its messages still to send (what a task
// made by the Sender does): nothing is written for its messages until
// their results. A chunk named in part (a sweep's or a retry's mix) moves
// into messages, the named messages sending and the rest queued. The ids
// not in the outbox (retries, chunks moved before) are claimed in
// messages; those found nowhere are looked for once more by the old-scheme
// keys that outboxKeys left out (lone ids of old chunks; otherwise ids
// claimed or finished already, as when a task runs twice).
func claimChunks(ctx context.Context, t chunkTx, ids []string, now, leaseUntil time.Time) ([]*messages.Message, error) {
	c := &chunkClaim{t: t, now: now.UTC(), leaseUntil: leaseUntil.UTC(), want: make(map[string]bool, len(ids))}
	for _, id := range ids {
		c.want[id] = true
	}
	keys := outboxKeys(ids)
	if err := c.lease(ctx, keys); err != nil {
		return nil, err
	}
	if err := c.claimMessages(ctx); err != nil {
		return nil, err
	}
	if old := untriedOldKeys(c.want, keys); len(old) > 0 {
		if err := c.lease(ctx, old); err != nil {
			return nil, err
		}
	}
	if err := c.moveSplit(ctx); err != nil {
		return nil, err
	}
	return c.out, nil
}

// chunkClaim is one claim in progress, in one transaction.
type chunkClaim struct {
	t               chunkTx
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
func (c *chunkClaim) lease(ctx context.Context, keys []string) error {
	leased, err := c.t.leaseChunks(ctx, keys, c.now, c.leaseUntil)
	if err != nil {
		return err
	}
	if err := withRowInterim(ctx, c.t, leased); err != nil {
		return err
	}
	for i := range leased {
		msgs, err := leased[i].pending(ctx, c.t)
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
func (c *chunkClaim) claimMessages(ctx context.Context) error {
	if len(c.want) == 0 {
		return nil
	}
	rest := make([]string, 0, len(c.want))
	for id := range c.want {
		rest = append(rest, id)
	}
	claimed, err := c.t.claimMessages(ctx, rest, c.now, c.leaseUntil)
	if err != nil {
		return err
	}
	for _, m := range claimed {
		delete(c.want, m.ID)
	}
	c.out = append(c.out, claimed...)
	return nil
}

// moveSplit moves the chunks named in part into messages.
func (c *chunkClaim) moveSplit(ctx context.Context) error {
	if len(c.split) == 0 {
		return nil
	}
	if _, err := c.t.takeChunks(ctx, c.split); err != nil {
		return err
	}
	return c.t.copyMessages(ctx, c.moved)
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

// staleChunks hands back the chunks whose worker's lease ended before now
// (the unknown attempt counts: claims already did) and returns their
// messages still to send, then those of chunks due before dueBefore, whole
// rows, oldest first, about limit messages (the last row may go past it).
func staleChunks(ctx context.Context, t chunkTx, now, dueBefore time.Time, limit int) ([]messages.Ref, error) {
	ended, err := t.endLeases(ctx, now.UTC())
	if err != nil {
		return nil, err
	}
	var due []outboxRow
	if limit > 0 {
		endedIDs := make([]string, len(ended))
		for i := range ended {
			endedIDs[i] = ended[i].id
		}
		if due, err = t.dueChunks(ctx, endedIDs, dueBefore.UTC(), limit); err != nil {
			return nil, err
		}
	}
	if err := withRowInterim(ctx, t, ended); err != nil {
		return nil, err
	}
	if err := withRowInterim(ctx, t, due); err != nil {
		return nil, err
	}
	var refs []messages.Ref
	for _, rows := range [][]outboxRow{ended, due} {
		for i := range rows {
			o := &rows[i]
			msgs, err := o.pending(ctx, t)
			if err != nil {
				return nil, err
			}
			for _, m := range msgs {
				refs = append(refs, messages.Ref{ID: m.ID, AppID: o.appID, BucketID: o.bucketID, ContextID: o.contextID, CredentialID: o.credentialID})
			}
		}
	}
	return refs, nil
}

// materializeChunks moves the outbox chunks holding ids into messages, as
// they are (final with the results kept in the chunk, queued, or sending
// if a worker holds the chunk: its results then update them), so that
// statements on messages find them. It reports how many messages it moved.
func materializeChunks(ctx context.Context, t chunkTx, ids []string) (int, error) {
	rows, err := t.takeChunks(ctx, allOutboxKeys(ids))
	if err != nil {
		return 0, err
	}
	var all []*messages.Message
	for i := range rows {
		msgs, err := rows[i].unmoved(ctx, t)
		if err != nil {
			return 0, err
		}
		all = append(all, msgs...)
	}
	return len(all), t.copyMessages(ctx, all)
}

// getChunked finds a message in messages, or else in the outbox.
func getChunked(ctx context.Context, db *DB, appID, bucketID, id string) (*messages.Message, error) {
	m, err := getMessage(ctx, db, appID, bucketID, id)
	if pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
		return m, err
	}
	if m, err = getOutbox(ctx, db, appID, bucketID, id); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
		return m, err
	}
	// Claimed between the two reads: it is in messages now (or gone).
	return getMessage(ctx, db, appID, bucketID, id)
}

// getOutbox finds a message still in the outbox. It reads the chunk's
// interim results before its row, in statements of their own: results
// folded into the row in between are then in the row.
func getOutbox(ctx context.Context, db *DB, appID, bucketID, id string) (*messages.Message, error) {
	keys := []any{pushgate.IDGroup(id), oldSchemeGroup(id)}
	irows, err := db.query(ctx, db, `SELECT chunk_id, packed FROM outbox_results WHERE chunk_id IN (?, ?)`, keys...)
	if err != nil {
		return nil, err
	}
	more, err := scanInterim(irows)
	irows.Close()
	if err != nil {
		return nil, err
	}
	rows, err := db.query(ctx, db, `SELECT `+outboxReadColumns+` FROM outbox WHERE id IN (?, ?) AND app_id = ? AND bucket_id = ?`,
		append(keys, appID, bucketID)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var o outboxRow
		if err := o.scan(rows); err != nil {
			return nil, err
		}
		o.results = append(o.results, more[o.id]...)
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

// staleAll hands back the stale messages of messages, then those of the
// outbox (staleChunks), up to about limit.
func staleAll(ctx context.Context, db *DB, now, dueBefore time.Time, limit int) ([]messages.Ref, error) {
	refs, err := staleMessages(ctx, db, now, dueBefore, limit)
	if err != nil {
		return nil, err
	}
	var more []messages.Ref
	err = db.withChunks(ctx, func(t chunkTx) error {
		more, err = staleChunks(ctx, t, now, dueBefore, limit-len(refs))
		return err
	})
	if err != nil {
		return nil, err
	}
	return append(refs, more...), nil
}

// withChunks runs fn in a transaction, with the chunk statements of db's
// dialect.
func (db *DB) withChunks(ctx context.Context, fn func(t chunkTx) error) error {
	if db.Dialect == Postgres {
		return db.withPgx(ctx, func(tx pgx.Tx) error { return fn(pgChunkTx{tx: tx}) })
	}
	return db.inTx(ctx, func(tx *sql.Tx) error { return fn(liteChunkTx{db: db, tx: tx}) })
}

// materialize moves the outbox chunks holding ids into messages
// (materializeChunks), in a transaction of its own.
func (db *DB) materialize(ctx context.Context, ids []string) (int, error) {
	moved := 0
	err := db.withChunks(ctx, func(t chunkTx) error {
		var err error
		moved, err = materializeChunks(ctx, t, ids)
		return err
	})
	return moved, err
}
