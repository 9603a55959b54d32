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
// of them.
func (t pgChunkTx) lockChunks(ctx context.Context, keys []string) (map[string]*lockedChunk, error) {
	rows, err := t.tx.Query(ctx, `SELECT o.id, o.app_id, o.bucket_id, o.lease_until IS NOT NULL AND o.done < o.size, o.results, coalesce(b.has_callback, FALSE)
		FROM outbox o LEFT JOIN buckets b ON b.id = o.bucket_id WHERE o.id = ANY($1) ORDER BY o.id FOR UPDATE OF o`, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanLockedChunks(rows)
}

// storeFinish writes p in one round trip: the results that go into
// messages with finishStatement, the chunks' and the event sets with
// queue's statements.
func (t pgChunkTx) storeFinish(ctx context.Context, p *finishPlan) error {
	b := &pgx.Batch{}
	if len(p.rest) > 0 {
		b.Queue(finishStatement, newFinishRows(p.rest).args()...)
	}
	p.queue(b)
	if b.Len() == 0 {
		return nil
	}
	return t.tx.SendBatch(ctx, b).Close()
}

// queue adds the statements that append the chunks' results and store the
// event sets to b.
func (p *finishPlan) queue(b *pgx.Batch) {
	var keys []string
	var packed [][]byte
	var counts []int32
	for key, c := range p.chunks {
		if c.n > 0 {
			keys, packed, counts = append(keys, key), append(packed, c.packed), append(counts, c.n)
		}
	}
	if len(keys) > 0 {
		b.Queue(`UPDATE outbox o SET results = o.results || u.packed, finals = o.finals + u.n, done = o.done + u.n,
			lease_until = CASE WHEN o.done + u.n >= o.size THEN `+finishedLeaseSQL+` ELSE o.lease_until END
			FROM unnest($1::text[], $2::bytea[], $3::int[]) AS u(id, packed, n) WHERE o.id = u.id`, keys, packed, counts)
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
