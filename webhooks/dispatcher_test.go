package webhooks_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

func TestBodyAndHeadersAreCOREsAndSigned(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{})
		e.setTarget(e.bucketID, &webhooks.Target{URL: e.cons.srv.URL + "/hook?x=1", Secret: e.cons.secret,
			Headers: map[string]string{"X-Secret": "keyboard cat", "Content-Type": "text/plain", "webhook-id": "forged"}})
		at := time.UnixMilli(1_700_000_000_123).UTC()
		ids := []string{pushgate.NewID(), pushgate.NewID(), pushgate.NewID()}
		e.record(
			webhooks.Event{MessageID: ids[0], ForeignID: "user-1", Kind: webhooks.Sent, At: at},
			webhooks.Event{MessageID: ids[1], ForeignID: "user-2", Kind: webhooks.Failed, Reason: "unregistered", Action: "ignored", At: at.Add(1 * time.Millisecond)},
			webhooks.Event{MessageID: ids[0], ForeignID: "user-1", Kind: webhooks.Delivered, At: at.Add(2 * time.Millisecond)},
			webhooks.Event{MessageID: ids[0], ForeignID: "user-1", Kind: webhooks.Clicked, Action: "open", Reason: "ignored", At: at.Add(3 * time.Millisecond)},
			webhooks.Event{MessageID: ids[2], Kind: webhooks.Clicked, At: at.Add(4 * time.Millisecond)},
			webhooks.Event{MessageID: ids[0], ForeignID: "user-1", Kind: webhooks.Close, At: at.Add(5 * time.Millisecond)},
		)
		e.flush()
		e.dispatch()

		got := e.cons.all()
		if len(got) != 1 {
			t.Fatalf("consumer got %d requests, want 1", len(got))
		}
		r := got[0]
		want := `{"messages":[` +
			`{"messageId":"` + ids[0] + `","foreignId":"user-1","result":{"kind":"sent"},"ts":1700000000123},` +
			`{"messageId":"` + ids[1] + `","foreignId":"user-2","result":{"kind":"failed","reason":"unregistered"},"ts":1700000000124},` +
			`{"messageId":"` + ids[0] + `","foreignId":"user-1","result":{"kind":"delivered"},"ts":1700000000125},` +
			`{"messageId":"` + ids[0] + `","foreignId":"user-1","result":{"kind":"clicked","action":"open"},"ts":1700000000126},` +
			`{"messageId":"` + ids[2] + `","foreignId":"","result":{"kind":"clicked"},"ts":1700000000127},` +
			`{"messageId":"` + ids[0] + `","foreignId":"user-1","result":{"kind":"close"},"ts":1700000000128}]}`
		if string(r.Body) != want {
			t.Fatalf("body:\n got %s\nwant %s", r.Body, want)
		}
		b := e.batches()[0]
		if r.ID != b.ID {
			t.Fatalf("webhook-id = %q, want the batch id %q", r.ID, b.ID)
		}
		if r.Timestamp != strconv.FormatInt(e.clock.Now().Unix(), 10) {
			t.Fatalf("webhook-timestamp = %q, want the attempt's time %d", r.Timestamp, e.clock.Now().Unix())
		}
		if err := e.cons.hook.Verify(r.Body, r.Header); err != nil {
			t.Fatalf("webhook-signature %q does not verify: %v", r.Header.Get("webhook-signature"), err)
		}
		if r.Header.Get("X-Secret") != "keyboard cat" || r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("headers = %v, want the bucket's X-Secret and JSON content", r.Header)
		}
		if b.Events != 6 || b.Status != webhooks.StatusDelivered {
			t.Fatalf("batch = %+v", b)
		}
	})
}

func TestRetriesKeepTheWebhookID(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{dispatcher: webhooks.DispatcherOptions{Timeout: 200 * time.Millisecond}})
		// 500, a timeout, 503, then the consumer recovers.
		e.cons.setAnswer(func(n int) int { return []int{500, 0, 503, 200, 200}[min(n, 4)] })
		evs := sent(3)
		e.record(evs...)
		e.clock.Advance(5 * time.Second)
		e.flush()

		for attempt := 1; attempt <= 4; attempt++ {
			if n := e.dispatch(); n != 1 {
				t.Fatalf("attempt %d: dispatched %d batches, want 1", attempt, n)
			}
			b := e.batches()[0]
			if b.Attempts != attempt {
				t.Fatalf("after attempt %d the batch counts %d", attempt, b.Attempts)
			}
			if attempt == 4 {
				break
			}
			if b.Status != webhooks.StatusPending || !b.NextAttemptAt.After(e.clock.Now()) || b.LastError == "" {
				t.Fatalf("after failed attempt %d: %+v, want pending, due later, with the error", attempt, b)
			}
			if attempt == 2 && (b.LastStatusCode != 0 || !strings.Contains(b.LastError, "no answer")) {
				t.Fatalf("after a timeout: %+v, want no status code and a timeout error", b)
			}
			// The default minimum backoff is 5 s, less up to half of jitter.
			if wait := b.NextAttemptAt.Sub(e.clock.Now()); wait < 2500*time.Millisecond {
				t.Fatalf("retry %v after failed attempt %d, want at least 2.5 s", wait, attempt)
			}
			// Not due yet: nothing happens.
			if n := e.dispatch(); n != 0 {
				t.Fatal("a batch was retried before it was due")
			}
			e.clock.Set(b.NextAttemptAt)
		}
		got := e.cons.all()
		if len(got) != 4 {
			t.Fatalf("consumer got %d requests, want 4", len(got))
		}
		for _, r := range got {
			if r.ID != got[0].ID {
				t.Fatalf("webhook-ids %q and %q differ across retries of one batch", got[0].ID, r.ID)
			}
		}
		if got[0].Timestamp == got[3].Timestamp {
			t.Fatal("every retry carries the first attempt's timestamp")
		}
		b := e.batches()[0]
		if b.Status != webhooks.StatusDelivered || b.LastStatusCode != 200 || b.LastError != "" || len(got[3].Messages) != 3 {
			t.Fatalf("after the consumer recovered: %+v with %d messages", b, len(got[3].Messages))
		}
	})
}

func TestDeadLetterAfterRetryPeriodThenRedeliver(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{dispatcher: webhooks.DispatcherOptions{RetryFor: 24 * time.Hour}})
		e.cons.loose = true
		e.cons.setAnswer(func(int) int { return http.StatusInternalServerError })
		e.record(sent(2)...)
		e.clock.Advance(5 * time.Second)
		e.flush()
		created := e.batches()[0].CreatedAt

		var b *webhooks.Batch
		for i := 0; ; i++ {
			if i > 200 {
				t.Fatal("still retrying after 200 attempts")
			}
			e.dispatch()
			b = e.batches()[0]
			if b.Status != webhooks.StatusPending {
				break
			}
			e.clock.Set(b.NextAttemptAt)
		}
		if b.Status != webhooks.StatusDead {
			t.Fatalf("batch = %+v, want dead", b)
		}
		if e.clock.Now().Before(created.Add(24 * time.Hour)) {
			t.Fatalf("dead at %v, before the 24 h retry period ended at %v", e.clock.Now(), created.Add(24*time.Hour))
		}
		// Waits that double from 5 s up to 1 h fit a day in a few dozen
		// attempts: thousands would mean no backoff, a handful no cap.
		if b.Attempts < 20 || b.Attempts > 100 || b.Attempts != len(e.cons.all()) {
			t.Fatalf("dead after %d attempts (consumer saw %d), want 20 to 100 over 24 h", b.Attempts, len(e.cons.all()))
		}
		if b.LastStatusCode != 500 || !strings.Contains(b.LastError, "500") {
			t.Fatalf("dead batch = %+v, want the last 500 and its error", b)
		}
		if n := e.dispatch(); n != 0 {
			t.Fatal("a dead batch was attempted again")
		}

		// The consumer is fixed; the backend asks for the batch again.
		e.cons.setAnswer(nil)
		ctx := context.Background()
		again, err := e.disp.Redeliver(ctx, e.appID, e.bucketID, b.ID)
		if err != nil || again.Status != webhooks.StatusPending {
			t.Fatalf("Redeliver = %+v, %v", again, err)
		}
		if _, err := e.disp.Redeliver(ctx, e.appID, e.bucketID, b.ID); pushgate.ErrorCode(err) != pushgate.ECONFLICT {
			t.Fatalf("Redeliver of a pending batch: %v, want conflict", err)
		}
		e.dispatch()
		got := e.cons.accepted()
		if len(got) != 1 || got[0].ID != b.ID || e.batch(b.ID).Status != webhooks.StatusDelivered {
			t.Fatalf("after Redeliver: %d accepted, batch %+v", len(got), e.batch(b.ID))
		}
		// A delivered batch can be asked for again too, with the same id.
		if _, err := e.disp.Redeliver(ctx, e.appID, e.bucketID, b.ID); err != nil {
			t.Fatal(err)
		}
		e.dispatch()
		if got := e.cons.accepted(); len(got) != 2 || got[1].ID != b.ID || string(got[1].Body) != string(got[0].Body) {
			t.Fatalf("redelivery of a delivered batch: %d accepted", len(got))
		}
		if _, err := e.disp.Redeliver(ctx, pushgate.NewID(), e.bucketID, b.ID); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("Redeliver by another app: %v", err)
		}
		if _, err := e.disp.Redeliver(ctx, e.appID, e.bucketID, "nope"); pushgate.ErrorCode(err) != pushgate.ENOTFOUND {
			t.Fatalf("Redeliver of a malformed id: %v", err)
		}
	})
}

func TestRestartDeliversPersistedBatches(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			db1 := testenv.OpenDB(t, d.URL)
			e := newEnv(t, db1, envOptions{dispatcher: webhooks.DispatcherOptions{Timeout: 10 * time.Second}})
			// Two batches: one persisted and never tried, one whose POST
			// was under way when the process died.
			e.setTarget(e.bucketID, &webhooks.Target{URL: e.cons.srv.URL, Secret: e.cons.secret, BatchSize: 2})
			evs := sent(4)
			e.record(evs...)
			if n := e.flush(); n != 2 {
				t.Fatalf("made %d batches, want 2", n)
			}
			e.cons.setAnswer(func(n int) int {
				if n == 0 {
					return 0 // hang: the "crash" below cuts the request off
				}
				return 200
			})
			// The first process dies mid-POST: its dispatcher (one worker, so
			// it takes one batch) is cancelled while the consumer holds the
			// request, and nothing is recorded.
			crashed := e.newDispatcher(db1, webhooks.DispatcherOptions{Timeout: 10 * time.Second, Workers: 1})
			crashed.Start(context.Background())
			<-e.cons.received
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // no grace: the POST in flight is cut off
			_ = crashed.Shutdown(ctx)
			db1.Close()

			db2 := testenv.OpenDB(t, d.URL)
			// The batch that was in flight comes back when its lease ends.
			e.clock.Advance(2*10*time.Second + 30*time.Second)
			for range 2 {
				e.dispatchWith(db2, webhooks.DispatcherOptions{Timeout: 10 * time.Second})
			}
			got := e.cons.accepted()
			seen := messageIDs(got)
			for _, ev := range evs {
				if seen[ev.MessageID+"/sent"] != 1 {
					t.Fatalf("after the restart message %s arrived %d times, want once (accepted: %v)", ev.MessageID, seen[ev.MessageID+"/sent"], lens(got))
				}
			}
			all := e.cons.all()
			if all[0].Answer != 0 || !containsID(got, all[0].ID) {
				t.Fatalf("the batch cut off by the crash was not delivered with its webhook-id %s", all[0].ID)
			}
			list, err := db2.Webhooks().ListBatches(context.Background(), e.appID, e.bucketID, webhooks.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range list {
				if b.Status != webhooks.StatusDelivered {
					t.Fatalf("after the restart: %+v", b)
				}
			}
		})
	}
}

func containsID(rs []request, id string) bool {
	for _, r := range rs {
		if r.ID == id {
			return true
		}
	}
	return false
}

func TestCallbackURLCheckedAtSendTime(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{})
		for _, u := range []string{"ftp://example.com/hook", "/relative/hook", "http:///no-host", "mailto:a@example.com"} {
			e.setTarget(e.bucketID, &webhooks.Target{URL: u, Secret: e.cons.secret})
			e.record(sent(1)...)
			e.clock.Advance(5 * time.Second)
			e.flush()
			e.dispatch()
			b := e.batches()[0]
			if b.Status != webhooks.StatusDead || !strings.Contains(b.LastError, "URL") {
				t.Fatalf("batch to %q = %+v, want dead for its URL", u, b)
			}
		}
	})
}

// TestForbiddenAddressIsFinal: a callback whose name resolves to an address
// the SSRF guard refuses fails at once, saying so, instead of being retried
// for a day as if the consumer were down.
func TestForbiddenAddressIsFinal(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{})
		strict, err := pushgate.NewSSRFGuard("")
		if err != nil {
			t.Fatal(err)
		}
		e.client = &http.Client{Transport: strict.Transport()}
		// By name, as a callback that resolves inward would be.
		e.setTarget(e.bucketID, &webhooks.Target{URL: strings.Replace(e.cons.srv.URL, "127.0.0.1", "localhost", 1) + "/hook?token=secret", Secret: e.cons.secret})
		e.record(sent(1)...)
		e.clock.Advance(5 * time.Second)
		e.flush()
		e.dispatch()
		b := e.batches()[0]
		if b.Status != webhooks.StatusDead || !strings.Contains(b.LastError, "is a forbidden address") || strings.Contains(b.LastError, "secret") {
			t.Fatalf("batch to a loopback callback = %+v, want dead with a forbidden address and no URL", b)
		}
		if n := len(e.cons.all()); n != 0 {
			t.Fatalf("the consumer got %d requests", n)
		}
	})
}

func TestRedirectIsNotFollowed(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{})
		redirect := httptest.NewServer(http.RedirectHandler(e.cons.srv.URL, http.StatusFound))
		defer redirect.Close()
		e.setTarget(e.bucketID, &webhooks.Target{URL: redirect.URL, Secret: e.cons.secret})
		e.record(sent(1)...)
		e.clock.Advance(5 * time.Second)
		e.flush()
		e.dispatch()
		b := e.batches()[0]
		if b.Status != webhooks.StatusPending || b.LastStatusCode != http.StatusFound || len(e.cons.all()) != 0 {
			t.Fatalf("after a 302: %+v, consumer saw %d requests; want a failed attempt and nothing followed", b, len(e.cons.all()))
		}
	})
}

func TestBatchListing(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{flusher: webhooks.FlusherOptions{BatchSize: 1}})
		e.cons.setAnswer(func(n int) int { return []int{200, 418, 200}[n%3] })
		for range 3 {
			e.record(sent(1)...)
			e.clock.Advance(time.Millisecond)
			e.flush()
		}
		e.dispatch()
		ctx := context.Background()
		all, err := e.disp.Batches(ctx, e.appID, e.bucketID, webhooks.ListOptions{})
		if err != nil || len(all) != 3 {
			t.Fatalf("Batches = %d, %v", len(all), err)
		}
		var failed *webhooks.Batch
		for i, b := range all {
			if i > 0 && b.ID >= all[i-1].ID {
				t.Fatal("batches are not newest first")
			}
			if b.Status == webhooks.StatusPending {
				failed = b
			}
		}
		if failed == nil || failed.LastStatusCode != 418 || !strings.Contains(failed.LastError, "418") || failed.Attempts != 1 || failed.Events != 1 {
			t.Fatalf("the failed batch = %+v", failed)
		}
		pending, _ := e.disp.Batches(ctx, e.appID, e.bucketID, webhooks.ListOptions{Status: webhooks.StatusPending})
		if len(pending) != 1 || pending[0].ID != failed.ID {
			t.Fatalf("pending batches = %v", pending)
		}
		if _, err := e.disp.Batches(ctx, e.appID, e.bucketID, webhooks.ListOptions{Status: "lost"}); pushgate.ErrorCode(err) != pushgate.EINVALID {
			t.Fatalf("unknown status filter: %v", err)
		}
		page, _ := e.disp.Batches(ctx, e.appID, e.bucketID, webhooks.ListOptions{Limit: 2})
		rest, _ := e.disp.Batches(ctx, e.appID, e.bucketID, webhooks.ListOptions{Before: page[1].ID})
		if len(page) != 2 || len(rest) != 1 || rest[0].ID != all[2].ID {
			t.Fatalf("pages = %d + %d", len(page), len(rest))
		}
		// Finished batches go after Retain; the pending one stays.
		e.clock.Advance(8 * 24 * time.Hour)
		if n, err := e.disp.Prune(ctx); err != nil || n != 2 {
			t.Fatalf("Prune = %d, %v; want the 2 delivered batches", n, err)
		}
		if left, _ := e.disp.Batches(ctx, e.appID, e.bucketID, webhooks.ListOptions{}); len(left) != 1 || left[0].ID != failed.ID {
			t.Fatalf("after pruning: %d batches", len(left))
		}
	})
}

func TestNewDispatcherNeedsAClient(t *testing.T) {
	if _, err := webhooks.NewDispatcher(nil, nil, nil, webhooks.DispatcherOptions{}); err == nil {
		t.Fatal("NewDispatcher without an http.Client succeeded")
	}
}

// A failed attempt's error is shown in batch listings: it must not carry
// the credentials of the callback URL.
func TestAttemptErrorsHideURLCredentials(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{})
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close() // nothing listens there any more
		u := strings.Replace(gone.URL, "http://", "http://hookuser:pa55word@", 1) + "/in?token=s3cr3t#frag"
		e.setTarget(e.bucketID, &webhooks.Target{URL: u, Secret: e.cons.secret})
		e.record(sent(1)...)
		e.clock.Advance(5 * time.Second)
		e.flush()
		e.dispatch()
		b := e.batches()[0]
		if b.LastError == "" || b.Status != webhooks.StatusPending {
			t.Fatalf("batch %+v, want a failed attempt", b)
		}
		for _, secret := range []string{"hookuser", "pa55word", "s3cr3t", "frag"} {
			if strings.Contains(b.LastError, secret) {
				t.Errorf("last error %q shows %q", b.LastError, secret)
			}
		}
	})
}

func TestTargetIsLookedUpOncePerBatch(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{})
		e.setTarget(e.bucketID, &webhooks.Target{URL: e.cons.srv.URL, Secret: e.cons.secret, BatchSize: 2})
		var lookups atomic.Int32
		counted := webhooks.TargetsFunc(func(ctx context.Context, appID, bucketID string) (*webhooks.Target, error) {
			lookups.Add(1)
			return e.target(ctx, appID, bucketID)
		})
		d, err := webhooks.NewDispatcher(db.Webhooks(), counted, e.cons.srv.Client(), webhooks.DispatcherOptions{Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		fl := webhooks.NewFlusher(db.Webhooks(), counted, webhooks.FlusherOptions{Now: e.clock.Now, OnBatch: d.Handoff})
		e.record(sent(4)...)
		if n, err := fl.FlushOnce(context.Background()); n != 2 || err != nil {
			t.Fatalf("FlushOnce = %d, %v; want 2 batches", n, err)
		}
		runOnce(t, d)
		if got := len(e.cons.accepted()); got != 2 {
			t.Fatalf("consumer accepted %d batches, want 2", got)
		}
		if n := lookups.Load(); n != 1 {
			t.Fatalf("batching and sending two batches of one bucket looked its target up %d times, want once", n)
		}
	})
}

// failingFinish fails the first fail writes of an attempt's outcome, as a
// database that restarts just after the POST would.
type failingFinish struct {
	webhooks.Store
	fail, calls atomic.Int32
}

func (f *failingFinish) FinishAttempt(ctx context.Context, o webhooks.Outcome) error {
	if f.calls.Add(1) <= f.fail.Load() {
		return errors.New("connection refused")
	}
	return f.Store.FinishAttempt(ctx, o)
}

// dispatchFailing records n sent events, batches them, and runs one round
// of a Dispatcher with options o over st.
func (e *env) dispatchFailing(st *failingFinish, n int, o webhooks.DispatcherOptions) {
	e.t.Helper()
	e.record(sent(n)...)
	e.clock.Advance(5 * time.Second)
	e.flush()
	d, err := webhooks.NewDispatcher(st, webhooks.TargetsFunc(e.target), e.cons.srv.Client(), o)
	if err != nil {
		e.t.Fatal(err)
	}
	runOnce(e.t, d)
}

func TestOutcomeWrittenAgainAfterTheDatabaseReturns(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{})
		st := &failingFinish{Store: db.Webhooks()}
		st.fail.Store(2)
		e.dispatchFailing(st, 3, webhooks.DispatcherOptions{Now: e.clock.Now, RecordRetry: 10 * time.Millisecond})
		if n := st.calls.Load(); n != 3 {
			t.Fatalf("the outcome was written %d times, want 3 (two refused, then stored)", n)
		}
		b := e.batches()[0]
		if b.Status != webhooks.StatusDelivered || b.Attempts != 1 {
			t.Fatalf("after the database came back: %+v, want delivered at the first attempt", b)
		}
		// Delivered, so not POSTed again when its claim would have ended.
		e.clock.Advance(2*15*time.Second + 30*time.Second)
		if n := e.dispatch(); n != 0 || len(e.cons.all()) != 1 {
			t.Fatalf("after the claim's time: %d claimed, the consumer got %d POSTs; want 0 and 1", n, len(e.cons.all()))
		}
	})
}

func TestOutcomeGivenUpWhenTheClaimEnds(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		e := newEnv(t, db, envOptions{})
		st := &failingFinish{Store: db.Webhooks()}
		st.fail.Store(1 << 30)
		// Each retry moves the clock on by 10 s: three quarters of the 60 s
		// lease allow a few, then the Dispatcher gives up and the batch waits
		// for its lease as before.
		now := e.clock.Now().Add(5 * time.Second)
		clock := func() time.Time { return now.Add(time.Duration(st.calls.Load()) * 10 * time.Second) }
		e.dispatchFailing(st, 1, webhooks.DispatcherOptions{Now: clock, RecordRetry: time.Millisecond})
		if n := st.calls.Load(); n < 2 || n > 5 {
			t.Fatalf("the outcome was tried %d times, want a few within 45 s of the claim", n)
		}
		if b := e.batches()[0]; b.Status != webhooks.StatusPending {
			t.Fatalf("unrecorded attempt: %+v, want pending until its lease ends", b)
		}
	})
}
