package webhooks_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

// pipeline is the three parts running in the background, as the server
// runs them, with a real clock.
type pipeline struct {
	cons    *consumer
	db      *sqlstore.DB
	ctxID   string // the context of the messages
	appID   string
	buckets []string
	rec     *webhooks.Recorder
	fl      *webhooks.Flusher
	disp    *webhooks.Dispatcher
}

func startPipeline(tb testing.TB, db *sqlstore.DB, nBuckets int) *pipeline {
	tb.Helper()
	p := &pipeline{cons: newConsumer(tb), db: db, ctxID: pushgate.NewID()}
	targets := map[string]*webhooks.Target{}
	for range nBuckets {
		appID, bucketID := createBucket(tb, db)
		p.appID = appID
		p.buckets = append(p.buckets, bucketID)
		targets[bucketID] = &webhooks.Target{URL: p.cons.srv.URL, Secret: p.cons.secret}
	}
	lookup := webhooks.TargetsFunc(func(_ context.Context, _, bucketID string) (*webhooks.Target, error) {
		if t, ok := targets[bucketID]; ok {
			return t, nil
		}
		return nil, pushgate.NotFound("bucket")
	})
	store := db.Webhooks()
	var err error
	p.disp, err = webhooks.NewDispatcher(store, lookup, p.cons.srv.Client(), webhooks.DispatcherOptions{Interval: 50 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	p.fl = webhooks.NewFlusher(store, lookup, webhooks.FlusherOptions{FlushAfter: 100 * time.Millisecond, Interval: 20 * time.Millisecond, OnBatch: p.disp.Handoff})
	p.rec = webhooks.NewRecorder(store, webhooks.RecorderOptions{})
	p.rec.Start(context.Background())
	p.fl.Start(context.Background())
	p.disp.Start(context.Background())
	tb.Cleanup(func() { p.shutdown(tb) })
	return p
}

func (p *pipeline) shutdown(tb testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The order the server stops them in: no new events, then no new
	// batches, then no more POSTs.
	for _, s := range []interface{ Shutdown(context.Context) error }{p.rec, p.fl, p.disp} {
		if err := s.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	}
}

// waitForMessages waits until the consumer accepted n messages in all.
func (p *pipeline) waitForMessages(tb testing.TB, n int, limit time.Duration) {
	tb.Helper()
	deadline := time.After(limit)
	for {
		got := 0
		for _, r := range p.cons.accepted() {
			got += len(r.Messages)
		}
		if got >= n {
			return
		}
		select {
		case <-p.cons.received:
		case <-deadline:
			tb.Fatalf("the consumer got %d of %d messages in %s", got, n, limit)
		}
	}
}

// produce stores n sent events spread over the buckets, in chunks of
// 1000 from several goroutines, the way delivery workers store results
// (testenv.StoreEvents), and returns them.
func (p *pipeline) produce(tb testing.TB, n, workers int) []webhooks.Event {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []webhooks.Event
	for range workers {
		wg.Go(func() {
			for {
				// Chunks of 250: each is stored, claimed and finished in
				// its own transactions, and on SQLite a writer waits for
				// the others; small ones keep the waits short under -race.
				start := int(next.Add(250)) - 250
				if start >= n {
					return
				}
				evs := sent(min(250, n-start))
				bucket := p.buckets[(start/250)%len(p.buckets)]
				for i := range evs {
					evs[i].AppID, evs[i].BucketID = p.appID, bucket
				}
				if err := testenv.StoreEvents(context.Background(), p.db, p.ctxID, time.Now(), evs...); err != nil {
					tb.Error(err)
					return
				}
				mu.Lock()
				all = append(all, evs...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return all
}

func TestPipelineInTheBackground(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		p := startPipeline(t, db, 3)
		const total = 5000
		clicks := p.produce(t, total, 4)[:50]
		// Client events, one per call and repeated, as the public endpoints
		// receive them: they share statements and are reported once.
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() {
				ev := webhooks.ClientEvent{ContextID: p.ctxID, MessageID: clicks[i%50].MessageID, Kind: webhooks.Clicked, Action: "open"}
				if err := p.rec.RecordClient(context.Background(), ev); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		p.waitForMessages(t, total+50, 2*time.Minute)

		seen := messageIDs(p.cons.accepted())
		for _, c := range clicks {
			if seen[c.MessageID+"/clicked"] != 1 {
				t.Fatalf("click on %s reported %d times, want once", c.MessageID, seen[c.MessageID+"/clicked"])
			}
		}
		if len(seen) != total+50 {
			t.Fatalf("%d distinct events reported, want %d", len(seen), total+50)
		}
		for _, r := range p.cons.accepted() {
			if len(r.Messages) > 1000 {
				t.Fatalf("a batch carried %d messages, more than the size 1000", len(r.Messages))
			}
		}
	})
}

func TestShutdownCutsOffAPOSTInFlight(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db *sqlstore.DB) {
		p := startPipeline(t, db, 1)
		p.cons.setAnswer(func(n int) int {
			if n == 0 {
				return 0 // hang until the dispatcher gives up
			}
			return 200
		})
		p.produce(t, 10, 1)
		<-p.cons.received
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := p.disp.Shutdown(ctx); err != context.Canceled {
			t.Fatalf("Shutdown with no time left = %v, want context.Canceled", err)
		}
		bs, err := db.Webhooks().ListBatches(context.Background(), p.appID, p.buckets[0], webhooks.ListOptions{})
		if err != nil || len(bs) != 1 {
			t.Fatalf("batches = %v, %v", bs, err)
		}
		if b := bs[0]; b.Status != webhooks.StatusPending || b.LastError != "" || !b.NextAttemptAt.After(time.Now()) {
			t.Fatalf("batch cut off by Shutdown = %+v, want pending until its lease ends, with no outcome recorded", b)
		}
	})
}

// BenchmarkPipeline measures events per second from their results to batches
// accepted by a local consumer; run it with a fixed count, for example
// -bench Pipeline -benchtime 200000x.
func BenchmarkPipeline(b *testing.B) {
	for _, d := range testenv.Databases(b) {
		b.Run(d.Name, func(b *testing.B) {
			db := testenv.OpenDB(b, d.URL)
			p := startPipeline(b, db, 4)
			b.ResetTimer()
			began := time.Now()
			p.produce(b, b.N, 4)
			p.waitForMessages(b, b.N, 10*time.Minute)
			b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "events/s")
		})
	}
}

// BenchmarkRecordClient measures storing client events, one per call
// from many goroutines, as the public endpoints receive them. (Sent and
// failed events are written by the message store with the results.)
func BenchmarkRecordClient(b *testing.B) {
	for _, d := range testenv.Databases(b) {
		b.Run(d.Name, func(b *testing.B) {
			db := testenv.OpenDB(b, d.URL)
			appID, bucketID := createBucket(b, db)
			ctxID := pushgate.NewID()
			evs := sent(b.N)
			for i := range evs {
				evs[i].AppID, evs[i].BucketID = appID, bucketID
			}
			for start := 0; start < b.N; start += 1000 {
				if err := testenv.StoreEvents(context.Background(), db, ctxID, time.Now(), evs[start:min(start+1000, b.N)]...); err != nil {
					b.Fatal(err)
				}
			}
			rec := webhooks.NewRecorder(db.Webhooks(), webhooks.RecorderOptions{})
			rec.Start(context.Background())
			defer rec.Shutdown(context.Background())
			var n atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			began := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ev := webhooks.ClientEvent{ContextID: ctxID, MessageID: evs[n.Add(1)-1].MessageID, Kind: webhooks.Delivered}
					if err := rec.RecordClient(context.Background(), ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "events/s")
		})
	}
}
