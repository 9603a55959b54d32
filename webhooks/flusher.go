package webhooks

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/pushgate/pushgate"
)

// MaxBatchSize bounds BatchSize, globally and per bucket: a batch is one
// request body, and consumers cap bodies.
const MaxBatchSize = 10000

// FlusherOptions tune a Flusher.
type FlusherOptions struct {
	// BatchSize is how many events make a batch full (default 1000).
	BatchSize int
	// FlushAfter is how old a bucket's oldest unbatched event may get
	// before its events are batched however few they are (default 5 s).
	FlushAfter time.Duration
	// Interval is how often Start's loop looks for events (default 500 ms).
	Interval time.Duration
	// MaxBuckets bounds the buckets one FlushOnce looks at (default 1000).
	MaxBuckets int
	// OnBatch, when set, is called after a FlushOnce that made batches,
	// with them and the targets they were made for (the server passes
	// Dispatcher.Handoff, so that the target is looked up once per batch).
	OnBatch func(made []MadeBatch)
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Flusher turns unbatched events into batches, per bucket, when a bucket
// has a full batch or its oldest event is FlushAfter old. Any number of
// Flushers may run on one database.
type Flusher struct {
	store   Queue
	targets Targets
	opts    FlusherOptions
	run     *runner
}

// NewFlusher returns a Flusher over store.
func NewFlusher(store Queue, targets Targets, opts FlusherOptions) *Flusher {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	opts.BatchSize = min(opts.BatchSize, MaxBatchSize)
	if opts.FlushAfter <= 0 {
		opts.FlushAfter = 5 * time.Second
	}
	if opts.Interval <= 0 {
		opts.Interval = 500 * time.Millisecond
	}
	if opts.MaxBuckets <= 0 {
		opts.MaxBuckets = 1000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Flusher{store: store, targets: targets, opts: opts, run: newRunner()}
}

// FlushOnce makes every batch that is due now and reports how many it made.
// A bucket without a target (deleted, or callback "none") loses its
// unbatched events. It goes on past one bucket's failure and returns the
// failures joined.
func (f *Flusher) FlushOnce(ctx context.Context) (int, error) {
	pending, err := f.store.PendingBuckets(ctx, f.opts.MaxBuckets)
	if err != nil {
		return 0, err
	}
	var made []MadeBatch
	var errs []error
	for _, p := range pending {
		var err error
		made, err = f.flushBucket(ctx, p, made)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(made) > 0 && f.opts.OnBatch != nil {
		f.opts.OnBatch(made)
	}
	return len(made), errors.Join(errs...)
}

// flushBucket makes the bucket's due batches and appends them to made.
func (f *Flusher) flushBucket(ctx context.Context, p PendingBucket, made []MadeBatch) ([]MadeBatch, error) {
	size, age := f.opts.BatchSize, f.opts.FlushAfter
	t, err := f.targets.Target(ctx, p.AppID, p.BucketID)
	switch {
	case pushgate.ErrorCode(err) == pushgate.ENOTFOUND:
		n, err := f.store.DropPending(ctx, p.BucketID)
		if err == nil && n > 0 {
			f.opts.Logger.Info("dropped webhook events of a bucket without a callback", "bucket", p.BucketID, "events", n)
		}
		return made, err
	case err != nil:
		return made, err
	}
	if t.BatchSize > 0 {
		size = min(t.BatchSize, MaxBatchSize)
	}
	if t.FlushAfter > 0 {
		age = t.FlushAfter
	}
	// Once the oldest event is due, everything pending goes: newer events
	// ride along instead of waiting for a batch of their own.
	aged := !f.opts.Now().Before(p.Oldest.Add(age))
	for left := p.Events; left > 0 && (aged || left >= size); {
		id := pushgate.NewID()
		n, err := f.store.CreateBatch(ctx, NewBatch{ID: id, AppID: p.AppID, BucketID: p.BucketID, Max: size, CreatedAt: f.opts.Now().UTC()})
		if pushgate.ErrorCode(err) == pushgate.ENOTFOUND {
			_, err = f.store.DropPending(ctx, p.BucketID) // the bucket went since Target
			return made, err
		}
		if err != nil {
			return made, err
		}
		if n == 0 {
			break // another node took them
		}
		made = append(made, MadeBatch{ID: id, Target: t})
		left -= n
	}
	return made, nil
}

// Start runs FlushOnce every Interval until Shutdown.
func (f *Flusher) Start(ctx context.Context) {
	f.run.start(ctx, func() {
		t := time.NewTicker(f.opts.Interval)
		defer t.Stop()
		for {
			select {
			case <-f.run.stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(f.run.ctx, time.Minute)
			if _, err := f.FlushOnce(ctx); err != nil && f.run.ctx.Err() == nil {
				f.opts.Logger.Warn("flush webhook events", "err", err)
			}
			cancel()
		}
	})
}

// Shutdown stops the loop once the flush in progress ends, or cancels that
// flush when ctx ends first (it is all or nothing per batch).
func (f *Flusher) Shutdown(ctx context.Context) error { return f.run.shutdown(ctx) }
