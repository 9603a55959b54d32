package sqlstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/imagecdn"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

// TestRecordClientEvents is the contract of Store.RecordClientEvents on
// every dialect: only a context's own messages are found, the first report
// of a kind sets the message's time and becomes one event, and only for a
// bucket with a callback.
func TestRecordClientEvents(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Webhooks()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		now := time.Now().UTC().Truncate(time.Millisecond)
		msgs := inChunks(newMessages(2, appID, bucketID, credID, ctxID, now), 2)
		msgs[0].ForeignID = "user-1"

		// A second bucket of the app, without a callback.
		quiet := &buckets.StoredBucket{ID: pushgate.NewID(), AppID: appID, SealedCallback: "none", SealedWebhookSecret: "ws", CreatedAt: now, LastUsedAt: now, IdleTTL: time.Hour}
		if err := db.Buckets().CreateBucket(ctx, quiet); err != nil {
			t.Fatal(err)
		}
		quietCtx := pushgate.NewID()
		quietMsg := newMessages(1, appID, quiet.ID, credID, quietCtx, now)
		if err := db.Messages().Insert(ctx, append(msgs, quietMsg...)); err != nil {
			t.Fatal(err)
		}

		at := now.Add(time.Second)
		ev := func(msg, context string, kind webhooks.Kind, action string, at time.Time) webhooks.ClientEvent {
			return webhooks.ClientEvent{EventID: pushgate.NewID(), ContextID: context, MessageID: msg, Kind: kind, Action: action, At: at}
		}
		found, err := s.RecordClientEvents(ctx, []webhooks.ClientEvent{
			ev(msgs[0].ID, ctxID, webhooks.Delivered, "", at),
			ev(msgs[0].ID, ctxID, webhooks.Clicked, "open", at.Add(time.Second)),
			ev(msgs[1].ID, quietCtx, webhooks.Delivered, "", at),             // another context's id
			ev(pushgate.NewID(), ctxID, webhooks.Delivered, "", at),          // no such message
			ev(quietMsg[0].ID, quietCtx, webhooks.Close, "", at),             // bucket without a callback
			ev(msgs[0].ID, ctxID, webhooks.Delivered, "", at.Add(time.Hour)), // a repeat
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []bool{true, true, false, false, true, true}; !equalBools(found, want) {
			t.Fatalf("found = %v, want %v", found, want)
		}

		m, err := db.Messages().Get(ctx, appID, bucketID, msgs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if !m.DeliveredAt.Equal(at) || !m.ClickedAt.Equal(at.Add(time.Second)) || !m.ClosedAt.IsZero() {
			t.Fatalf("message times: delivered %v clicked %v closed %v; want %v, %v and none (the first report wins)", m.DeliveredAt, m.ClickedAt, m.ClosedAt, at, at.Add(time.Second))
		}
		if m, _ := db.Messages().Get(ctx, appID, bucketID, msgs[1].ID); !m.DeliveredAt.IsZero() {
			t.Fatal("a report naming another context changed the message")
		}
		if m, _ := db.Messages().Get(ctx, appID, quiet.ID, quietMsg[0].ID); !m.ClosedAt.Equal(at) {
			t.Fatalf("closedAt of the message of the bucket without a callback = %v, want %v", m.ClosedAt, at)
		}

		// A repeat in a later call changes nothing either.
		if found, err := s.RecordClientEvents(ctx, []webhooks.ClientEvent{ev(msgs[0].ID, ctxID, webhooks.Clicked, "again", at.Add(time.Minute))}); err != nil || !found[0] {
			t.Fatalf("repeat = %v, %v", found, err)
		}

		pending, err := s.PendingBuckets(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != 1 || pending[0].BucketID != bucketID || pending[0].Events != 2 {
			t.Fatalf("pending = %+v, want the 2 first reports of bucket %s only", pending, bucketID)
		}
		batchID := pushgate.NewID()
		if n, err := s.CreateBatch(ctx, webhooks.NewBatch{ID: batchID, AppID: appID, BucketID: bucketID, Max: 10, CreatedAt: now}); err != nil || n != 2 {
			t.Fatalf("CreateBatch = %d, %v", n, err)
		}
		events, err := s.BatchEvents(ctx, batchID)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 2 || events[0].Kind != webhooks.Delivered || events[1].Kind != webhooks.Clicked || events[1].Action != "open" ||
			events[0].ForeignID != "user-1" || events[1].ForeignID != "user-1" || events[0].MessageID != msgs[0].ID {
			t.Fatalf("events = %+v, want delivered then clicked(open) of %s with the message's foreign id", events, msgs[0].ID)
		}
	})
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFinishRecordsWebhookEvents: final results of a bucket with a
// callback become sent or failed events with the results, retries and
// buckets without a callback make none.
func TestFinishRecordsWebhookEvents(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		now := time.Now().UTC().Truncate(time.Millisecond)
		quiet := &buckets.StoredBucket{ID: pushgate.NewID(), AppID: appID, SealedCallback: "none", SealedWebhookSecret: "ws", CreatedAt: now, LastUsedAt: now, IdleTTL: time.Hour}
		if err := db.Buckets().CreateBucket(ctx, quiet); err != nil {
			t.Fatal(err)
		}
		msgs := newMessages(4, appID, bucketID, credID, ctxID, now)
		quietMsgs := newMessages(2, appID, quiet.ID, credID, ctxID, now)
		all := append(msgs, quietMsgs...)
		if err := db.Messages().Insert(ctx, all); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Messages().Claim(ctx, ids(all), now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		at := now.Add(time.Second)
		results := resultsFor(all, at)
		results[1].Status, results[1].Reason = messages.Failed, "unregistered"
		results[2].Status, results[2].Reason = messages.Expired, "expired"
		results[3].Status, results[3].Reason, results[3].RetryAt = messages.Queued, "unavailable", at.Add(time.Minute)
		if err := db.Messages().Finish(ctx, results); err != nil {
			t.Fatal(err)
		}
		batchID := pushgate.NewID()
		if _, err := db.Webhooks().CreateBatch(ctx, webhooks.NewBatch{ID: batchID, AppID: appID, BucketID: bucketID, Max: 10, CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		events, err := db.Webhooks().BatchEvents(ctx, batchID)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range events {
			got[e.MessageID] = string(e.Kind) + "/" + e.Reason
			if !e.At.Equal(at) || e.ForeignID != "f" || e.BucketID != bucketID {
				t.Errorf("event %+v: want at %v, foreign id f, bucket %s", e, at, bucketID)
			}
		}
		want := map[string]string{msgs[0].ID: "sent/", msgs[1].ID: "failed/unregistered", msgs[2].ID: "failed/expired"}
		if len(got) != len(want) {
			t.Fatalf("events %v, want %v (no event for a retry or for a bucket without a callback)", got, want)
		}
		for id, w := range want {
			if got[id] != w {
				t.Errorf("event of %s = %q, want %q", id, got[id], w)
			}
		}
		if p, _ := db.Webhooks().PendingBuckets(ctx, 10); len(p) != 0 {
			t.Fatalf("events left unbatched: %+v", p)
		}
	})
}

// TestLateMessagesOfDeletedBuckets: messages a send stores after its
// bucket was deleted (the race of a send with a delete), and the messages
// of a deleted app's buckets, do not outlive them.
func TestLateMessagesOfDeletedBuckets(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		now := time.Now().UTC()
		if err := db.Buckets().DeleteBucket(ctx, appID, bucketID); err != nil {
			t.Fatal(err)
		}
		late := newMessages(3, appID, bucketID, credID, ctxID, now)
		if err := db.Messages().Insert(ctx, late); err != nil {
			t.Fatal(err)
		}
		count := func() int { return countMessages(t, db) }
		if n, err := db.Buckets().PurgeDeleted(ctx, now.Add(-time.Hour)); err != nil || n != 3 || count() != 0 {
			t.Fatalf("PurgeDeleted = %d, %v; %d messages left", n, err, count())
		}
		// Still remembered: a later straggler goes too.
		db.Messages().Insert(ctx, newMessages(1, appID, bucketID, credID, ctxID, now))
		if n, _ := db.Buckets().PurgeDeleted(ctx, now.Add(-time.Hour)); n != 1 {
			t.Fatalf("a second straggler: purged %d", n)
		}
		// Forgotten after the period.
		db.Buckets().PurgeDeleted(ctx, now.Add(time.Hour))
		db.Messages().Insert(ctx, newMessages(1, appID, bucketID, credID, ctxID, now))
		if n, _ := db.Buckets().PurgeDeleted(ctx, now.Add(time.Hour)); n != 0 {
			t.Fatalf("a forgotten bucket's message was purged")
		}

		// Deleting an app deletes its buckets' messages.
		appID2, bucketID2, credID2, ctxID2 := newBucket(t, db)
		if err := db.Messages().Insert(ctx, newMessages(2, appID2, bucketID2, credID2, ctxID2, now)); err != nil {
			t.Fatal(err)
		}
		before := count()
		if err := db.Apps().DeleteApp(ctx, appID2); err != nil {
			t.Fatal(err)
		}
		if after := count(); after != before-2 {
			t.Fatalf("deleting the app left its messages: %d before, %d after", before, after)
		}
	})
}

// TestImageSources is the contract of the shared imagecdn.FetchCache.
func TestImageSources(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.ImageSources()
		url := "https://shop.example/" + strings.Repeat("long/", 300) + "sale.jpg"
		if _, ok, err := s.Get(ctx, url); ok || err != nil {
			t.Fatalf("Get of an unknown URL = %v, %v", ok, err)
		}
		at := time.Now().UTC().Truncate(time.Millisecond)
		e := imagecdn.CacheEntry{Digest: strings.Repeat("ab", 32), ContentType: "image/jpeg", ETag: `"v1"`, LastModified: "Tue, 01 Dec 2026 10:00:00 GMT", CheckedAt: at}
		if err := s.Put(ctx, url, e); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := s.Get(ctx, url); !ok || err != nil || got != e {
			t.Fatalf("Get = %+v, %v, %v; want %+v", got, ok, err, e)
		}
		e.ETag, e.CheckedAt = `"v2"`, at.Add(time.Hour)
		if err := s.Put(ctx, url, e); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := s.Get(ctx, url); got != e {
			t.Fatalf("after a second Put: %+v, want %+v", got, e)
		}
		if n, err := s.Forget(ctx, at.Add(30*time.Minute)); err != nil || n != 0 {
			t.Fatalf("Forget of nothing old = %d, %v", n, err)
		}
		if n, err := s.Forget(ctx, at.Add(2*time.Hour)); err != nil || n != 1 {
			t.Fatalf("Forget = %d, %v", n, err)
		}
		if _, ok, _ := s.Get(ctx, url); ok {
			t.Fatal("a forgotten URL is still known")
		}
	})
}
