package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

func webhookEvents(appID, bucketID string, n int, kind webhooks.Kind, start time.Time) []webhooks.Event {
	out := make([]webhooks.Event, n)
	for i := range out {
		out[i] = webhooks.Event{ID: pushgate.NewID(), AppID: appID, BucketID: bucketID, MessageID: pushgate.NewID(), ForeignID: fmt.Sprint("f", i),
			Kind: kind, At: start.Add(time.Duration(i) * time.Millisecond)}
	}
	return out
}

// countEvents counts the stored webhook events of a message's kind.
func countEvents(t testing.TB, db *sqlstore.DB, messageID string, kind webhooks.Kind) (n int) {
	t.Helper()
	q := fmt.Sprintf(`SELECT count(*) FROM webhook_events WHERE message_id = '%s' AND kind = '%s'`, messageID, kind)
	if err := db.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWebhookStore is the contract of webhooks.Store, run on every dialect.
func TestWebhookStore(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Webhooks()
		appID, bucketID, _, ctxID := newBucket(t, db)
		now := time.Now().UTC().Truncate(time.Millisecond)

		evs := webhookEvents(appID, bucketID, 10, webhooks.Sent, now)
		evs[3].Kind, evs[3].Reason = webhooks.Failed, "unregistered"
		clicked := webhooks.Event{ID: pushgate.NewID(), AppID: appID, BucketID: bucketID, MessageID: evs[1].MessageID, ForeignID: "f1",
			Kind: webhooks.Clicked, Action: "open", At: now.Add(time.Second)}
		again := clicked
		again.ID, again.Action = pushgate.NewID(), "second click"
		// Stored the ways the server stores them: results (by Finish) and
		// client reports; repeats of a (message, kind) are skipped.
		if err := testenv.StoreEvents(ctx, db, ctxID, now, append(evs, clicked, again, evs[0])...); err != nil {
			t.Fatal(err)
		}
		if err := testenv.StoreEvents(ctx, db, ctxID, now, again); err != nil {
			t.Fatal(err)
		}

		pending, err := s.PendingBuckets(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != 1 || pending[0].BucketID != bucketID || pending[0].AppID != appID || pending[0].Events != 11 || !pending[0].Oldest.Equal(now) {
			t.Fatalf("PendingBuckets = %+v, want 11 events of %s, oldest at %v", pending, bucketID, now)
		}

		var batchIDs []string
		for i, want := range []int{4, 4, 3, 0} {
			id := pushgate.NewID()
			n, err := s.CreateBatch(ctx, webhooks.NewBatch{ID: id, AppID: appID, BucketID: bucketID, Max: 4, CreatedAt: now.Add(time.Duration(i) * time.Second)})
			if err != nil || n != want {
				t.Fatalf("CreateBatch #%d = %d, %v; want %d", i, n, err, want)
			}
			if n > 0 {
				batchIDs = append(batchIDs, id)
			}
		}
		first, err := s.BatchEvents(ctx, batchIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(first) != 4 {
			t.Fatalf("first batch has %d events", len(first))
		}
		for i, e := range first {
			if e.MessageID != evs[i].MessageID || e.Kind != evs[i].Kind || !e.At.Equal(evs[i].At) || e.ForeignID != evs[i].ForeignID || e.AppID != appID || e.BucketID != bucketID {
				t.Fatalf("first batch event %d = %+v, want the %d-th oldest %+v", i, e, i, evs[i])
			}
		}
		if first[3].Reason != "unregistered" {
			t.Fatalf("failed event lost its reason: %+v", first[3])
		}
		last, _ := s.BatchEvents(ctx, batchIDs[2])
		if len(last) != 3 || last[2].Kind != webhooks.Clicked || last[2].Action != "open" {
			t.Fatalf("last batch = %+v, want the first click (action open) last", last)
		}
		if pending, _ := s.PendingBuckets(ctx, 10); len(pending) != 0 {
			t.Fatalf("PendingBuckets after batching = %+v", pending)
		}

		// Claims: oldest due first, leased, and due again after the lease.
		lease := now.Add(time.Minute)
		claimed, err := s.ClaimBatches(ctx, now.Add(10*time.Second), lease, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(claimed) != 2 || !sameIDs(claimed, batchIDs[:2]) {
			t.Fatalf("ClaimBatches = %v, want the two oldest %v", batchIDsOf(claimed), batchIDs[:2])
		}
		for _, b := range claimed {
			if b.Attempts != 1 || !b.NextAttemptAt.Equal(lease) || b.Status != webhooks.StatusPending || b.Events != 4 || b.AppID != appID {
				t.Fatalf("claimed batch = %+v", b)
			}
		}
		if more, _ := s.ClaimBatches(ctx, now.Add(10*time.Second), lease, 10); len(more) != 1 || more[0].ID != batchIDs[2] {
			t.Fatalf("second claim = %v, want only %s", batchIDsOf(more), batchIDs[2])
		}
		if none, _ := s.ClaimBatches(ctx, now.Add(10*time.Second), lease, 10); len(none) != 0 {
			t.Fatalf("leased batches claimed again: %v", batchIDsOf(none))
		}
		reclaimed, err := s.ClaimBatches(ctx, lease, lease.Add(time.Minute), 10)
		if err != nil || len(reclaimed) != 3 {
			t.Fatalf("claims after the lease = %v, %v; want all 3", batchIDsOf(reclaimed), err)
		}

		b0 := batchIDs[0]
		// An outcome for an older claim changes nothing.
		if err := s.FinishAttempt(ctx, webhooks.Outcome{BatchID: b0, Attempt: 1, Status: webhooks.StatusDelivered, StatusCode: 200, At: lease}); err != nil {
			t.Fatal(err)
		}
		if got := getBatch(t, s, appID, bucketID, b0); got.Status != webhooks.StatusPending {
			t.Fatalf("a stale outcome was recorded: %+v", got)
		}
		doneAt := lease.Add(time.Second)
		if err := s.FinishAttempt(ctx, webhooks.Outcome{BatchID: b0, Attempt: 2, Status: webhooks.StatusDelivered, StatusCode: 204, At: doneAt}); err != nil {
			t.Fatal(err)
		}
		got := getBatch(t, s, appID, bucketID, b0)
		if got.Status != webhooks.StatusDelivered || got.Attempts != 2 || got.LastStatusCode != 204 || !got.DeliveredAt.Equal(doneAt) ||
			!got.NextAttemptAt.IsZero() || !got.LastAttemptAt.Equal(lease) || !got.CreatedAt.Equal(now) || !got.RetrySince.Equal(now) {
			t.Fatalf("delivered batch = %+v", got)
		}
		retryAt := lease.Add(time.Hour)
		if err := s.FinishAttempt(ctx, webhooks.Outcome{BatchID: batchIDs[1], Attempt: 2, Status: webhooks.StatusPending, StatusCode: 503, Error: "HTTP 503", At: doneAt, NextAttemptAt: retryAt}); err != nil {
			t.Fatal(err)
		}
		got = getBatch(t, s, appID, bucketID, batchIDs[1])
		if got.Status != webhooks.StatusPending || got.LastStatusCode != 503 || got.LastError != "HTTP 503" || !got.NextAttemptAt.Equal(retryAt) || !got.DeliveredAt.IsZero() {
			t.Fatalf("retried batch = %+v", got)
		}
		if err := s.FinishAttempt(ctx, webhooks.Outcome{BatchID: batchIDs[2], Attempt: 2, Status: webhooks.StatusDead, Error: "no answer", At: doneAt}); err != nil {
			t.Fatal(err)
		}
		if got := getBatch(t, s, appID, bucketID, batchIDs[2]); got.Status != webhooks.StatusDead || !got.NextAttemptAt.IsZero() || got.LastError != "no answer" {
			t.Fatalf("dead batch = %+v", got)
		}

		// Listing: newest first, filtered, paged, and only the bucket's own.
		list, err := s.ListBatches(ctx, appID, bucketID, webhooks.ListOptions{Limit: 10})
		if err != nil || len(list) != 3 || list[0].ID != batchIDs[2] || list[2].ID != b0 {
			t.Fatalf("ListBatches = %v, %v; want newest first %v", batchIDsOf(list), err, batchIDs)
		}
		if list, _ := s.ListBatches(ctx, appID, bucketID, webhooks.ListOptions{Status: webhooks.StatusDead, Limit: 10}); !sameIDs(list, batchIDs[2:]) {
			t.Fatalf("dead batches = %v", batchIDsOf(list))
		}
		if list, _ := s.ListBatches(ctx, appID, bucketID, webhooks.ListOptions{Before: batchIDs[2], Limit: 1}); !sameIDs(list, batchIDs[1:2]) {
			t.Fatalf("page after %s = %v, want %s", batchIDs[2], batchIDsOf(list), batchIDs[1])
		}
		if list, _ := s.ListBatches(ctx, pushgate.NewID(), bucketID, webhooks.ListOptions{Limit: 10}); len(list) != 0 {
			t.Fatalf("another app lists the bucket's batches: %v", batchIDsOf(list))
		}
		if _, err := s.GetBatch(ctx, pushgate.NewID(), bucketID, b0); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("GetBatch of another app: %v", err)
		}

		// Redeliver: finished batches only, due at once, with a new period.
		again2 := doneAt.Add(time.Hour)
		if err := s.Redeliver(ctx, appID, bucketID, b0, again2); err != nil {
			t.Fatal(err)
		}
		got = getBatch(t, s, appID, bucketID, b0)
		if got.Status != webhooks.StatusPending || !got.NextAttemptAt.Equal(again2) || !got.RetrySince.Equal(again2) || !got.DeliveredAt.IsZero() || got.Attempts != 2 {
			t.Fatalf("redelivered batch = %+v", got)
		}
		if err := s.Redeliver(ctx, appID, bucketID, b0, again2); pushgate.ErrorCode(err) != pushgate.ECONFLICT {
			t.Fatalf("Redeliver of a pending batch: %v, want conflict", err)
		}
		if err := s.Redeliver(ctx, appID, bucketID, pushgate.NewID(), again2); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("Redeliver of an unknown batch: %v", err)
		}
		if err := s.Redeliver(ctx, pushgate.NewID(), bucketID, batchIDs[2], again2); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("Redeliver by another app: %v", err)
		}

		// Pruning removes finished batches and their events, nothing else.
		n, err := s.PruneBatches(ctx, lease.Add(time.Second), 10)
		if err != nil || n != 1 {
			t.Fatalf("PruneBatches = %d, %v; want the dead batch only", n, err)
		}
		if _, err := s.GetBatch(ctx, appID, bucketID, batchIDs[2]); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("pruned batch is still there: %v", err)
		}
		if evs, _ := s.BatchEvents(ctx, batchIDs[2]); len(evs) != 0 {
			t.Fatalf("pruned batch kept %d events", len(evs))
		}
		if n := countEvents(t, db, clicked.MessageID, webhooks.Clicked); n != 0 {
			t.Fatal("the pruned click is still stored")
		}

		// Events of a bucket without a target (here deleted since they
		// were stored) are dropped; batches go with their bucket.
		otherApp, otherBucket, _, otherCtx := newBucket(t, db)
		other := webhookEvents(otherApp, otherBucket, 3, webhooks.Sent, now)
		if err := testenv.StoreEvents(ctx, db, otherCtx, now, other...); err != nil {
			t.Fatal(err)
		}
		if err := db.Buckets().DeleteBucket(ctx, otherApp, otherBucket); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateBatch(ctx, webhooks.NewBatch{ID: pushgate.NewID(), AppID: appID, BucketID: other[0].BucketID, Max: 10, CreatedAt: now}); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("CreateBatch for a missing bucket: %v", err)
		}
		if n, err := s.DropPending(ctx, other[0].BucketID); err != nil || n != 3 {
			t.Fatalf("DropPending = %d, %v", n, err)
		}
		if err := db.Buckets().DeleteBucket(ctx, appID, bucketID); err != nil {
			t.Fatal(err)
		}
		if list, _ := s.ListBatches(ctx, appID, bucketID, webhooks.ListOptions{Limit: 10}); len(list) != 0 {
			t.Fatalf("batches outlived their bucket: %v", batchIDsOf(list))
		}
		if evs, _ := s.BatchEvents(ctx, b0); len(evs) != 0 {
			t.Fatalf("events outlived their bucket's batch: %d", len(evs))
		}
	})
}

// TestWebhookStoreConcurrency checks that flushers and dispatchers working
// on one database at once never share an event or a claim.
func TestWebhookStoreConcurrency(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Webhooks()
		appID, bucketID, _, ctxID := newBucket(t, db)
		now := time.Now().UTC().Truncate(time.Millisecond)
		const total = 2000
		if err := testenv.StoreEvents(ctx, db, ctxID, now, webhookEvents(appID, bucketID, total, webhooks.Sent, now)...); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var batches []string
		moved := 0
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				for {
					id := pushgate.NewID()
					n, err := s.CreateBatch(ctx, webhooks.NewBatch{ID: id, AppID: appID, BucketID: bucketID, Max: 70, CreatedAt: now})
					if err != nil {
						t.Error(err)
						return
					}
					if n == 0 {
						return
					}
					mu.Lock()
					batches, moved = append(batches, id), moved+n
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if moved != total {
			t.Fatalf("flushers moved %d events, want %d", moved, total)
		}
		seen := map[string]bool{}
		for _, id := range batches {
			evs, err := s.BatchEvents(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			b := getBatch(t, s, appID, bucketID, id)
			if b.Events != len(evs) || len(evs) == 0 || len(evs) > 70 {
				t.Fatalf("batch %s counts %d events and holds %d", id, b.Events, len(evs))
			}
			for _, e := range evs {
				if seen[e.MessageID] {
					t.Fatalf("event of %s is in two batches", e.MessageID)
				}
				seen[e.MessageID] = true
			}
		}
		if len(seen) != total {
			t.Fatalf("%d events are in batches, want %d", len(seen), total)
		}

		claimedBy := map[string]int{}
		for w := range 6 {
			wg.Go(func() {
				for {
					got, err := s.ClaimBatches(ctx, now, now.Add(time.Hour), 3)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, b := range got {
						if _, dup := claimedBy[b.ID]; dup {
							t.Errorf("batch %s claimed twice", b.ID)
						}
						claimedBy[b.ID] = w
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(claimedBy) != len(batches) {
			t.Fatalf("%d of %d batches were claimed", len(claimedBy), len(batches))
		}
	})
}

func getBatch(t *testing.T, s *sqlstore.WebhookStore, appID, bucketID, id string) *webhooks.Batch {
	t.Helper()
	b, err := s.GetBatch(context.Background(), appID, bucketID, id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func batchIDsOf(bs []*webhooks.Batch) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.ID
	}
	return out
}

func sameIDs(bs []*webhooks.Batch, want []string) bool {
	if len(bs) != len(want) {
		return false
	}
	set := map[string]bool{}
	for _, id := range want {
		set[id] = true
	}
	for _, b := range bs {
		if !set[b.ID] {
			return false
		}
	}
	return true
}
