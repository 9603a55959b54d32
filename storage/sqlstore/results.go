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
// SQLite transaction holds the one write lock from its start) and, where
// some of the results may be there already (a Rewrite, a chunk no longer
// open: lookUps), their results read first, and a result whose message
// is final in its chunk already is dropped, so a Finish repeated after a
// lost answer stores neither result nor event twice; the results of a
// claim another has overtaken are dropped (staleClaim). Once done reaches
// size the row is leased until finishedLease, so that neither a claim nor the sweep of this
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
func unpackResults(packed []byte) (map[string]chunkResult, error) {
	out := map[string]chunkResult{}
	for b := blob(packed); len(b) > 0; {
		var f [4]string
		ok := true
		for i := range f {
			if f[i], b, ok = b.str(); !ok {
				return nil, errBadResults
			}
		}
		var attempts, at uint64
		if attempts, b, ok = b.uvarint(); !ok {
			return nil, errBadResults
		}
		if at, b, ok = b.uvarint(); !ok {
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
	// claims counts the claims of the chunk: a worker that claimed it
	// holds the latest claim if its messages' Attempts are claims-1.
	claims int
	// stored are the chunk's results: its column's, then, if lookedUp,
	// its interim rows'.
	stored []byte
	// lookedUp: the chunk's interim rows were read into stored (see
	// lookUps).
	lookedUp bool
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
// size, claims.
func scanLockedChunks(rows rowScanner) (map[string]*lockedChunk, error) {
	out := map[string]*lockedChunk{}
	for rows.Next() {
		c := &lockedChunk{}
		var key string
		if err := rows.Scan(&key, &c.appID, &c.bucketID, &c.open, &c.stored, &c.hasCallback, &c.done, &c.size, &c.claims); err != nil {
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
			n, w := binary.Uvarint(b)
			if w <= 0 || uint64(len(b)-w) < n {
				return errBadResults
			}
			b = b[w+int(n):]
		}
		for range 2 { // attempts, time
			_, w := binary.Uvarint(b)
			if w <= 0 {
				return errBadResults
			}
			b = b[w:]
		}
	}
	return nil
}

// packedGuess is about what a result or an event takes packed (a 28-byte
// id, a kind, a time), to size their buffers once rather than grow them.
const packedGuess = 48

// plan sorts results into p: a final result of a message claimed with its
// open chunk is appended to the chunk (and its event to its bucket's set)
// unless the chunk has it already; a result of a message final in its
// chunk is dropped, and so is one of a stale claim (staleClaim); the rest
// go into messages.
func (p *finishPlan) plan(results []messages.Result) error {
	if err := p.markFinal(results); err != nil {
		return err
	}
	p.events = map[string]*eventSet{}
	for i := range results {
		r := &results[i]
		m := r.Message
		key, c := p.chunkOf(m)
		if c != nil && (c.final[m.ID] || c.staleClaim(key, m)) {
			continue
		}
		if c == nil || !c.open || m.Chunk == "" || !r.Status.Final() {
			p.rest = append(p.rest, *r)
			continue
		}
		if c.packed == nil { // sized once for the chunk's results here
			c.packed = make([]byte, 0, len(c.final)*packedGuess)
		}
		c.final[m.ID] = true
		c.packed, c.n = appendResult(c.packed, r), c.n+1
		if e, ok := resultEvent(r); ok && c.hasCallback {
			set := p.events[c.bucketID]
			if set == nil {
				set = &eventSet{appID: c.appID, bucketID: c.bucketID, packed: make([]byte, 0, (len(results)-i)*packedGuess)}
				p.events[c.bucketID] = set
			}
			set.add(m.ID, m.ForeignID, e, r.At)
		}
	}
	return nil
}

// staleClaim reports whether m was claimed with the chunk key, c, under a
// claim that is not the latest while another worker holds it. That
// worker claimed every message of the chunk not final then, and stores
// their results itself, on its fast path (lookUps) that looks for none
// stored before: a stale claim's results are dropped, lest a message be
// counted, and its event sent, twice. The message stays sending under
// the later claim, which the sweep hands out again if it ends.
func (c *lockedChunk) staleClaim(key string, m *messages.Message) bool {
	return c.open && m.Chunk == key && m.Attempts+1 != c.claims
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
	p := &finishPlan{chunks: chunks}
	if err := p.lookUp(ctx, t, results); err != nil {
		return err
	}
	if err := p.plan(results); err != nil {
		return err
	}
	return t.storeFinish(ctx, p)
}

// lookUp reads, once the chunks are locked, the interim results of those
// that may hold some of results already (lookUps).
func (p *finishPlan) lookUp(ctx context.Context, t chunkTx, results []messages.Result) error {
	keys := p.lookUps(results)
	if len(keys) == 0 {
		return nil
	}
	more, err := t.interim(ctx, keys)
	if err != nil {
		return err
	}
	for _, key := range keys {
		c := p.chunks[key]
		c.stored, c.lookedUp = append(c.stored, more[key]...), true
	}
	return nil
}

// lookUps returns the keys of the chunks whose interim results this
// finish must read to drop what they hold already (issue 18). Most
// writes read none: a write to an open chunk by the worker holding its
// latest claim, on the first try, brings only results the chunk cannot
// have, since no other worker wrote them (none claimed it since, and a
// worker whose claim was overtaken has its results dropped: staleClaim)
// and no earlier write of this one did (one whose answer was lost is
// handed again as a Rewrite). Reading them at every write cost a read of all the
// chunk's earlier writes, so the more (and shorter) a chunk's writes, the
// more each cost. The chunks read are those not open (the results go
// into messages, if anywhere: a lease that ended, a finished chunk), and
// those with a result written again (Result.Rewrite: the failed write may
// have been stored) or of a message not claimed with them (claimed from
// messages).
func (p *finishPlan) lookUps(results []messages.Result) []string {
	read := map[string]bool{}
	for key, c := range p.chunks {
		if !c.open {
			read[key] = true
		}
	}
	for i := range results {
		r := &results[i]
		key, c := p.chunkOf(r.Message)
		if c != nil && !c.staleClaim(key, r.Message) && (r.Rewrite || r.Message.Chunk != key) {
			read[key] = true
		}
	}
	keys := make([]string, 0, len(read))
	for key := range read {
		keys = append(keys, key)
	}
	return keys
}

// finished is the results column of a chunk this finish finishes: what it
// had, its interim rows' and this finish's, in one value (SQLite's fold;
// stored must hold the interim rows: lookedUp).
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
