package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

// TestBacklog: unfinished messages are counted across the outbox's chunks
// and until each is final, with the earliest due time; pending webhook
// batches with the oldest's creation time.
func TestBacklog(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		now := time.Now().UTC().Truncate(time.Millisecond)
		msgs := inChunks(newMessages(1200, appID, bucketID, credID, ctxID, now), 500)
		for _, m := range msgs[1000:] {
			m.EnqueuedAt = now.Add(-time.Minute) // the last chunk was due earlier
		}
		if err := s.Insert(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		b, err := s.Backlog(ctx)
		if err != nil || b.Unfinished != 1200 || b.Capped || !b.OldestDue.Equal(now.Add(-time.Minute)) {
			t.Fatalf("Backlog = %+v, %v; want 1200 unfinished, oldest due a minute ago", b, err)
		}
		// A claim leaves them unfinished; their results finish them.
		claimed, err := s.Claim(ctx, ids(msgs[:500]), now, now.Add(time.Minute))
		if err != nil || len(claimed) != 500 {
			t.Fatalf("claim: %d, %v", len(claimed), err)
		}
		if b, _ := s.Backlog(ctx); b.Unfinished != 1200 {
			t.Fatalf("after a claim: %+v", b)
		}
		if err := s.Finish(ctx, resultsFor(claimed, now)); err != nil {
			t.Fatal(err)
		}
		if b, _ := s.Backlog(ctx); b.Unfinished != 700 {
			t.Fatalf("after 500 results: %+v, want 700 unfinished", b)
		}
		rest, err := s.Claim(ctx, ids(msgs[500:]), now, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Finish(ctx, resultsFor(rest, now)); err != nil {
			t.Fatal(err)
		}
		if b, err := s.Backlog(ctx); err != nil || b.Unfinished != 0 || !b.OldestDue.IsZero() {
			t.Fatalf("once every message is final: %+v, %v", b, err)
		}

		w := db.Webhooks()
		if b, err := w.Backlog(ctx); err != nil || b.Pending != 0 || !b.Oldest.IsZero() {
			t.Fatalf("webhook Backlog with nothing pending = %+v, %v", b, err)
		}
		evs := webhookEvents(appID, bucketID, 3, webhooks.Sent, now)
		if err := testenv.StoreEvents(ctx, db, ctxID, now, evs...); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if _, err := w.CreateBatch(ctx, webhooks.NewBatch{ID: pushgate.NewID(), AppID: appID, BucketID: bucketID, Max: 2, CreatedAt: now.Add(time.Duration(i) * time.Second)}); err != nil {
				t.Fatal(err)
			}
		}
		if b, err := w.Backlog(ctx); err != nil || b.Pending != 2 || !b.Oldest.Equal(now) {
			t.Fatalf("webhook Backlog = %+v, %v; want 2 pending, the oldest made at %v", b, err, now)
		}
	})
}
