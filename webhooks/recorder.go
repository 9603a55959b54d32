package webhooks

import (
	"context"
	"log/slog"
	"time"

	"github.com/pushgate/pushgate"
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

// Recorder persists client events. Each call (one client event per HTTP
// request) waits for the write in progress and then shares one statement,
// of up to MaxBatch events, with the calls that waited too, so that
// thousands of requests a second cost a few statements a second. (The
// delivery workers' sent and failed events need no Recorder: the message
// store writes them with the results.)
type Recorder struct {
	store   Store
	opts    RecorderOptions
	clients *coalescer[ClientEvent, bool]
}

// NewRecorder returns a Recorder over store. Until Start (and after
// Shutdown) every call is written on its own.
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
	r := &Recorder{store: store, opts: opts}
	r.clients = newCoalescer(opts.MaxBatch, opts.WriteTimeout, store.RecordClientEvents,
		func(n int, err error) { opts.Logger.Warn("record client events", "events", n, "err", err) })
	return r
}

// RecordClient stores what a client reports about a message: the message
// records the time of the kind's first report, and that first report
// becomes a webhook event when the message's bucket has a callback. It
// returns once both are stored, or an ENOTFOUND error when the message is
// not one of the context's. A repeated report is accepted and changes
// nothing.
func (r *Recorder) RecordClient(ctx context.Context, e ClientEvent) error {
	if err := e.normalize(r.opts.Now()); err != nil {
		return err
	}
	found, err := r.clients.do(ctx, []ClientEvent{e})
	if err != nil {
		return err
	}
	if len(found) != 1 || !found[0] {
		return pushgate.NotFound("message")
	}
	return nil
}

// Start runs the writers that coalesce small calls. Their writes keep
// ctx's values but not its end: only Shutdown stops them.
func (r *Recorder) Start(ctx context.Context) {
	r.clients.start(ctx, r.opts.Writers)
}

// Shutdown stops the writers once the writes in progress end; later calls
// are written on their own.
func (r *Recorder) Shutdown(ctx context.Context) error {
	return r.clients.shutdown(ctx)
}
