package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/messages"
)

// On both dialects an accepted chunk of messages (the ids one send task
// carries, which share a pushgate.IDGroup) is one row of the outbox table
// (PostgreSQL migrations 00008, 00009, 00015; SQLite 00014), keyed by
// that IDGroup. PostgreSQL rows written before ids kept 66 bits of their
// own are keyed by the first 28 characters of their ids instead
// (oldSchemeGroup): every look-up by id finds both kinds (see outboxKeys).
// A task's claim of the whole chunk leases the row; its final results are
// then appended to the row (results.go), and a retry's result inserts the
// message whole into messages. The row stays as the chunk's record once
// all its messages are final or moved. A send of 1000 receivers writes two
// rows, and their results two or three row versions, not a thousand rows.
// A claim that names part of a chunk, and a client report for a message of
// a chunk, move the chunk into messages first (with the results kept in
// it). On SQLite, messages written before its migration 00014 stay rows of
// messages, claimed and finished there.
//
// The algorithms (claim, the sweep, moving chunks into messages, finish)
// are written once, here and in results.go, over chunkTx: one
// transaction's statements, one implementation per dialect
// (outbox_postgres.go, outbox_sqlite.go).
//
// A chunk's receivers are packed into one bytea (BLOB): for each message,
// six strings (id, foreign id, token or user id
// (recipients.Receiver.Address), endpoint, p256dh, auth), each an unsigned
// varint length and the bytes.

// chunkTx is one transaction's statements on outbox rows and on the
// messages moved out of them.
type chunkTx interface {
	// leaseChunks leases the rows among keys that no worker holds, counting
	// a claim, and returns them.
	leaseChunks(ctx context.Context, keys []string, now, leaseUntil time.Time) ([]outboxRow, error)
	// inMessages returns which of ids are rows of messages.
	inMessages(ctx context.Context, ids []string) (map[string]bool, error)
	// claimMessages claims those of ids that are queued rows of messages.
	claimMessages(ctx context.Context, ids []string, now, leaseUntil time.Time) ([]*messages.Message, error)
	// takeChunks deletes the rows among keys, locked in id order (two
	// moves of the same chunks wait for each other instead of
	// deadlocking), and returns them with their interim results.
	takeChunks(ctx context.Context, keys []string) ([]outboxRow, error)
	// copyMessages writes msgs into messages as they are (status,
	// attempts, lease, result).
	copyMessages(ctx context.Context, msgs []*messages.Message) error
	// endLeases hands back the unfinished rows whose lease ended before
	// now (no lease, enqueued now) and returns them.
	endLeases(ctx context.Context, now time.Time) ([]outboxRow, error)
	// dueChunks returns the unfinished rows no worker holds that were due
	// before dueBefore, other than those named in except, whole rows,
	// oldest first, about limit messages (the last row may go past it).
	dueChunks(ctx context.Context, except []string, dueBefore time.Time, limit int) ([]outboxRow, error)
	// lockChunks locks the rows among keys and reads what finish needs of
	// them.
	lockChunks(ctx context.Context, keys []string) (map[string]*lockedChunk, error)
	// storeFinish writes what p planned (results.go).
	storeFinish(ctx context.Context, p *finishPlan) error
	// interim returns the interim results (results.go) of the chunks
	// among keys, by chunk key.
	interim(ctx context.Context, keys []string) (map[string][]byte, error)
}

// withRowInterim appends the interim results of rows to their results.
func withRowInterim(ctx context.Context, t chunkTx, rows []outboxRow) error {
	if len(rows) == 0 {
		return nil
	}
	keys := make([]string, len(rows))
	for i := range rows {
		keys[i] = rows[i].id
	}
	more, err := t.interim(ctx, keys)
	if err != nil {
		return err
	}
	attachInterim(rows, more)
	return nil
}

// attachInterim appends to each of rows its interim results in more.
func attachInterim(rows []outboxRow, more map[string][]byte) {
	for i := range rows {
		if b := more[rows[i].id]; len(b) > 0 {
			rows[i].results = append(rows[i].results, b...)
		}
	}
}

// scanInterim reads rows of (chunk key, packed results) into one value
// per chunk.
func scanInterim(rows rowScanner) (map[string][]byte, error) {
	out := map[string][]byte{}
	for rows.Next() {
		var key string
		var packed []byte
		if err := rows.Scan(&key, &packed); err != nil {
			return nil, err
		}
		out[key] = append(out[key], packed...)
	}
	return out, rows.Err()
}

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
			b = appendString(b, s)
		}
	}
	return b
}

var errBadOutbox = errors.New("outbox: corrupt receivers")

// unpackReceivers calls fn with the fields of each packed message.
func unpackReceivers(b blob, fn func(f *[outboxFields]string)) error {
	var f [outboxFields]string
	for len(b) > 0 {
		for i := range f {
			var ok bool
			if f[i], b, ok = b.str(); !ok {
				return errBadOutbox
			}
		}
		fn(&f)
	}
	return nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// A blob is a packed column (receivers, results, events) read back as one
// string: the strings read from it are substrings of it, so unpacking a
// chunk of 500 costs one allocation instead of one for every field of
// every message (they keep the whole column alive while any is).
type blob string

// str reads a string appendString wrote from the front of b.
func (b blob) str() (string, blob, bool) {
	n, rest, ok := b.uvarint()
	if !ok || uint64(len(rest)) < n {
		return "", "", false
	}
	return string(rest[:n]), rest[n:], true
}

// uvarint reads an unsigned varint (binary.AppendUvarint) from the front
// of b.
func (b blob) uvarint() (uint64, blob, bool) {
	var x uint64
	var shift uint
	for i := 0; i < len(b) && i < binary.MaxVarintLen64; i++ {
		c := b[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, "", false // overflows 64 bits
			}
			return x | uint64(c)<<shift, b[i+1:], true
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, "", false
}

// count returns how many records of strings strings each (and then
// uvarints unsigned varints) b holds, or -1 if b is not made of them.
func (b blob) count(strings, uvarints int) int {
	n := 0
	for len(b) > 0 {
		for range strings {
			var ok bool
			if _, b, ok = b.str(); !ok {
				return -1
			}
		}
		for range uvarints {
			var ok bool
			if _, b, ok = b.uvarint(); !ok {
				return -1
			}
		}
		n++
	}
	return n
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

// eachChunk calls fn with each chunk of msgs (chunkEnd).
func eachChunk(msgs []*messages.Message, fn func(chunk []*messages.Message) error) error {
	for start := 0; start < len(msgs); {
		end, err := chunkEnd(msgs, start)
		if err != nil {
			return err
		}
		if err := fn(msgs[start:end]); err != nil {
			return err
		}
		start = end
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
// chunk as it says (results.go), the others sending, leased, if a worker
// holds the chunk (the current claim is not an attempt yet), queued
// otherwise; every ended claim counts as an attempt.
func (o *outboxRow) messages() ([]*messages.Message, error) {
	finals, err := unpackResults(o.results)
	if err != nil {
		return nil, err
	}
	packed := blob(o.receivers)
	n := packed.count(outboxFields, 0)
	if n < 0 {
		return nil, errBadOutbox
	}
	// One allocation for the chunk's messages, not one each.
	slab := make([]messages.Message, 0, n)
	err = unpackReceivers(packed, func(f *[outboxFields]string) {
		slab = append(slab, messages.Message{ID: f[0], AppID: o.appID, BucketID: o.bucketID, ContextID: o.contextID, CredentialID: o.credentialID,
			Provider: o.provider, ForeignID: f[1], Status: messages.Queued, Attempts: o.claims,
			CreatedAt: o.createdAt.UTC(), UpdatedAt: o.createdAt.UTC(), EnqueuedAt: o.enqueuedAt.UTC()})
		m := &slab[len(slab)-1]
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
	})
	if err != nil {
		return nil, err
	}
	out := make([]*messages.Message, len(slab))
	for i := range slab {
		out[i] = &slab[i]
	}
	return out, nil
}

// pending returns the chunk's messages still to send: neither final in
// the chunk nor moved into messages.
func (o *outboxRow) pending(ctx context.Context, t chunkTx) ([]*messages.Message, error) {
	msgs, err := o.unmoved(ctx, t)
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
func (o *outboxRow) unmoved(ctx context.Context, t chunkTx) ([]*messages.Message, error) {
	msgs, err := o.messages()
	if err != nil || o.done == o.finals {
		return msgs, err
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	written, err := t.inMessages(ctx, ids)
	if err != nil {
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
// chunks gets none: claimChunks looks for the ids it found nowhere by
// their old keys, and allOutboxKeys serves callers that name ids at random.
// (A key of the other kind that matches by chance names a row without the
// id: claiming or moving it does no harm, see claimChunks.)
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

// rowScanner is what pgx.Rows and *sql.Rows share, for the readers below;
// the caller closes the rows.
type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanOutboxRows reads outbox rows (outboxReadColumns).
func scanOutboxRows(rows rowScanner) ([]outboxRow, error) {
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

// scanIDSet reads a column of ids into a set.
func scanIDSet(rows rowScanner) (map[string]bool, error) {
	set := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		set[id] = true
	}
	return set, rows.Err()
}
