package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/recipients"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

// newBucket stores an app, a bucket with one credential and a context, and
// returns their ids.
func newBucket(t testing.TB, db *sqlstore.DB) (appID, bucketID, credID, ctxID string) {
	t.Helper()
	ctx := context.Background()
	a, k := newApp("a")
	if err := db.Apps().CreateApp(ctx, a, k); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	b := &buckets.StoredBucket{ID: pushgate.NewID(), AppID: a.ID, SealedCallback: "cb", SealedWebhookSecret: "ws", HasCallback: true, CreatedAt: now, LastUsedAt: now, IdleTTL: time.Hour,
		Credentials: []buckets.StoredCredential{{ID: pushgate.NewID(), Type: buckets.FCMv1, Public: []byte(`{}`), Sealed: "s"}}}
	if err := db.Buckets().CreateBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	c := &contexts.Context{ID: pushgate.NewID(), AppID: a.ID, BucketID: b.ID, Kind: contexts.KindSilent, Silent: &contexts.Silent{ExternalData: "x"}, CreatedAt: now}
	if err := db.Buckets().CreateContext(ctx, c); err != nil {
		t.Fatal(err)
	}
	return a.ID, b.ID, b.Credentials[0].ID, c.ID
}

func newMessages(n int, appID, bucketID, credID, ctxID string, now time.Time) []*messages.Message {
	out := make([]*messages.Message, n)
	for i := range out {
		out[i] = &messages.Message{ID: pushgate.NewID(), AppID: appID, BucketID: bucketID, ContextID: ctxID, CredentialID: credID,
			Provider: "fcm_v1", ForeignID: "f", Receiver: recipients.Receiver{CredentialID: credID, ForeignID: "f", Token: "tok"},
			Status: messages.Queued, CreatedAt: now, UpdatedAt: now, EnqueuedAt: now}
	}
	return out
}

// countMessages counts all stored messages, claimed or still in the
// outbox.
func countMessages(t testing.TB, db *sqlstore.DB) (n int) {
	t.Helper()
	q := `SELECT (SELECT count(*) FROM messages) + (SELECT coalesce(sum(size - done + finals), 0) FROM outbox)`
	if err := db.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// inChunks gives msgs ids that share an IDGroup per chunk of size, as the
// Sender does.
func inChunks(msgs []*messages.Message, size int) []*messages.Message {
	for start := 0; start < len(msgs); start += size {
		chunk := msgs[start:min(start+size, len(msgs))]
		for i, id := range pushgate.NewIDGroup(len(chunk)) {
			chunk[i].ID = id
		}
	}
	return msgs
}

func resultsFor(msgs []*messages.Message, at time.Time) []messages.Result {
	out := make([]messages.Result, len(msgs))
	for i, m := range msgs {
		out[i] = messages.Result{Message: m, Status: messages.Sent, Attempts: 1, At: at}
	}
	return out
}

func ids(msgs []*messages.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

func TestMessageStore(t *testing.T) {
	for _, chunk := range []int{1, 500} {
		t.Run(fmt.Sprintf("chunks of %d", chunk), func(t *testing.T) {
			testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) { testMessageStore(t, db, chunk) })
		})
	}
}

func testMessageStore(t *testing.T, db *sqlstore.DB, chunk int) {
	{
		ctx := context.Background()
		s := db.Messages()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		now := time.Now().UTC().Truncate(time.Millisecond)
		msgs := newMessages(1000, appID, bucketID, credID, ctxID, now)
		for _, m := range msgs {
			m.ExpiresAt = now.Add(time.Hour)
		}
		if chunk > 1 {
			inChunks(msgs, chunk)
		}
		if err := s.Insert(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, appID, bucketID, msgs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != messages.Queued || got.Receiver.Token != "tok" || got.ForeignID != "f" || !got.ExpiresAt.Equal(msgs[0].ExpiresAt) || !got.SentAt.IsZero() {
			t.Fatalf("Get = %+v", got)
		}
		if _, err := s.Get(ctx, pushgate.NewID(), bucketID, msgs[0].ID); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("another app read the message: %v", err)
		}

		// Concurrent claims: each message is claimed exactly once.
		var mu sync.Mutex
		claimed := map[string]int{}
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Go(func() {
				got, err := s.Claim(ctx, ids(msgs[:500]), now, now.Add(time.Minute))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, m := range got {
					claimed[m.ID]++
					if m.Status != messages.Sending {
						t.Errorf("claimed message in status %s", m.Status)
					}
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(claimed) != 500 {
			t.Fatalf("claimed %d distinct messages, want 500", len(claimed))
		}
		for id, n := range claimed {
			if n != 1 {
				t.Fatalf("message %s claimed %d times", id, n)
			}
		}

		later := now.Add(time.Second)
		results := []messages.Result{
			{Message: msgs[0], Status: messages.Sent, Attempts: 1, At: later},
			{Message: msgs[1], Status: messages.Failed, Reason: "unregistered", Error: "410", Attempts: 1, At: later},
			{Message: msgs[2], Status: messages.Queued, Reason: "unavailable", Attempts: 1, At: later, RetryAt: later.Add(time.Minute)},
			{Message: msgs[600], Status: messages.Sent, Attempts: 1, At: later}, // not claimed: must not change
		}
		if err := s.Finish(ctx, results); err != nil {
			t.Fatal(err)
		}
		check := func(i int, status messages.Status, reason string) *messages.Message {
			t.Helper()
			m, err := s.Get(ctx, appID, bucketID, msgs[i].ID)
			if err != nil || m.Status != status || m.Reason != reason {
				t.Fatalf("message %d: %+v, %v; want %s %q", i, m, err, status, reason)
			}
			return m
		}
		if m := check(0, messages.Sent, ""); !m.SentAt.Equal(later) || m.Attempts != 1 || !m.LeaseUntil.IsZero() {
			t.Fatalf("sent message %+v", m)
		}
		check(1, messages.Failed, "unregistered")
		if m := check(2, messages.Queued, "unavailable"); !m.EnqueuedAt.Equal(later.Add(time.Minute)) {
			t.Fatalf("retry not due at RetryAt: %v", m.EnqueuedAt)
		}
		check(600, messages.Queued, "")

		// The sweep: claimed messages whose lease ended come back (with the
		// unknown attempt counted); queued ones long past due are found.
		refs, err := s.Stale(ctx, now.Add(2*time.Minute), now.Add(30*time.Second), 5000)
		if err != nil {
			t.Fatal(err)
		}
		// 497 expired leases + 500 never-claimed queued messages; message 2
		// is due at now+1m, after dueBefore.
		if len(refs) != 997 {
			t.Fatalf("Stale found %d, want 997", len(refs))
		}
		if m := check(3, messages.Queued, ""); m.Attempts != 1 {
			t.Fatalf("lease-expired message attempts = %d, want 1", m.Attempts)
		}
		if err := s.MarkEnqueued(ctx, []string{refs[0].ID}, now.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		refs2, _ := s.Stale(ctx, now.Add(2*time.Minute), now.Add(90*time.Second), 5000)
		var stale []string
		for _, r := range refs2 {
			stale = append(stale, r.ID)
		}
		sort.Strings(stale)
		if i := sort.SearchStrings(stale, refs[0].ID); i < len(stale) && stale[i] == refs[0].ID {
			t.Fatal("a message marked enqueued is still stale")
		}
	}
}

func TestDeletingABucketDeletesItsMessages(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		msgs := newMessages(3, appID, bucketID, credID, ctxID, time.Now())
		if err := db.Messages().Insert(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		if err := db.Buckets().DeleteBucket(ctx, appID, bucketID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Messages().Get(ctx, appID, bucketID, msgs[0].ID); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("message outlived its bucket: %v", err)
		}
		if _, err := db.Buckets().GetContext(ctx, appID, bucketID, ctxID); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("context outlived its bucket: %v", err)
		}
	})
}

func TestBucketExpiry(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		appID, bucketID, _, _ := newBucket(t, db)
		s := db.Buckets()
		now := time.Now().UTC()
		if _, err := s.GetBucket(ctx, appID, bucketID, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetBucket(ctx, pushgate.NewID(), bucketID, now); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatal("another app sees the bucket")
		}
		if _, err := s.GetBucket(ctx, appID, bucketID, now.Add(2*time.Hour)); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatal("an expired bucket is still served")
		}
		if err := s.TouchBucket(ctx, appID, bucketID, now.Add(30*time.Minute), now.Add(150*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetBucket(ctx, appID, bucketID, now.Add(2*time.Hour)); err != nil {
			t.Fatalf("a touched bucket expired: %v", err)
		}
		if n, err := s.DeleteExpired(ctx, now.Add(2*time.Hour), 100); err != nil || n != 0 {
			t.Fatalf("DeleteExpired before expiry = %d, %v", n, err)
		}
		if n, err := s.DeleteExpired(ctx, now.Add(3*time.Hour), 100); err != nil || n != 1 {
			t.Fatalf("DeleteExpired = %d, %v", n, err)
		}
	})
}

// TestClaimingPartsOfChunks: a chunk is meant to be claimed whole by its
// task, but a sweep or a retry may name any of its messages, alone or with
// others' — each message is still claimed exactly once, and the rest wait
// queued.
func TestClaimingPartsOfChunks(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		now := time.Now().UTC().Truncate(time.Millisecond)
		msgs := inChunks(newMessages(30, appID, bucketID, credID, ctxID, now), 10)
		msgs[3].Receiver.Endpoint, msgs[3].Receiver.P256dh, msgs[3].Receiver.Auth = "https://push.example/é", "p", "a"
		msgs[3].ForeignID = "user-3"
		if err := s.Insert(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		claim := func(ms []*messages.Message) []string {
			t.Helper()
			got, err := s.Claim(ctx, ids(ms), now, now.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			out := ids(got)
			sort.Strings(out)
			return out
		}
		// Part of the first chunk with part of the second.
		part := append(append([]*messages.Message{}, msgs[2:5]...), msgs[15])
		want := ids(part)
		sort.Strings(want)
		if got := claim(part); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("claimed %v, want %v", got, want)
		}
		m, err := s.Get(ctx, appID, bucketID, msgs[3].ID)
		if err != nil || m.Status != messages.Sending || m.ForeignID != "user-3" || m.Receiver.Endpoint != "https://push.example/é" || m.Receiver.Auth != "a" {
			t.Fatalf("claimed message: %+v, %v", m, err)
		}
		for _, i := range []int{0, 9, 14, 25} {
			if m, err := s.Get(ctx, appID, bucketID, msgs[i].ID); err != nil || m.Status != messages.Queued || m.Receiver.Token != "tok" {
				t.Fatalf("message %d: %+v, %v", i, m, err)
			}
		}
		if _, err := s.Get(ctx, appID, bucketID, pushgate.IDGroup(msgs[0].ID)+"0-8000-000000000000"); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("an id of the group that was never given: %v", err)
		}
		// The whole of both chunks: only the ones not yet claimed.
		if got := claim(msgs[:20]); len(got) != 16 {
			t.Fatalf("claimed %d of the first two chunks again, want 16", len(got))
		}
		if got := claim(msgs); len(got) != 10 {
			t.Fatalf("claimed %d in all, want the third chunk's 10", len(got))
		}
		if got := claim(msgs); len(got) != 0 {
			t.Fatalf("claimed %d twice", len(got))
		}
		if n := countMessages(t, db); n != 30 {
			t.Fatalf("%d messages stored, want 30", n)
		}
	})
}

// TestStaleChunks: the sweep gets about as many messages as it asks for,
// whole chunks at a time, and the next call the rest.
func TestStaleChunks(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		then := time.Now().UTC().Add(-time.Hour)
		if err := s.Insert(ctx, inChunks(newMessages(30, appID, bucketID, credID, ctxID, then), 10)); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		first, err := s.Stale(ctx, now, now.Add(-time.Minute), 15)
		if err != nil || len(first) < 15 || len(first) > 20 {
			t.Fatalf("Stale(15) = %d refs, %v", len(first), err)
		}
		if err := s.MarkEnqueued(ctx, refIDs(first), now); err != nil {
			t.Fatal(err)
		}
		rest, err := s.Stale(ctx, now, now.Add(-time.Minute), 100)
		if err != nil || len(first)+len(rest) != 30 {
			t.Fatalf("then Stale = %d refs, %v; want the other %d", len(rest), err, 30-len(first))
		}
		seen := map[string]bool{}
		for _, r := range append(first, rest...) {
			if seen[r.ID] || r.BucketID != bucketID || r.CredentialID != credID || r.ContextID != ctxID {
				t.Fatalf("ref %+v repeated or wrong", r)
			}
			seen[r.ID] = true
		}
	})
}

func refIDs(refs []messages.Ref) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.ID
	}
	return out
}

// TestLeasedChunks follows a chunk claimed whole by one task: a result
// must carry its message; the worker dies after storing some results, and
// the sweep and the next claim give back only the others, with the unknown
// attempt counted; a client report in the middle moves the rest into
// messages and the results still land; in the end every message is stored
// once; and results that come after their bucket was deleted store nothing.
func TestLeasedChunks(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		now := time.Now().UTC().Truncate(time.Millisecond)
		msgs := inChunks(newMessages(10, appID, bucketID, credID, ctxID, now), 10)
		if err := s.Insert(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		claimed, err := s.Claim(ctx, ids(msgs), now, now.Add(time.Minute))
		if err != nil || len(claimed) != 10 {
			t.Fatalf("claim: %d, %v", len(claimed), err)
		}
		if m, err := s.Get(ctx, appID, bucketID, msgs[5].ID); err != nil || m.Status != messages.Sending || m.Attempts != 0 {
			t.Fatalf("a claimed message reads %+v, %v", m, err)
		}
		bare := []messages.Result{{Status: messages.Sent, Attempts: 1, At: now}}
		if err := s.Finish(ctx, bare); err == nil {
			t.Fatal("Finish took a result without its message")
		}
		byID := map[string]*messages.Message{}
		for _, m := range claimed {
			byID[m.ID] = m
		}
		// Three results stored, then the worker dies.
		if err := s.Finish(ctx, resultsFor([]*messages.Message{byID[msgs[0].ID], byID[msgs[1].ID], byID[msgs[2].ID]}, now.Add(time.Second))); err != nil {
			t.Fatal(err)
		}
		later := now.Add(2 * time.Minute)
		refs, err := s.Stale(ctx, later, now.Add(-time.Minute), 100)
		if err != nil || len(refs) != 7 {
			t.Fatalf("Stale after the lease ended = %d refs, %v; want the 7 without a result", len(refs), err)
		}
		again, err := s.Claim(ctx, ids(msgs), later, later.Add(time.Minute))
		if err != nil || len(again) != 7 {
			t.Fatalf("claim again: %d, %v; want 7", len(again), err)
		}
		for _, m := range again {
			if m.Attempts != 1 {
				t.Fatalf("re-claimed message has %d attempts, want 1", m.Attempts)
			}
		}
		// An app reports message 9 delivered before its result is stored.
		found, err := db.Webhooks().RecordClientEvents(ctx, []webhooks.ClientEvent{{EventID: pushgate.NewID(), ContextID: ctxID, MessageID: msgs[9].ID,
			Kind: webhooks.Delivered, At: later.Add(time.Second)}})
		if err != nil || !found[0] {
			t.Fatalf("report: %v, %v", found, err)
		}
		if err := s.Finish(ctx, resultsFor(again, later.Add(2*time.Second))); err != nil {
			t.Fatal(err)
		}
		for i, m := range msgs {
			got, err := s.Get(ctx, appID, bucketID, m.ID)
			if err != nil || got.Status != messages.Sent {
				t.Fatalf("message %d: %+v, %v", i, got, err)
			}
			if i == 9 && got.DeliveredAt.IsZero() {
				t.Fatal("the report was lost")
			}
		}
		if n := countMessages(t, db); n != 10 {
			t.Fatalf("%d messages stored, want 10", n)
		}
		if got, _ := s.Claim(ctx, ids(msgs), later, later.Add(time.Minute)); len(got) != 0 {
			t.Fatalf("claimed %d finished messages", len(got))
		}

		// A bucket deleted while its chunk is out.
		gone := inChunks(newMessages(5, appID, bucketID, credID, ctxID, now), 5)
		if err := s.Insert(ctx, gone); err != nil {
			t.Fatal(err)
		}
		out, err := s.Claim(ctx, ids(gone), now, now.Add(time.Minute))
		if err != nil || len(out) != 5 {
			t.Fatalf("claim: %d, %v", len(out), err)
		}
		if err := db.Buckets().DeleteBucket(ctx, appID, bucketID); err != nil {
			t.Fatal(err)
		}
		if err := s.Finish(ctx, resultsFor(out, now.Add(time.Second))); err != nil {
			t.Fatal(err)
		}
		if n := countMessages(t, db); n != 0 {
			t.Fatalf("%d messages of a deleted bucket stored", n)
		}
	})
}

// onPostgres runs fn on a fresh PostgreSQL database, or skips: chunks of
// the old id scheme exist only there (SQLite's outbox is younger).
func onPostgres(t *testing.T, fn func(t *testing.T, db *sqlstore.DB)) {
	t.Helper()
	u, ok := testenv.PostgresURL(t)
	if !ok {
		t.Skip("PUSHGATE_TEST_DATABASE_URL is not set")
	}
	fn(t, testenv.OpenDB(t, u))
}

// oldSchemeIDs returns n ids as nodes made them before ids kept 66 bits of
// their own: one group shares the first 28 characters, the last 8 differ.
func oldSchemeIDs(n int) []string {
	return oldSchemeIDsAt(pushgate.NewID()[:28], n)
}

// oldSchemeIDsAt returns n old-scheme ids that start with prefix (28
// characters).
func oldSchemeIDsAt(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + pushgate.NewID()[28:]
	}
	return out
}

// TestOutboxKeys: a task's ids of one new group cost one outbox key, not
// one more per id; ids that look like an old-scheme chunk (sharing 28
// characters), and a lone id, still get their old key too.
func TestOutboxKeys(t *testing.T) {
	group := pushgate.NewIDGroup(500)
	if keys := sqlstore.OutboxKeys(group); len(keys) != 1 || keys[0] != pushgate.IDGroup(group[0]) {
		t.Fatalf("keys of a new group of 500: %d %v, want its IDGroup alone", len(keys), keys[:min(3, len(keys))])
	}
	old := oldSchemeIDs(5)
	if keys := sqlstore.OutboxKeys(old); fmt.Sprint(keys) != fmt.Sprint([]string{old[0][:17], old[0][:28]}) {
		t.Fatalf("keys of an old-scheme chunk: %v", keys)
	}
	if keys := sqlstore.OutboxKeys(group[7:8]); fmt.Sprint(keys) != fmt.Sprint([]string{group[7][:17], group[7][:28]}) {
		t.Fatalf("keys of one id: %v", keys)
	}
	// Two old chunks of one millisecond share 17 characters: a sweep's task
	// can carry both, and each keeps its key.
	other := oldSchemeIDsAt(old[0][:17]+pushgate.NewID()[17:28], 3)
	keys := sqlstore.OutboxKeys(append(append([]string{}, old...), other...))
	sort.Strings(keys)
	want := []string{old[0][:17], old[0][:28], other[0][:28]}
	sort.Strings(want)
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("keys of two old chunks of one group: %v, want %v", keys, want)
	}
}

// TestOldSchemeChunksSharingAGroup: old-scheme chunks whose ids share their
// first 17 characters (made in one millisecond) are claimed together, in
// part, and reported on, though outboxKeys gives their ids fewer keys.
func TestOldSchemeChunksSharingAGroup(t *testing.T) {
	onPostgres(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		then := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
		base := pushgate.NewID()[:17]
		chunk := func(n int) []*messages.Message {
			t.Helper()
			msgs := newMessages(n, appID, bucketID, credID, ctxID, then)
			for i, id := range oldSchemeIDsAt(base+pushgate.NewID()[17:28], n) {
				msgs[i].ID = id
			}
			if err := sqlstore.InsertOldSchemeChunk(ctx, db, msgs); err != nil {
				t.Fatal(err)
			}
			return msgs
		}
		now := time.Now().UTC()
		// Whole chunks in one task, as the sweep enqueues them.
		a, b := chunk(5), chunk(5)
		if got, err := s.Claim(ctx, ids(append(append([]*messages.Message{}, a...), b...)), now, now.Add(time.Minute)); err != nil || len(got) != 10 {
			t.Fatalf("claim of two whole old chunks of one group: %d, %v", len(got), err)
		}
		// One message of each of two chunks.
		c, d := chunk(3), chunk(3)
		if got, err := s.Claim(ctx, []string{c[1].ID, d[2].ID}, now, now.Add(time.Minute)); err != nil || len(got) != 2 {
			t.Fatalf("claim of one message of each of two old chunks: %d, %v", len(got), err)
		}
		for _, m := range []*messages.Message{c[0], c[2], d[0], d[1]} {
			if got, err := s.Get(ctx, appID, bucketID, m.ID); err != nil || got.Status != messages.Queued {
				t.Fatalf("the rest of a chunk claimed in part: %+v, %v", got, err)
			}
		}
		// Reports on one message of each of two chunks, in one call.
		e, f := chunk(2), chunk(2)
		var events []webhooks.ClientEvent
		for _, m := range []*messages.Message{e[0], f[1]} {
			events = append(events, webhooks.ClientEvent{EventID: pushgate.NewID(), ContextID: ctxID, MessageID: m.ID, Kind: webhooks.Delivered, At: now})
		}
		if found, err := db.Webhooks().RecordClientEvents(ctx, events); err != nil || !found[0] || !found[1] {
			t.Fatalf("reports on two old chunks of one group: %v, %v", found, err)
		}
	})
}

// TestOldSchemeChunks: chunks an older node left in the outbox (keyed by
// 28 characters) are still read, reported on, swept, claimed, finished and
// deleted with their bucket by an upgraded node.
func TestOldSchemeChunks(t *testing.T) {
	onPostgres(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		then := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
		chunk := func(bucketID string, n int) []*messages.Message {
			t.Helper()
			msgs := newMessages(n, appID, bucketID, credID, ctxID, then)
			for i, id := range oldSchemeIDs(n) {
				msgs[i].ID, msgs[i].ForeignID, msgs[i].Receiver.ForeignID = id, fmt.Sprintf("user-%d", i), fmt.Sprintf("user-%d", i)
			}
			if err := sqlstore.InsertOldSchemeChunk(ctx, db, msgs); err != nil {
				t.Fatal(err)
			}
			return msgs
		}
		a, b := chunk(bucketID, 5), chunk(bucketID, 5)
		if m, err := s.Get(ctx, appID, bucketID, a[2].ID); err != nil || m.Status != messages.Queued || m.ForeignID != "user-2" {
			t.Fatalf("status of an old-scheme message: %+v, %v", m, err)
		}
		found, err := db.Webhooks().RecordClientEvents(ctx, []webhooks.ClientEvent{{EventID: pushgate.NewID(), ContextID: ctxID, MessageID: b[1].ID,
			Kind: webhooks.Delivered, At: time.Now().UTC()}})
		if err != nil || !found[0] {
			t.Fatalf("report on an old-scheme message: %v, %v", found, err)
		}
		now := time.Now().UTC()
		refs, err := s.Stale(ctx, now, now.Add(-time.Minute), 100)
		if err != nil || len(refs) != 10 {
			t.Fatalf("Stale = %d refs, %v; want the 10 old-scheme messages", len(refs), err)
		}
		if err := s.MarkEnqueued(ctx, ids(a), now); err != nil {
			t.Fatal(err)
		}
		if refs, _ := s.Stale(ctx, now, now.Add(-time.Minute), 100); len(refs) != 5 {
			t.Fatalf("Stale after marking a chunk enqueued = %d refs, want 5", len(refs))
		}
		for _, msgs := range [][]*messages.Message{a, b} {
			claimed, err := s.Claim(ctx, ids(msgs), now, now.Add(time.Minute))
			if err != nil || len(claimed) != len(msgs) {
				t.Fatalf("claim of an old-scheme chunk: %d, %v", len(claimed), err)
			}
			if err := s.Finish(ctx, resultsFor(claimed, now.Add(time.Second))); err != nil {
				t.Fatal(err)
			}
		}
		for i, m := range append(a, b...) {
			got, err := s.Get(ctx, appID, bucketID, m.ID)
			if err != nil || got.Status != messages.Sent || got.ForeignID != m.ForeignID {
				t.Fatalf("message %d after its result: %+v, %v", i, got, err)
			}
		}
		if n := countMessages(t, db); n != 10 {
			t.Fatalf("%d messages stored, want 10", n)
		}
		// A bucket deleted with an old-scheme chunk out.
		_, other, _, _ := newBucket(t, db)
		chunk(other, 3)
		if err := db.Buckets().DeleteBucket(ctx, appID, bucketID); err != nil {
			t.Fatal(err)
		}
		var left int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&left); err != nil || left != 1 {
			t.Fatalf("outbox rows after deleting the bucket: %d, %v; want the other bucket's 1", left, err)
		}
	})
}

// TestIDGroupCollision: a chunk whose IDGroup is already in the outbox (two
// nodes made a group in the same millisecond with the same counter) is
// refused whole with ErrIDTaken, so the sender can make new ids.
func TestIDGroupCollision(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		now := time.Now().UTC()
		first := inChunks(newMessages(3, appID, bucketID, credID, ctxID, now), 3)
		if err := s.Insert(ctx, first); err != nil {
			t.Fatal(err)
		}
		second := inChunks(newMessages(4, appID, bucketID, credID, ctxID, now), 2)
		for _, m := range second[2:] {
			m.ID = pushgate.IDGroup(first[0].ID) + m.ID[len(pushgate.IDGroup(m.ID)):]
		}
		if err := s.Insert(ctx, second); !errors.Is(err, messages.ErrIDTaken) {
			t.Fatalf("insert of a group already in the outbox: %v, want ErrIDTaken", err)
		}
		if n := countMessages(t, db); n != 3 {
			t.Fatalf("%d messages stored, want only the first send's 3", n)
		}
	})
}

// TestFinishRefusedData: a vendor's error text is stored whatever it holds
// (cut on a character boundary, NUL and invalid UTF-8 replaced), and a
// result the database refuses for its data says so with ErrUnstorable, so
// the worker can store the others without it.
func TestFinishRefusedData(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		s := db.Messages()
		appID, bucketID, credID, ctxID := newBucket(t, db)
		now := time.Now().UTC()
		msgs := inChunks(newMessages(3, appID, bucketID, credID, ctxID, now), 3)
		msgs[2].ForeignID, msgs[2].Receiver.ForeignID = "bad\x00id", "bad\x00id"
		if err := s.Insert(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		claimed, err := s.Claim(ctx, ids(msgs), now, now.Add(time.Minute))
		if err != nil || len(claimed) != 3 {
			t.Fatalf("claim: %d, %v", len(claimed), err)
		}
		byID := map[string]*messages.Message{}
		for _, m := range claimed {
			byID[m.ID] = m
		}
		results := []messages.Result{
			{Message: byID[msgs[0].ID], Status: messages.Failed, Reason: "invalid_payload", Error: "a" + strings.Repeat("é", 600), Attempts: 1, At: now},
			{Message: byID[msgs[1].ID], Status: messages.Failed, Reason: "invalid_payload", Error: "vendor said \x00 and \xff", Attempts: 1, At: now},
		}
		if err := s.Finish(ctx, results); err != nil {
			t.Fatalf("results with odd error texts: %v", err)
		}
		for i, m := range msgs[:2] {
			got, err := s.Get(ctx, appID, bucketID, m.ID)
			if err != nil || got.Status != messages.Failed || !utf8.ValidString(got.LastError) || strings.ContainsRune(got.LastError, 0) || len(got.LastError) > 1000 {
				t.Fatalf("message %d: %+v, %v", i, got, err)
			}
		}
		// SQLite holds a NUL, and so does a PostgreSQL chunk's row (bytea).
		if err := s.Finish(ctx, resultsFor([]*messages.Message{byID[msgs[2].ID]}, now)); err != nil {
			t.Fatalf("a foreign id with a NUL: %v", err)
		}
		if got, err := s.Get(ctx, appID, bucketID, msgs[2].ID); err != nil || got.Status != messages.Sent {
			t.Fatalf("the message with a NUL in its foreign id: %+v, %v", got, err)
		}
		// A report moves the chunk into messages on PostgreSQL, its texts
		// made storable there.
		found, err := db.Webhooks().RecordClientEvents(ctx, []webhooks.ClientEvent{{EventID: pushgate.NewID(), ContextID: ctxID, MessageID: msgs[2].ID,
			Kind: webhooks.Delivered, At: now.Add(time.Second)}})
		if err != nil || !found[0] {
			t.Fatalf("report on the message with a NUL in its foreign id: %v, %v", found, err)
		}
		if got, err := s.Get(ctx, appID, bucketID, msgs[2].ID); err != nil || got.Status != messages.Sent || got.DeliveredAt.IsZero() {
			t.Fatalf("the message with a NUL in its foreign id after a report: %+v, %v", got, err)
		}
	})
}

// TestResultEventOfEveryStatus checks webhooks.ResultEvent, which spells
// the statuses of package messages without importing it, against them: a
// final status makes an event (sent, or failed with the reason), any
// other makes none.
func TestResultEventOfEveryStatus(t *testing.T) {
	want := map[messages.Status]webhooks.Kind{messages.Sent: webhooks.Sent, messages.Failed: webhooks.Failed, messages.Expired: webhooks.Failed}
	for _, s := range []messages.Status{messages.Queued, messages.Sending, messages.Sent, messages.Failed, messages.Expired} {
		e, ok := webhooks.ResultEvent(string(s), "why")
		if ok != s.Final() || e.Kind != want[s] {
			t.Errorf("ResultEvent(%q) = %q, %v; want %q, %v", s, e.Kind, ok, want[s], s.Final())
		}
		if wantReason := map[bool]string{true: "why"}[e.Kind == webhooks.Failed]; e.Reason != wantReason || e.Action != "" {
			t.Errorf("ResultEvent(%q) carries reason %q and action %q, want %q and none", s, e.Reason, e.Action, wantReason)
		}
	}
}
