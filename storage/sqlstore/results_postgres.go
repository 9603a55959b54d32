package sqlstore

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/webhooks"
)

// On PostgreSQL a chunk's final results stay with its outbox row (issue
// 14, migration 00015): a worker that claimed the row whole appends the
// final results it learns (sent, failed, expired) to the row's results
// and counts them in finals and done, one UPDATE per chunk however many
// results, instead of writing a messages row per message. Their webhook
// events go, in the same transaction, into one webhook_events row per
// bucket (kind 'results', the events packed), instead of a row per
// message. A result that is not final (a retry), or of a message claimed
// from messages, goes through finishStatement as before: the message is
// written into messages and counted done on its chunk.
//
// Exactly once: the chunk rows are locked (FOR UPDATE) and read first, and
// a result whose message is final in its chunk already is dropped, so a
// Finish repeated after a lost answer stores neither result nor event
// twice. Once done reaches size the row is leased until finishedLease,
// so that neither a claim nor the sweep of this version or an older one
// takes it again; it stays as the chunk's record until its bucket goes.
//
// results packs each final result as: the message id, its status, reason
// and last error (each an unsigned varint length and the bytes), then its
// attempts and its time in Unix microseconds (unsigned varints). A later
// entry for one id (there is none: see above) would win.

// finishedLease is the lease of a chunk whose messages are all final or
// moved into messages.
const finishedLease = `'9999-12-31 00:00:00+00'::timestamptz`

// chunkResult is one final result kept in its chunk's row.
type chunkResult struct {
	status, reason, lastError string
	attempts                  int
	at                        time.Time
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// readString reads a string appendString wrote from the front of b.
func readString(b []byte) (string, []byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return "", nil, false
	}
	return string(b[w : w+int(n)]), b[w+int(n):], true
}

// readUvarint reads an unsigned varint from the front of b.
func readUvarint(b []byte) (uint64, []byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 {
		return 0, nil, false
	}
	return n, b[w:], true
}

func appendResult(b []byte, r *messages.Result) []byte {
	for _, s := range [...]string{r.Message.ID, string(r.Status), r.Reason, errorText(r.Error)} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(max(r.Attempts, 0)))
	return binary.AppendUvarint(b, uint64(r.At.UnixMicro()))
}

var errBadResults = errors.New("outbox: corrupt results")

// unpackResults returns the final results packed in b, by message id.
func unpackResults(b []byte) (map[string]chunkResult, error) {
	out := map[string]chunkResult{}
	for len(b) > 0 {
		var f [4]string
		ok := true
		for i := range f {
			if f[i], b, ok = readString(b); !ok {
				return nil, errBadResults
			}
		}
		var attempts, at uint64
		if attempts, b, ok = readUvarint(b); !ok {
			return nil, errBadResults
		}
		if at, b, ok = readUvarint(b); !ok {
			return nil, errBadResults
		}
		out[f[0]] = chunkResult{status: f[1], reason: f[2], lastError: f[3], attempts: int(attempts), at: time.UnixMicro(int64(at)).UTC()}
	}
	return out, nil
}

// apply gives m the result kept in its chunk.
func (c chunkResult) apply(m *messages.Message) {
	m.Status, m.Reason, m.LastError, m.Attempts = messages.Status(c.status), c.reason, c.lastError, c.attempts
	m.UpdatedAt, m.LeaseUntil = c.at, time.Time{}
	if m.Status == messages.Sent {
		m.SentAt = c.at
	}
}

// lockedChunk is a chunk row as finish found it, locked.
type lockedChunk struct {
	appID, bucketID string
	// open: a worker holds it and not all its messages are done.
	open        bool
	hasCallback bool
	finals      map[string]chunkResult
	// packed and n are the results this finish appends.
	packed []byte
	n      int32
}

// lockChunks locks the outbox rows among keys and reads what finish needs
// of them.
func lockChunks(ctx context.Context, tx pgx.Tx, keys []string) (map[string]*lockedChunk, error) {
	rows, err := tx.Query(ctx, `SELECT o.id, o.app_id, o.bucket_id, o.lease_until IS NOT NULL AND o.done < o.size, o.results, coalesce(b.has_callback, FALSE)
		FROM outbox o LEFT JOIN buckets b ON b.id = o.bucket_id WHERE o.id = ANY($1) ORDER BY o.id FOR UPDATE OF o`, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*lockedChunk{}
	for rows.Next() {
		var key string
		var packed []byte
		c := &lockedChunk{}
		if err := rows.Scan(&key, &c.appID, &c.bucketID, &c.open, &packed, &c.hasCallback); err != nil {
			return nil, err
		}
		if c.finals, err = unpackResults(packed); err != nil {
			return nil, err
		}
		out[key] = c
	}
	return out, rows.Err()
}

// finishPlan is what one finish writes: the results that go into
// messages (rest), the results appended to each chunk, and the event sets.
type finishPlan struct {
	rest   []messages.Result
	chunks map[string]*lockedChunk
	events map[string]*eventSet // by bucket
}

// plan sorts results into p: a final result of a message claimed with its
// open chunk is appended to the chunk (and its event to its bucket's set)
// unless the chunk has it already; a result of a message final in its
// chunk is dropped; the rest go into messages.
func (p *finishPlan) plan(results []messages.Result) {
	p.events = map[string]*eventSet{}
	for i := range results {
		r := &results[i]
		m := r.Message
		c := p.chunks[m.Chunk]
		if c == nil {
			c = p.chunks[pushgate.IDGroup(m.ID)]
		}
		if c != nil {
			if _, done := c.finals[m.ID]; done {
				continue
			}
		}
		if c == nil || !c.open || m.Chunk == "" || !r.Status.Final() {
			p.rest = append(p.rest, *r)
			continue
		}
		c.finals[m.ID] = chunkResult{status: string(r.Status)}
		c.packed, c.n = appendResult(c.packed, r), c.n+1
		if e, ok := resultEvent(r); ok && c.hasCallback {
			set := p.events[c.bucketID]
			if set == nil {
				set = &eventSet{appID: c.appID, bucketID: c.bucketID}
				p.events[c.bucketID] = set
			}
			set.add(m.ID, m.ForeignID, e, r.At)
		}
	}
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
			lease_until = CASE WHEN o.done + u.n >= o.size THEN `+finishedLease+` ELSE o.lease_until END
			FROM unnest($1::text[], $2::bytea[], $3::int[]) AS u(id, packed, n) WHERE o.id = u.id`, keys, packed, counts)
	}
	if len(p.events) > 0 {
		queueEventSets(b, p.events)
	}
}

// finishChunks is postgresMessages.finish: it locks the chunks, plans, and
// writes everything in one round trip.
func finishChunks(ctx context.Context, tx pgx.Tx, results []messages.Result) error {
	keys := make([]string, 0, 2)
	for i := range results {
		m := results[i].Message
		if m.Chunk != "" {
			keys = append(keys, m.Chunk)
		}
		keys = append(keys, pushgate.IDGroup(m.ID))
	}
	chunks, err := lockChunks(ctx, tx, uniqueKeys(keys))
	if err != nil {
		return err
	}
	p := &finishPlan{chunks: chunks}
	p.plan(results)
	b := &pgx.Batch{}
	if len(p.rest) > 0 {
		b.Queue(finishStatement, newFinishRows(p.rest).args()...)
	}
	p.queue(b)
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}

// eventSet is the result events of one finish for one bucket, packed as
// one webhook_events row holds them (see webhook_sets.go).
type eventSet struct {
	appID, bucketID string
	at              time.Time
	n               int32
	packed          []byte
}

func (s *eventSet) add(messageID, foreignID string, e webhooks.Event, at time.Time) {
	if s.n == 0 || at.Before(s.at) {
		s.at = at
	}
	s.n++
	s.packed = packEvent(s.packed, webhooks.Event{MessageID: messageID, ForeignID: foreignID, Kind: e.Kind, Reason: e.Reason, Action: e.Action, At: at})
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
