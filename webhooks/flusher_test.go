package webhooks_test

import (
	"context"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

func TestBatchesBySizeThenAge(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{flusher: webhooks.FlusherOptions{BatchSize: 10}})
		evs := sent(25)
		for i := range evs {
			evs[i].At = e.clock.Now().Add(time.Duration(i-len(evs)) * time.Millisecond)
		}
		e.record(evs...)

		if n := e.flush(); n != 2 {
			t.Fatalf("25 events with batch size 10 made %d batches, want 2 full ones", n)
		}
		if n := e.flush(); n != 0 {
			t.Fatalf("the 5 left made a batch before they were 5 s old (%d)", n)
		}
		if n := e.dispatch(); n != 2 {
			t.Fatalf("dispatched %d batches, want 2", n)
		}
		got := e.cons.accepted()
		if len(got) != 2 || len(got[0].Messages) != 10 || len(got[1].Messages) != 10 {
			t.Fatalf("consumer got %d requests (%v), want 2 of 10 messages", len(got), lens(got))
		}

		e.clock.Advance(5 * time.Second)
		if n := e.flush(); n != 1 {
			t.Fatalf("5 s later the 5 left made %d batches, want 1", n)
		}
		e.dispatch()
		got = e.cons.accepted()
		if len(got) != 3 || len(got[2].Messages) != 5 {
			t.Fatalf("consumer got %v messages per request, want 10, 10, 5", lens(got))
		}
		seen := messageIDs(got)
		for _, ev := range evs {
			if seen[ev.MessageID+"/sent"] != 1 {
				t.Fatalf("message %s arrived %d times, want once", ev.MessageID, seen[ev.MessageID+"/sent"])
			}
		}
		// Oldest first: one batch holds the first ten events, in order (the
		// two full batches were POSTed at once, so either may come first).
		first := got[0]
		if first.Messages[0].MessageID != evs[0].MessageID {
			first = got[1]
		}
		for i, m := range first.Messages {
			if m.MessageID != evs[i].MessageID || m.ForeignID != evs[i].ForeignID {
				t.Fatalf("first batch message %d = %+v, want %s/%s", i, m, evs[i].MessageID, evs[i].ForeignID)
			}
		}
		for _, b := range e.batches() {
			if b.Status != webhooks.StatusDelivered || b.Attempts != 1 || b.LastStatusCode != 200 || b.DeliveredAt.IsZero() {
				t.Fatalf("batch after a 200 = %+v", b)
			}
		}
	})
}

func TestPerBucketBatchSettings(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{})
		// This bucket wants batches of 3, flushed after a minute.
		e.setTarget(e.bucketID, &webhooks.Target{URL: e.cons.srv.URL, Secret: e.cons.secret, BatchSize: 3, FlushAfter: time.Minute})
		e.record(sent(7)...)
		if n := e.flush(); n != 2 {
			t.Fatalf("7 events with the bucket's size 3 made %d batches, want 2", n)
		}
		e.clock.Advance(5 * time.Second)
		if n := e.flush(); n != 0 {
			t.Fatal("the global 5 s age applied to a bucket that asked for a minute")
		}
		e.clock.Advance(time.Minute)
		if n := e.flush(); n != 1 {
			t.Fatalf("after a minute the last event made %d batches, want 1", n)
		}
		counts := map[int]int{}
		for _, b := range e.batches() {
			counts[b.Events]++
		}
		if counts[3] != 2 || counts[1] != 1 {
			t.Fatalf("batch sizes = %v, want two of 3 and one of 1", counts)
		}
	})
}

func TestRepeatedClientEventsAreReportedOnce(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{})
		m := pushgate.NewID()
		ev := func(k webhooks.Kind, action string) webhooks.Event {
			return webhooks.Event{MessageID: m, ForeignID: "user-1", Kind: k, Action: action}
		}
		e.record(ev(webhooks.Sent, ""))
		e.record(ev(webhooks.Delivered, ""), ev(webhooks.Delivered, ""))
		e.record(ev(webhooks.Delivered, ""))
		e.clock.Advance(time.Second)
		e.record(ev(webhooks.Clicked, "buy"))
		e.record(ev(webhooks.Clicked, "later"), ev(webhooks.Close, ""), ev(webhooks.Close, ""))

		e.clock.Advance(5 * time.Second)
		e.flush()
		e.dispatch()
		// And once more after they were batched and delivered.
		e.record(ev(webhooks.Delivered, ""), ev(webhooks.Clicked, "again"))
		e.clock.Advance(5 * time.Second)
		e.flush()
		e.dispatch()

		got := e.cons.accepted()
		if len(got) != 1 {
			t.Fatalf("consumer got %d requests, want 1", len(got))
		}
		kinds := map[string]int{}
		for _, msg := range got[0].Messages {
			kinds[msg.Result.Kind]++
			if msg.Result.Kind == "clicked" && msg.Result.Action != "buy" {
				t.Fatalf("clicked reported with action %q, want the first click's %q", msg.Result.Action, "buy")
			}
		}
		want := map[string]int{"sent": 1, "delivered": 1, "clicked": 1, "close": 1}
		if len(kinds) != len(want) {
			t.Fatalf("kinds reported = %v, want each of %v once", kinds, want)
		}
		for k, n := range want {
			if kinds[k] != n {
				t.Fatalf("kinds reported = %v, want each of %v once", kinds, want)
			}
		}
	})
}

func TestBucketWithoutCallback(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{flusher: webhooks.FlusherOptions{BatchSize: 2}})
		e.record(sent(5)...)
		if n := e.flush(); n != 2 {
			t.Fatalf("made %d batches, want 2", n)
		}
		// The bucket is deleted (or its callback is none) from now on.
		e.setTarget(e.bucketID, nil)
		e.clock.Advance(time.Minute)
		if n := e.flush(); n != 0 {
			t.Fatalf("made %d batches for a bucket without a callback", n)
		}
		pending, err := e.store.PendingBuckets(context.Background(), 10)
		if err != nil || len(pending) != 0 {
			t.Fatalf("events of a bucket without a callback stay pending: %+v, %v", pending, err)
		}
		if n := e.dispatch(); n != 2 {
			t.Fatalf("dispatched %d, want the 2 batches", n)
		}
		for _, b := range e.batches() {
			if b.Status != webhooks.StatusDead || b.LastError == "" {
				t.Fatalf("batch of a bucket without a callback = %+v, want dead with a reason", b)
			}
		}
		if len(e.cons.all()) != 0 {
			t.Fatal("something was sent")
		}
	})
}

func TestRecordClientRefusesBadEvents(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{})
		m := pushgate.NewID()
		e.record(webhooks.Event{MessageID: m, Kind: webhooks.Sent})
		e.clock.Advance(time.Minute)
		e.flush() // the sent event is batched: what stays pending is what RecordClient stored
		for name, bad := range map[string]webhooks.ClientEvent{
			"unknown kind": {ContextID: e.ctxID, MessageID: m, Kind: "opened"},
			"sent":         {ContextID: e.ctxID, MessageID: m, Kind: webhooks.Sent},
			"no message":   {ContextID: e.ctxID, Kind: webhooks.Delivered},
			"long action":  {ContextID: e.ctxID, MessageID: m, Kind: webhooks.Clicked, Action: string(make([]byte, webhooks.MaxAction+1))},
		} {
			err := e.rec.RecordClient(context.Background(), bad)
			if pushgate.ErrorCode(err) != pushgate.EINVALID {
				t.Fatalf("%s: RecordClient = %v, want a validation error", name, err)
			}
		}
		if pending, _ := e.store.PendingBuckets(context.Background(), 10); len(pending) != 0 {
			t.Fatalf("a refused call stored events: %+v", pending)
		}
	})
}

func lens(rs []request) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = len(r.Messages)
	}
	return out
}
