package delivery_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

// lostAnswerStore stores what it is given, then loses the answer of its
// first lost writes that stored something: the caller sees an error, as
// when a connection breaks after the commit.
type lostAnswerStore struct {
	messages.Store
	mu       sync.Mutex
	lost     int // answers still to lose
	rewrites int // results handed again, marked so
}

func (s *lostAnswerStore) Finish(ctx context.Context, results []messages.Result) error {
	err := s.Store.Finish(ctx, results)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range results {
		if r.Rewrite {
			s.rewrites++
		}
	}
	if err == nil && s.lost > 0 {
		s.lost--
		return errors.New("finish messages: connection reset by peer")
	}
	return err
}

// sentEvents returns how many sent events the bucket's webhook events hold
// for each message.
func sentEvents(t *testing.T, db *sqlstore.DB, appID, bucketID string) map[string]int {
	t.Helper()
	ctx := context.Background()
	out := map[string]int{}
	for {
		id := pushgate.NewID()
		n, err := db.Webhooks().CreateBatch(ctx, webhooks.NewBatch{ID: id, AppID: appID, BucketID: bucketID, Max: 1000, CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return out
		}
		events, err := db.Webhooks().BatchEvents(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if e.Kind == webhooks.Sent {
				out[e.MessageID]++
			}
		}
	}
}

// A write of results whose commit landed but whose answer was lost is
// tried again marked as a rewrite (issue 18): the store, which reads
// nothing back for a first write, looks for what it has and stores
// nothing twice: one status each, one sent event each, nothing sent again.
func TestLostAnswerRewrittenOnce(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		r := newRig(t, db, delivery.Options{MaxAttempts: 3, Lease: time.Minute})
		ids := r.insertChunk("user-0", "user-1", "user-2", "user-3", "user-4")
		q := `UPDATE buckets SET has_callback = TRUE WHERE id = $1`
		if db.Dialect == sqlstore.SQLite {
			q = `UPDATE buckets SET has_callback = TRUE WHERE id = ?`
		}
		if _, err := db.ExecContext(context.Background(), q, r.bucket.ID); err != nil {
			t.Fatal(err)
		}
		store := &lostAnswerStore{Store: db.Messages(), lost: 1}
		r.store = store
		r.startWorker()
		r.sweep()
		r.waitSentOnce(ids)
		// The lost write's commit already shows them sent: wait for the
		// write tried again, then count.
		var lost, rewrites int
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			store.mu.Lock()
			lost, rewrites = store.lost, store.rewrites
			store.mu.Unlock()
			if rewrites > 0 || time.Now().After(deadline) {
				break
			}
		}
		if lost != 0 || rewrites == 0 {
			t.Fatalf("%d answers left to lose, %d results rewritten: the test proves nothing", lost, rewrites)
		}
		events := sentEvents(t, db, r.bucket.AppID, r.bucket.ID)
		for i, id := range ids {
			if events[id] != 1 {
				t.Errorf("message %d: %d sent events, want 1", i, events[id])
			}
		}
		r.clock.Jump(10 * time.Minute)
		if n := r.sweep(); n != 0 {
			t.Fatalf("a later sweep enqueued %d messages again", n)
		}
	})
}
