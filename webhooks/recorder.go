package webhooks

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// RecorderOptions tune a Recorder.
type RecorderOptions struct {
	// MaxBatch bounds the events one statement writes (default 1000).
	MaxBatch int
	// Writers is how many statements may run at once (default 2).
	Writers int
	// WriteTimeout bounds one statement (default 30 s).
	WriteTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Recorder persists events. Large calls (the delivery workers' results)
// are written as they come, one statement per MaxBatch events; small ones
// (one client event per HTTP request) wait for the write in progress and
// then share one statement, so that thousands of requests a second cost a
// few statements a second.
type Recorder struct {
	store Store
	opts  RecorderOptions

	// reqs is unbuffered: a request is either taken by a writer, which
	// then always answers it, or not sent at all.
	reqs    chan *recordRequest
	stop    chan struct{}
	started atomic.Bool
	stopped atomic.Bool
	once    sync.Once
	wg      sync.WaitGroup
}

type recordRequest struct {
	events []Event
	done   chan error
}

// NewRecorder returns a Recorder over store. Until Start (and after
// Shutdown) Record writes every call on its own.
func NewRecorder(store Store, opts RecorderOptions) *Recorder {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.Writers <= 0 {
		opts.Writers = 2
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Recorder{store: store, opts: opts, reqs: make(chan *recordRequest), stop: make(chan struct{})}
}

// Record validates events and returns once they are stored. It fills in
// the ID and time (now) of events that lack them, on its own copy. A
// repeated (message, kind) is not an error: it is stored once.
func (r *Recorder) Record(ctx context.Context, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	events = slices.Clone(events)
	if err := normalizeAll(events, r.opts.Now()); err != nil {
		return err
	}
	if !r.started.Load() || r.stopped.Load() || len(events) >= r.opts.MaxBatch/2 {
		return r.write(ctx, events)
	}
	req := &recordRequest{events: events, done: make(chan error, 1)}
	select {
	case r.reqs <- req:
	case <-r.stop:
		return r.write(ctx, events)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The shared write goes on: the caller learns nothing about it,
		// and trying again is harmless because events are de-duplicated.
		return ctx.Err()
	}
}

func (r *Recorder) write(ctx context.Context, events []Event) error {
	for len(events) > 0 {
		n := min(len(events), r.opts.MaxBatch)
		if _, err := r.store.InsertEvents(ctx, events[:n]); err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}

// Start runs the writers that coalesce small calls.
func (r *Recorder) Start() {
	if r.stopped.Load() || r.started.Swap(true) {
		return
	}
	for range r.opts.Writers {
		r.wg.Go(r.writer)
	}
}

func (r *Recorder) writer() {
	for {
		var first *recordRequest
		select {
		case first = <-r.reqs:
		case <-r.stop:
			return
		}
		group := []*recordRequest{first}
		events := first.events
	gather:
		for len(events) < r.opts.MaxBatch {
			select {
			case req := <-r.reqs:
				group = append(group, req)
				events = append(events[:len(events):len(events)], req.events...)
			default:
				break gather
			}
		}
		// Not the callers' contexts: one caller giving up must not fail
		// the others' events.
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.WriteTimeout)
		_, err := r.store.InsertEvents(ctx, events)
		cancel()
		if err != nil {
			r.opts.Logger.Warn("record webhook events", "events", len(events), "err", err)
		}
		for _, req := range group {
			req.done <- err
		}
	}
}

// Shutdown stops the writers once the writes in progress end; later calls
// to Record write on their own.
func (r *Recorder) Shutdown(ctx context.Context) error {
	r.once.Do(func() {
		r.stopped.Store(true)
		close(r.stop)
	})
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
