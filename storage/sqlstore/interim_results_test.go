package sqlstore_test

import (
	"context"
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
		// Tried again with more (its answer was lost): a and b once.
		more := resultsFor(claimed[:4], at)
		more[2].Status, more[2].Reason, more[3].Status, more[3].Reason = messages.Failed, "unregistered", messages.Failed, "unregistered"
		if err := s.Finish(ctx, more); err != nil {
			t.Fatal(err)
		}
		checkStatuses(t, db, claimed, messages.Sent, messages.Sent, messages.Failed, messages.Failed, messages.Sending, messages.Sending)
		if n := interimRows(t, db); n != 2 {
			t.Fatalf("%d interim rows, want 2", n)
		}
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
