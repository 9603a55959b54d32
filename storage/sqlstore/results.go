package sqlstore

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/webhooks"
)

// A chunk's final results stay with its outbox row (issue 14; PostgreSQL
// migrations 00015 and 00020, SQLite 00014 and 00018): a worker that
// claimed the row whole stores the final results it learns (sent, failed,
// expired) and counts them in the row's finals and done, one statement per
// chunk however many results, instead of writing a messages row per
// message. While the chunk is unfinished each write of its results is a
// row of outbox_results of its own (interim results, appended only: a
// worker writes every few tens of milliseconds, and rewriting the chunk's
// results column each time cost the database more than the sends); the
// write that finishes the chunk folds them into the row's results column
// and deletes them. A chunk's results are its column and its interim rows
// together, read after the row is locked (or, by readers that lock
// nothing, before the row: getOutbox). Their webhook events go, in the
// same transaction, into one webhook_events row per bucket (kind
// 'results', the events packed), instead of a row per message. A result
// that is not final (a retry), or of a message claimed from messages, goes
// through finishStatement as before: the message is written into messages
// and counted done on its chunk.
//
// Exactly once: the chunk rows are locked (FOR UPDATE on PostgreSQL; a
// SQLite transaction holds the one write lock from its start) and their
// results read first, and a result whose message is final in its chunk
// already is dropped, so a Finish repeated after a lost answer stores
// neither result nor event twice. Once done reaches size the row is leased
// until finishedLease, so that neither a claim nor the sweep of this
// version or an older one takes it again; it stays as the chunk's record
// until its bucket goes.
//
// Results are packed, in the column as in interim rows, as: the message
// id, its status, reason and last error (each an unsigned varint length
// and the bytes), then its attempts and its time in Unix microseconds
// (unsigned varints). A later entry for one id (there is none: see above)
// would win.

// finishedLease is the lease of a chunk whose messages are all final or
// moved into messages: finishedLeaseSQL in PostgreSQL's statements, a
// parameter in SQLite's (so that it is written as the driver writes every
// time, and compares with them as text).
const finishedLeaseSQL = `'9999-12-31 00:00:00+00'::timestamptz`

var finishedLease = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// chunkResult is one final result kept in its chunk's row.
type chunkResult struct {
	status, reason, lastError string
	attempts                  int
	at                        time.Time
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
	done, size  int
	// stored are the chunk's results: its column's, then its interim rows'.
	stored []byte
	// final holds the ids of the messages of this finish that are final in
	// the chunk: before it (found in stored) or by an earlier result of it.
	final map[string]bool
	// packed and n are the results this finish appends.
	packed []byte
	n      int32
}

// finishes reports whether the results this finish appends, with moved
// more moved into messages, make every message of the chunk done.
func (c *lockedChunk) finishes(moved int) bool {
	return c.done+int(c.n)+moved >= c.size
}

// scanLockedChunks reads the rows of chunkTx.lockChunks's statement: key,
// app, bucket, open, results, whether the bucket has a callback, done,
// size.
func scanLockedChunks(rows rowScanner) (map[string]*lockedChunk, error) {
	out := map[string]*lockedChunk{}
	for rows.Next() {
		c := &lockedChunk{}
		var key string
		if err := rows.Scan(&key, &c.appID, &c.bucketID, &c.open, &c.stored, &c.hasCallback, &c.done, &c.size); err != nil {
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

// markFinal notes in each chunk which messages of results are final in it
// already. It looks for those ids only, without unpacking the results
// kept: a chunk's are read at every write of its worker.
func (p *finishPlan) markFinal(results []messages.Result) error {
	for i := range results {
		if _, c := p.chunkOf(results[i].Message); c != nil {
			if c.final == nil {
				c.final = make(map[string]bool, len(results))
			}
			c.final[results[i].Message.ID] = false
		}
	}
	for _, c := range p.chunks {
		if len(c.stored) == 0 || len(c.final) == 0 {
			continue
		}
		err := eachResultID(c.stored, func(id []byte) {
			if _, ok := c.final[string(id)]; ok {
				c.final[string(id)] = true
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// eachResultID calls fn with the id of each result packed in b.
func eachResultID(b []byte, fn func(id []byte)) error {
	for len(b) > 0 {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return errBadResults
		}
		fn(b[w : w+int(n)])
		b = b[w+int(n):]
		for range 3 { // status, reason, last error
			var ok bool
			if _, b, ok = readString(b); !ok {
				return errBadResults
			}
		}
		for range 2 { // attempts, time
			var ok bool
			if _, b, ok = readUvarint(b); !ok {
				return errBadResults
			}
		}
	}
	return nil
}

// plan sorts results into p: a final result of a message claimed with its
// open chunk is appended to the chunk (and its event to its bucket's set)
// unless the chunk has it already; a result of a message final in its
// chunk is dropped; the rest go into messages.
func (p *finishPlan) plan(results []messages.Result) error {
	if err := p.markFinal(results); err != nil {
		return err
	}
	p.events = map[string]*eventSet{}
	for i := range results {
		r := &results[i]
		m := r.Message
		_, c := p.chunkOf(m)
		if c != nil && c.final[m.ID] {
			continue
		}
		if c == nil || !c.open || m.Chunk == "" || !r.Status.Final() {
			p.rest = append(p.rest, *r)
			continue
		}
		c.final[m.ID] = true
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
	return nil
}

// chunkOf returns the key and the row of m's chunk among p's, if any: the
// one m was claimed from, or else its IDGroup's.
func (p *finishPlan) chunkOf(m *messages.Message) (string, *lockedChunk) {
	if c := p.chunks[m.Chunk]; c != nil {
		return m.Chunk, c
	}
	key := pushgate.IDGroup(m.ID)
	return key, p.chunks[key]
}

// finishChunks stores results (MessageStore.Finish): it locks the chunks,
// plans, and has t write the plan.
func finishChunks(ctx context.Context, t chunkTx, results []messages.Result) error {
	keys := make([]string, 0, 2)
	for i := range results {
		m := results[i].Message
		if m.Chunk != "" {
			keys = append(keys, m.Chunk)
		}
		keys = append(keys, pushgate.IDGroup(m.ID))
	}
	keys = uniqueKeys(keys)
	chunks, err := t.lockChunks(ctx, keys)
	if err != nil {
		return err
	}
	if len(chunks) > 0 { // their interim results, read once they are locked
		more, err := t.interim(ctx, keys)
		if err != nil {
			return err
		}
		for key, b := range more {
			if c := chunks[key]; c != nil {
				c.stored = append(c.stored, b...)
			}
		}
	}
	p := &finishPlan{chunks: chunks}
	if err := p.plan(results); err != nil {
		return err
	}
	return t.storeFinish(ctx, p)
}

// finished is the results column of a chunk this finish finishes: what it
// had, its interim rows' and this finish's, in one value.
func (c *lockedChunk) finished() []byte {
	return append(append(make([]byte, 0, len(c.stored)+len(c.packed)), c.stored...), c.packed...)
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
