package sqlstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pushgate/pushgate"
)

// PostgreSQL's statements of finish (results.go says what they keep): the
// chunks are locked and read in one statement, and everything finish
// writes goes in one round trip.

// lockChunks locks the outbox rows among keys and reads what finish needs
// of them; pipelined, it begins the transaction in the same round trip.
func (t pgChunkTx) lockChunks(ctx context.Context, keys []string) (map[string]*lockedChunk, error) {
	if t.pipelined {
		b := &pgx.Batch{}
		b.Queue(`BEGIN`)
		b.Queue(lockChunksSQL, keys)
		br := t.tx.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
		rows, err := br.Query()
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		return scanLockedChunks(rows)
	}
	rows, err := t.tx.Query(ctx, lockChunksSQL, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanLockedChunks(rows)
}

// lockChunksSQL is lockChunks's statement (scanLockedChunks's columns).
const lockChunksSQL = `SELECT o.id, o.app_id, o.bucket_id, o.lease_until IS NOT NULL AND o.done < o.size, o.results, coalesce(b.has_callback, FALSE),
			o.done, o.size, o.claims
		FROM outbox o LEFT JOIN buckets b ON b.id = o.bucket_id WHERE o.id = ANY($1) ORDER BY o.id FOR UPDATE OF o`

// storeFinish writes p in one round trip: the results that go into
// messages with finishStatement, the chunks' and the event sets with
// queue's statements, and, pipelined, the commit.
func (t pgChunkTx) storeFinish(ctx context.Context, p *finishPlan) error {
	b := &pgx.Batch{}
	if len(p.rest) > 0 {
		b.Queue(finishStatement, newFinishRows(p.rest).args()...)
	}
	p.queue(b)
	if t.pipelined {
		b.Queue(`COMMIT`)
	}
	if b.Len() == 0 {
		return nil
	}
	return t.tx.SendBatch(ctx, b).Close()
}

// queue adds the statements that store the chunks' results and the event
// sets to b: an interim row per chunk the finish leaves unfinished, the
// results folded into the row of each it finishes (results.go), and the
// counts of both. The fold reads the interim rows in the statement, so
// that a finish need not have read them (lookUps).
func (p *finishPlan) queue(b *pgx.Batch) {
	var keys, interim, folded []string
	var packed, last [][]byte
	var counts []int32
	for key, c := range p.chunks {
		if c.n == 0 {
			continue
		}
		keys, counts = append(keys, key), append(counts, c.n)
		if c.finishes(0) {
			folded, last = append(folded, key), append(last, c.packed)
		} else {
			interim, packed = append(interim, key), append(packed, c.packed)
		}
	}
	if len(interim) > 0 {
		b.Queue(`INSERT INTO outbox_results (chunk_id, packed) SELECT * FROM unnest($1::text[], $2::bytea[])`, interim, packed)
	}
	if len(folded) > 0 {
		b.Queue(`UPDATE outbox o SET results = o.results
				|| coalesce((SELECT string_agg(r.packed, ''::bytea) FROM outbox_results r WHERE r.chunk_id = o.id), ''::bytea) || u.packed
			FROM unnest($1::text[], $2::bytea[]) AS u(id, packed) WHERE o.id = u.id`, folded, last)
		b.Queue(`DELETE FROM outbox_results WHERE chunk_id = ANY($1)`, folded)
	}
	if len(keys) > 0 {
		b.Queue(`UPDATE outbox o SET finals = o.finals + u.n, done = o.done + u.n,
			lease_until = CASE WHEN o.done + u.n >= o.size THEN `+finishedLeaseSQL+` ELSE o.lease_until END
			FROM unnest($1::text[], $2::int[]) AS u(id, n) WHERE o.id = u.id`, keys, counts)
	}
	if len(p.events) > 0 {
		queueEventSets(b, p.events)
	}
}

// queueEventSets adds the statement that stores sets to b.
func queueEventSets(b *pgx.Batch, sets map[string]*eventSet) {
	var ids, apps, bkts []string
	var ats []time.Time
	var counts []int32
	var packed [][]byte
	for _, s := range sets {
		id := pushgate.NewID()
		ids, apps, bkts = append(ids, id), append(apps, s.appID), append(bkts, s.bucketID)
		ats, counts, packed = append(ats, s.at.UTC()), append(counts, s.n), append(packed, s.packed)
	}
	b.Queue(`INSERT INTO webhook_events (message_id, kind, id, app_id, bucket_id, at, events, packed)
		SELECT u.id, '`+eventSetKind+`', u.id, u.app_id, u.bucket_id, u.at, u.n, u.packed
		FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::int[], $6::bytea[]) AS u(id, app_id, bucket_id, at, n, packed)`,
		ids, apps, bkts, ats, counts, packed)
}
