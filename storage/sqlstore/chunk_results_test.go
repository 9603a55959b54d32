package sqlstore_test

import (
	"context"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

// batchAll moves every unbatched event of a bucket into batches of up to
// max and returns the events of each batch.
func batchAll(t *testing.T, db *sqlstore.DB, appID, bucketID string, max int) [][]webhooks.Event {
	t.Helper()
	ctx := context.Background()
	var out [][]webhooks.Event
	for {
		id := pushgate.NewID()
		n, err := db.Webhooks().CreateBatch(ctx, webhooks.NewBatch{ID: id, AppID: appID, BucketID: bucketID, Max: max, CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return out
		}
		events, err := db.Webhooks().BatchEvents(ctx, id)
		if err != nil || len(events) != n {
			t.Fatalf("batch of %d holds %d events, %v", n, len(events), err)
		}
		if b, err := db.Webhooks().GetBatch(ctx, appID, bucketID, id); err != nil || b.Events != n {
			t.Fatalf("batch row: %+v, %v; want %d events", b, err, n)
		}
		out = append(out, events)
	}
}

// eventKinds returns each message's event kinds, and fails on a message
// with two events of one kind.
func eventKinds(t *testing.T, batches [][]webhooks.Event) map[string]webhooks.Event {
	t.Helper()
	out := map[string]webhooks.Event{}
	for _, b := range batches {
		for _, e := range b {
			key := e.MessageID + "/" + string(e.Kind)
			if _, dup := out[key]; dup {
				t.Fatalf("two %s events for message %s", e.Kind, e.MessageID)
			}
			out[key] = e
		}
	}
	return out
}

// wantResults are what TestChunkResultsOnceAndLookedUp's messages look
// like after their results.
var wantResults = []struct {
	status          messages.Status
	reason, lastErr string
	attempts        int
}{{messages.Sent, "", "", 1}, {messages.Sent, "", "", 1}, {messages.Failed, "unregistered", "410 Unregistered", 1},
	{messages.Expired, "expired", "", 0}, {messages.Queued, "unavailable", "503", 1}}

// checkResultEvents checks that the messages of
// TestChunkResultsOnceAndLookedUp have one event each, of the kind their
// final result makes (the last one was retried, then sent).
func checkResultEvents(t *testing.T, events map[string]webhooks.Event, msgs []*messages.Message) {
	t.Helper()
	want := []webhooks.Kind{webhooks.Sent, webhooks.Sent, webhooks.Failed, webhooks.Failed, webhooks.Sent}
	if len(events) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(events), len(want), events)
	}
	for i, k := range want {
		e, ok := events[msgs[i].ID+"/"+string(k)]
		if !ok || e.ForeignID != msgs[i].ForeignID || e.AppID != msgs[i].AppID || e.BucketID != msgs[i].BucketID || k == webhooks.Failed && e.Reason != wantResults[i].reason {
			t.Fatalf("message %d: event %+v (found %v), want %s", i, e, ok, k)
		}
	}
}

// TestChunkResultsOnceAndLookedUp: the results of a chunk claimed whole
// (kept in the chunk's row on PostgreSQL) are answered by Get, stored once
// when Finish is repeated (a lost answer), make one event each, survive
// the worker's death after their commit (nothing claimed or swept again),
// and a client report on one keeps its result.
func TestChunkResultsOnceAndLookedUp(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		now := time.Now().UTC().Truncate(time.Millisecond)
		msgs := inChunks(newMessages(5, appID, bucketID, credID, ctxID, now), 5)
		for i, m := range msgs {
			m.ForeignID = "f" + string(rune('0'+i))
			m.Receiver.ForeignID = m.ForeignID
		}
		if err := s.Insert(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		claimed, err := s.Claim(ctx, ids(msgs), now, now.Add(time.Minute))
		if err != nil || len(claimed) != 5 {
			t.Fatalf("claim: %d, %v", len(claimed), err)
		}
		sort.Slice(claimed, func(i, j int) bool { return claimed[i].ForeignID < claimed[j].ForeignID })
		at := now.Add(time.Second)
		results := []messages.Result{
			{Message: claimed[0], Status: messages.Sent, Attempts: 1, At: at},
			{Message: claimed[1], Status: messages.Sent, Attempts: 1, At: at},
			{Message: claimed[2], Status: messages.Failed, Reason: "unregistered", Error: "410 Unregistered", Attempts: 1, At: at},
			{Message: claimed[3], Status: messages.Expired, Reason: "expired", Attempts: 0, At: at},
			{Message: claimed[4], Status: messages.Queued, Reason: "unavailable", Error: "503", Attempts: 1, At: at, RetryAt: at.Add(time.Minute)},
		}
		for range 2 { // the second Finish is a worker's try again after a lost answer
			if err := s.Finish(ctx, results); err != nil {
				t.Fatal(err)
			}
		}
		for i, w := range wantResults {
			got, err := s.Get(ctx, appID, bucketID, claimed[i].ID)
			if err != nil || got.Status != w.status || got.Reason != w.reason || got.LastError != w.lastErr || got.Attempts != w.attempts ||
				got.ForeignID != claimed[i].ForeignID || got.Receiver.Token != "tok" || (w.status == messages.Sent) != !got.SentAt.IsZero() {
				t.Fatalf("message %d: %+v, %v; want %+v", i, got, err, w)
			}
		}
		// The worker dies after the commit: its lease ends, and nothing final
		// is handed out or claimed again; the retry is due at its time.
		later := now.Add(2 * time.Minute)
		refs, err := s.Stale(ctx, later, later, 100)
		if err != nil || len(refs) != 1 || refs[0].ID != claimed[4].ID {
			t.Fatalf("Stale after the worker died = %+v, %v; want the retry alone", refs, err)
		}
		again, err := s.Claim(ctx, ids(msgs), later, later.Add(time.Minute))
		if err != nil || len(again) != 1 || again[0].ID != claimed[4].ID {
			t.Fatalf("claim again: %+v, %v; want the retry alone", again, err)
		}
		if err := s.Finish(ctx, []messages.Result{{Message: again[0], Status: messages.Sent, Attempts: 2, At: later}}); err != nil {
			t.Fatal(err)
		}
		if refs, err := s.Stale(ctx, later.Add(time.Hour), later.Add(time.Hour), 100); err != nil || len(refs) != 0 {
			t.Fatalf("Stale once all are final = %+v, %v", refs, err)
		}
		checkResultEvents(t, eventKinds(t, batchAll(t, db, appID, bucketID, 1000)), claimed)
		// A device reports message 0 delivered: its result stays.
		found, err := db.Webhooks().RecordClientEvents(ctx, []webhooks.ClientEvent{{EventID: pushgate.NewID(), ContextID: ctxID, MessageID: claimed[0].ID,
			Kind: webhooks.Delivered, At: later.Add(time.Second)}})
		if err != nil || !found[0] {
			t.Fatalf("report: %v, %v", found, err)
		}
		for i, w := range wantResults[:4] {
			got, err := s.Get(ctx, appID, bucketID, claimed[i].ID)
			if err != nil || got.Status != w.status || got.Reason != w.reason || got.LastError != w.lastErr || (i == 0) == got.DeliveredAt.IsZero() {
				t.Fatalf("message %d after a report: %+v, %v", i, got, err)
			}
		}
		if n := countMessages(t, db); n != 5 {
			t.Fatalf("%d messages stored, want 5", n)
		}
	})
}

// TestChunkResultsRollBackTogether: a Finish whose statement fails stores
// nothing, neither the results kept in the chunk nor their events, as a
// node killed before the commit would: the chunk is handed out again once
// its lease ends.
func TestChunkResultsRollBackTogether(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		if db.Dialect == sqlstore.SQLite {
			// SQLite stores a NUL in text: a trigger refuses the row instead.
			if _, err := db.ExecContext(ctx, `CREATE TRIGGER refuse_bad BEFORE INSERT ON messages WHEN instr(NEW.foreign_id, 'bad') = 1
				BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		msgs := inChunks(newMessages(3, appID, bucketID, credID, ctxID, now), 3)
		msgs[2].ForeignID, msgs[2].Receiver.ForeignID = "bad\x00id", "bad\x00id"
		if err := s.Insert(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		claimed, err := s.Claim(ctx, ids(msgs), now, now.Add(time.Minute))
		if err != nil || len(claimed) != 3 {
			t.Fatalf("claim: %d, %v", len(claimed), err)
		}
		var bad *messages.Message
		var results []messages.Result
		for _, m := range claimed {
			if m.ID == msgs[2].ID {
				bad = m
				continue
			}
			results = append(results, messages.Result{Message: m, Status: messages.Sent, Attempts: 1, At: now})
		}
		// A retry goes into messages, whose text columns refuse the NUL (on
		// SQLite, the trigger): the whole Finish fails.
		results = append(results, messages.Result{Message: bad, Status: messages.Queued, Attempts: 1, At: now, RetryAt: now.Add(time.Minute)})
		if err := s.Finish(ctx, results); err == nil {
			t.Fatal("Finish stored a NUL in a text column")
		}
		for _, m := range msgs {
			if got, err := s.Get(ctx, appID, bucketID, m.ID); err != nil || got.Status != messages.Sending {
				t.Fatalf("message after a failed Finish: %+v, %v; want sending", got, err)
			}
		}
		if b := batchAll(t, db, appID, bucketID, 1000); len(b) != 0 {
			t.Fatalf("a failed Finish left events: %+v", b)
		}
		later := now.Add(2 * time.Minute)
		if refs, err := s.Stale(ctx, later, later, 100); err != nil || len(refs) != 3 {
			t.Fatalf("Stale after the lease ended = %d refs, %v; want 3", len(refs), err)
		}
	})
}

// TestEventSetsFillBatches: the events of one Finish (one row on
// PostgreSQL) are split across batches smaller than them, each event in
// exactly one batch, every batch full but the last.
func TestEventSetsFillBatches(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		now := time.Now().UTC().Truncate(time.Millisecond)
		var all []*messages.Message
		for range 2 {
			msgs := inChunks(newMessages(5, appID, bucketID, credID, ctxID, now), 5)
			if err := s.Insert(ctx, msgs); err != nil {
				t.Fatal(err)
			}
			claimed, err := s.Claim(ctx, ids(msgs), now, now.Add(time.Minute))
			if err != nil || len(claimed) != 5 {
				t.Fatalf("claim: %d, %v", len(claimed), err)
			}
			if err := s.Finish(ctx, resultsFor(claimed, now.Add(time.Second))); err != nil {
				t.Fatal(err)
			}
			all = append(all, msgs...)
		}
		batches := batchAll(t, db, appID, bucketID, 3)
		sizes := make([]int, len(batches))
		for i, b := range batches {
			sizes[i] = len(b)
		}
		if len(batches) != 4 || sizes[0] != 3 || sizes[1] != 3 || sizes[2] != 3 || sizes[3] != 1 {
			t.Fatalf("batch sizes %v, want 3 3 3 1", sizes)
		}
		events := eventKinds(t, batches)
		for _, m := range all {
			if _, ok := events[m.ID+"/sent"]; !ok {
				t.Fatalf("message %s has no sent event", m.ID)
			}
		}
	})
}

// TestConcurrentReportsOfFinishedChunks: devices report messages of the
// same finished chunks at once, in batches that overlap chunks in every
// order (as a CORE bulk send's devices do); every report is recorded.
// On PostgreSQL such reports move the chunks into messages and mark rows
// that other reports mark too: they may deadlock, and one that did must
// be tried again, not lost.
func TestConcurrentReportsOfFinishedChunks(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		now := time.Now().UTC().Truncate(time.Millisecond)
		msgs := inChunks(newMessages(200, appID, bucketID, credID, ctxID, now), 50)
		if err := s.Insert(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		claimed, err := s.Claim(ctx, ids(msgs), now, now.Add(time.Minute))
		if err != nil || len(claimed) != len(msgs) {
			t.Fatalf("claim: %d, %v", len(claimed), err)
		}
		if err := s.Finish(ctx, resultsFor(claimed, now)); err != nil {
			t.Fatal(err)
		}
		// Eight reporters of delivered, each every eighth message, and
		// eight of clicked, each every seventh: a message's two reports
		// come in batches of different reporters, in either order.
		const reporters, batch = 16, 17
		var wg sync.WaitGroup
		for g := range reporters {
			kind, first, step := webhooks.Delivered, g, 8
			if g >= 8 {
				kind, first, step = webhooks.Clicked, g-8, 7
			}
			var mine []webhooks.ClientEvent
			for i := first; i < len(claimed); i += step {
				mine = append(mine, webhooks.ClientEvent{EventID: pushgate.NewID(), ContextID: ctxID, MessageID: claimed[i].ID,
					Kind: kind, At: now.Add(time.Second)})
			}
			if g%2 == 1 {
				slices.Reverse(mine)
			}
			wg.Go(func() {
				for part := range slices.Chunk(mine, batch) {
					found, err := db.Webhooks().RecordClientEvents(ctx, part)
					if err != nil || slices.Contains(found, false) {
						t.Errorf("reporter %d: found %v, %v", g, found, err)
						return
					}
				}
			})
		}
		wg.Wait()
		for _, m := range claimed {
			got, err := s.Get(ctx, appID, bucketID, m.ID)
			if err != nil || got.DeliveredAt.IsZero() || got.ClickedAt.IsZero() || got.Status != messages.Sent {
				t.Fatalf("message %s after the reports: %+v, %v", m.ID, got, err)
			}
		}
	})
}

// TestSQLiteMessagesFromBeforeTheOutbox: messages that SQLite stored as
// rows of messages before its outbox (migration 00014) are still claimed,
// finished with one event each, looked up and reported on after it.
func TestSQLiteMessagesFromBeforeTheOutbox(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, testenv.SQLiteURL(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := sqlstore.MigrateUpTo(ctx, db, 13); err != nil {
		t.Fatal(err)
	}
	appID, bucketID, credID, ctxID := newBucket(t, db)
	now := time.Now().UTC().Truncate(time.Millisecond)
	old := newMessages(3, appID, bucketID, credID, ctxID, now)
	for _, m := range old { // as the store of then wrote them
		if _, err := db.ExecContext(ctx, `INSERT INTO messages (id, app_id, bucket_id, context_id, credential_id, provider, foreign_id, token,
			status, created_at, updated_at, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)`,
			m.ID, appID, bucketID, ctxID, credID, m.Provider, m.ForeignID, "tok", now, now, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s := db.Messages()
	later := now.Add(time.Minute)
	if refs, err := s.Stale(ctx, later, later, 100); err != nil || len(refs) != 3 {
		t.Fatalf("Stale = %d refs, %v; want the 3 queued", len(refs), err)
	}
	claimed, err := s.Claim(ctx, ids(old), now, now.Add(time.Minute))
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	for range 2 {
		if err := s.Finish(ctx, resultsFor(claimed, now.Add(time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range old {
		if got, err := s.Get(ctx, appID, bucketID, m.ID); err != nil || got.Status != messages.Sent || got.Receiver.Token != "tok" {
			t.Fatalf("message after its result: %+v, %v", got, err)
		}
	}
	events := eventKinds(t, batchAll(t, db, appID, bucketID, 1000))
	for _, m := range old {
		if _, ok := events[m.ID+"/sent"]; !ok || len(events) != 3 {
			t.Fatalf("events %+v; want one sent event per message", events)
		}
	}
	found, err := db.Webhooks().RecordClientEvents(ctx, []webhooks.ClientEvent{{EventID: pushgate.NewID(), ContextID: ctxID, MessageID: old[0].ID,
		Kind: webhooks.Clicked, At: later}})
	if err != nil || !found[0] {
		t.Fatalf("report: %v, %v", found, err)
	}
}
