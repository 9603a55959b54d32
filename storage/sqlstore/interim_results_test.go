package sqlstore_test

import (
	"context"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

// interimRows counts the rows of interim results kept for unfinished
// chunks.
func interimRows(t *testing.T, db *sqlstore.DB) (n int) {
	t.Helper()
	if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM outbox_results`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// claimSorted inserts n messages as one chunk and claims them all, sorted
// by foreign id ("a", "b", ...).
func claimSorted(t *testing.T, db *sqlstore.DB, n int, now time.Time) ([]*messages.Message, []string, string) {
	t.Helper()
	ctx := context.Background()
	appID, bucketID, credID, ctxID := newBucket(t, db)
	msgs := inChunks(newMessages(n, appID, bucketID, credID, ctxID, now), n)
	for i, m := range msgs {
		m.ForeignID = string(rune('a' + i))
		m.Receiver.ForeignID = m.ForeignID
	}
	if err := db.Messages().Insert(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	claimed, err := db.Messages().Claim(ctx, ids(msgs), now, now.Add(time.Minute))
	if err != nil || len(claimed) != n {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	sort.Slice(claimed, func(i, j int) bool { return claimed[i].ForeignID < claimed[j].ForeignID })
	return claimed, ids(msgs), ctxID
}

// checkStatuses checks Get's status of each message.
func checkStatuses(t *testing.T, db *sqlstore.DB, msgs []*messages.Message, want ...messages.Status) {
	t.Helper()
	for i, m := range msgs {
		got, err := db.Messages().Get(context.Background(), m.AppID, m.BucketID, m.ID)
		if err != nil || got.Status != want[i] {
			t.Fatalf("message %s: %+v, %v; want %s", m.ForeignID, got, err, want[i])
		}
	}
}

// checkBacklog checks that the backlog counts want unfinished messages.
func checkBacklog(t *testing.T, db *sqlstore.DB, want int) {
	t.Helper()
	b, err := db.Messages().Backlog(context.Background())
	if err != nil || b.Unfinished != want {
		t.Fatalf("backlog %+v, %v; want %d unfinished", b, err, want)
	}
}

// TestWritesOfResultsLeaveIndexesAlone: the columns that each write of a
// chunk's results changes (done, finals, results) are in no index of
// outbox, its key, columns or predicate, so that PostgreSQL updates the
// row in place (HOT) instead of adding an entry to every index each time.
func TestWritesOfResultsLeaveIndexesAlone(t *testing.T) {
	u, ok := testenv.PostgresURL(t)
	if !ok {
		t.Skip("PostgreSQL only: PUSHGATE_TEST_DATABASE_URL is not set")
	}
	db := testenv.OpenDB(t, u)
	rows, err := db.QueryContext(context.Background(), `SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid)
		FROM pg_index WHERE indrelid = 'outbox'::regclass`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			t.Fatal(err)
		}
		n++
		for _, col := range []string{"done", "finals", "results"} {
			if regexp.MustCompile(`\b` + col + `\b`).MatchString(def) {
				t.Errorf("index %s names %s: %s", name, col, def)
			}
		}
	}
	if err := rows.Err(); err != nil || n == 0 {
		t.Fatalf("%d indexes of outbox, %v", n, err)
	}
}

// TestInterimResultsOfAChunk: a worker that stores a chunk's results in
// several writes (interim rows until the chunk is finished) has each
// answered by Get as it lands, stored once when a write is repeated with
// more results, not sent again after the worker dies, and folded into the
// chunk when the last lands: one event per message, no rows left.
func TestInterimResultsOfAChunk(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		now := time.Now().UTC().Truncate(time.Millisecond)
		claimed, all, _ := claimSorted(t, db, 6, now)
		at := now.Add(time.Second)
		if err := s.Finish(ctx, resultsFor(claimed[:2], at)); err != nil {
			t.Fatal(err)
		}
		// Tried again with more (its answer was lost, so the caller marks
		// them a rewrite): a and b once.
		more := resultsFor(claimed[:4], at)
		for i := range more {
			more[i].Rewrite = true
		}
		more[2].Status, more[2].Reason, more[3].Status, more[3].Reason = messages.Failed, "unregistered", messages.Failed, "unregistered"
		if err := s.Finish(ctx, more); err != nil {
			t.Fatal(err)
		}
		checkStatuses(t, db, claimed, messages.Sent, messages.Sent, messages.Failed, messages.Failed, messages.Sending, messages.Sending)
		if n := interimRows(t, db); n != 2 {
			t.Fatalf("%d interim rows, want 2", n)
		}
		checkBacklog(t, db, 2)
		// The worker dies: the sweep hands out, and a claim takes, e and f only.
		later := now.Add(2 * time.Minute)
		refs, err := s.Stale(ctx, later, later, 100)
		if err != nil || len(refs) != 2 {
			t.Fatalf("Stale = %+v, %v; want e and f", refs, err)
		}
		again, err := s.Claim(ctx, all, later, later.Add(time.Minute))
		if err != nil || len(again) != 2 {
			t.Fatalf("claim again: %+v, %v; want e and f", again, err)
		}
		if err := s.Finish(ctx, resultsFor(again, later)); err != nil {
			t.Fatal(err)
		}
		checkStatuses(t, db, claimed, messages.Sent, messages.Sent, messages.Failed, messages.Failed, messages.Sent, messages.Sent)
		if n := interimRows(t, db); n != 0 {
			t.Fatalf("%d interim rows left once the chunk is finished", n)
		}
		checkBacklog(t, db, 0)
		events := eventKinds(t, batchAll(t, db, claimed[0].AppID, claimed[0].BucketID, 1000))
		if len(events) != 6 {
			t.Fatalf("%d events, want 6: %+v", len(events), events)
		}
		if refs, err := s.Stale(ctx, later.Add(time.Hour), later.Add(time.Hour), 100); err != nil || len(refs) != 0 {
			t.Fatalf("Stale once all are final = %+v, %v", refs, err)
		}
	})
}

// TestInterimResultsMoveWithTheChunk: a client report on a message of a
// chunk with interim results moves the chunk into messages with them; the
// worker's later results land on the moved messages, once.
func TestInterimResultsMoveWithTheChunk(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		now := time.Now().UTC().Truncate(time.Millisecond)
		claimed, _, ctxID := claimSorted(t, db, 3, now)
		at := now.Add(time.Second)
		if err := s.Finish(ctx, resultsFor(claimed[:2], at)); err != nil {
			t.Fatal(err)
		}
		found, err := db.Webhooks().RecordClientEvents(ctx, []webhooks.ClientEvent{{EventID: pushgate.NewID(), ContextID: ctxID, MessageID: claimed[0].ID,
			Kind: webhooks.Delivered, At: at.Add(time.Second)}})
		if err != nil || !found[0] {
			t.Fatalf("report: %v, %v", found, err)
		}
		if n := interimRows(t, db); n != 0 {
			t.Fatalf("%d interim rows left after the chunk moved", n)
		}
		checkStatuses(t, db, claimed, messages.Sent, messages.Sent, messages.Sending)
		if err := s.Finish(ctx, resultsFor(claimed, at.Add(2*time.Second))); err != nil {
			t.Fatal(err)
		}
		checkStatuses(t, db, claimed, messages.Sent, messages.Sent, messages.Sent)
		if got, err := s.Get(ctx, claimed[0].AppID, claimed[0].BucketID, claimed[0].ID); err != nil || got.DeliveredAt.IsZero() || !got.SentAt.Equal(at) {
			t.Fatalf("reported message: %+v, %v", got, err)
		}
		events := eventKinds(t, batchAll(t, db, claimed[0].AppID, claimed[0].BucketID, 1000))
		if len(events) != 4 { // three sent, one delivered
			t.Fatalf("%d events, want 4: %+v", len(events), events)
		}
		if n := countMessages(t, db); n != 3 {
			t.Fatalf("%d messages stored, want 3", n)
		}
	})
}

// chunkCounts returns the done and finals of the outbox row of the chunk
// holding message id.
func chunkCounts(t *testing.T, db *sqlstore.DB, id string) (done, finals int) {
	t.Helper()
	q := `SELECT done, finals FROM outbox WHERE id = $1`
	if db.Dialect == sqlstore.SQLite {
		q = `SELECT done, finals FROM outbox WHERE id = ?`
	}
	if err := db.QueryRowContext(context.Background(), q, pushgate.IDGroup(id)).Scan(&done, &finals); err != nil {
		t.Fatal(err)
	}
	return done, finals
}

// TestRewriteAfterCommittedWrite (issue 18): a write whose answer was lost
// after its commit is tried again as a rewrite, alone and then with the
// chunk's last results (the write that folds the interim rows): nothing is
// stored or counted twice, no event twice.
func TestRewriteAfterCommittedWrite(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		now := time.Now().UTC().Truncate(time.Millisecond)
		claimed, _, _ := claimSorted(t, db, 5, now)
		at := now.Add(time.Second)
		first := resultsFor(claimed[:2], at)
		if err := s.Finish(ctx, first); err != nil {
			t.Fatal(err)
		}
		again := resultsFor(claimed[:2], at)
		for i := range again {
			again[i].Rewrite = true
		}
		if err := s.Finish(ctx, again); err != nil {
			t.Fatal(err)
		}
		if done, finals := chunkCounts(t, db, claimed[0].ID); done != 2 || finals != 2 {
			t.Fatalf("after a rewrite: done %d, finals %d; want 2, 2", done, finals)
		}
		if err := s.Finish(ctx, resultsFor(claimed[2:3], at)); err != nil { // a first write among rewrites
			t.Fatal(err)
		}
		last := resultsFor(claimed, at) // c's answer was lost too, with the rest
		for i := range last[:3] {
			last[i].Rewrite = true
		}
		if err := s.Finish(ctx, last); err != nil {
			t.Fatal(err)
		}
		checkStatuses(t, db, claimed, messages.Sent, messages.Sent, messages.Sent, messages.Sent, messages.Sent)
		if done, finals := chunkCounts(t, db, claimed[0].ID); done != 5 || finals != 5 {
			t.Fatalf("finished: done %d, finals %d; want 5, 5", done, finals)
		}
		if n := interimRows(t, db); n != 0 {
			t.Fatalf("%d interim rows left once the chunk is finished", n)
		}
		if events := eventKinds(t, batchAll(t, db, claimed[0].AppID, claimed[0].BucketID, 1000)); len(events) != 5 {
			t.Fatalf("%d events, want 5: %+v", len(events), events)
		}
	})
}

// TestStaleClaimWriterDropped (issue 18): a worker whose claim ended and
// whose chunk another worker claimed since writes results of messages that
// one claimed too, before it and after it finished: the later claim's
// results are stored once, counted once, with one event each, and the
// stale ones never.
func TestStaleClaimWriterDropped(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		now := time.Now().UTC().Truncate(time.Millisecond)
		claimed, all, _ := claimSorted(t, db, 4, now)
		at := now.Add(time.Second)
		if err := s.Finish(ctx, resultsFor(claimed[:1], at)); err != nil {
			t.Fatal(err)
		}
		later := now.Add(2 * time.Minute)
		if refs, err := s.Stale(ctx, later, later, 100); err != nil || len(refs) != 3 {
			t.Fatalf("Stale = %+v, %v; want b, c and d", refs, err)
		}
		second, err := s.Claim(ctx, all, later, later.Add(time.Minute))
		if err != nil || len(second) != 3 {
			t.Fatalf("claim again: %+v, %v; want b, c and d", second, err)
		}
		// The first worker, slow, writes b and c while the second holds them.
		stale := resultsFor(claimed[1:3], at)
		stale[0].Status, stale[0].Reason = messages.Failed, "unregistered"
		if err := s.Finish(ctx, stale); err != nil {
			t.Fatal(err)
		}
		checkStatuses(t, db, claimed, messages.Sent, messages.Sending, messages.Sending, messages.Sending)
		if err := s.Finish(ctx, resultsFor(second, later)); err != nil {
			t.Fatal(err)
		}
		// And d, once the chunk is finished.
		if err := s.Finish(ctx, resultsFor(claimed[3:], at)); err != nil {
			t.Fatal(err)
		}
		checkStatuses(t, db, claimed, messages.Sent, messages.Sent, messages.Sent, messages.Sent)
		if done, finals := chunkCounts(t, db, claimed[0].ID); done != 4 || finals != 4 {
			t.Fatalf("done %d, finals %d; want 4, 4", done, finals)
		}
		events := eventKinds(t, batchAll(t, db, claimed[0].AppID, claimed[0].BucketID, 1000))
		if len(events) != 4 {
			t.Fatalf("%d events, want 4: %+v", len(events), events)
		}
		for _, m := range claimed[1:] {
			if e := events[m.ID+"/sent"]; !e.At.Equal(later) {
				t.Errorf("message %s: event %+v, want the later claim's, at %v", m.ForeignID, e, later)
			}
		}
	})
}
