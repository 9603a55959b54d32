package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
)

// WorkerOptions configures a Worker.
type WorkerOptions struct {
	Redis     asynq.RedisConnOpt
	Namespace string
	// Concurrency is how many tasks run at once (default 20).
	Concurrency int
	// ShutdownTimeout is how long Shutdown lets running tasks finish before
	// they are handed back to the queue (default 10 s), if its ctx lets it
	// wait that long.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// Worker takes tasks from the namespaced queues and runs their handlers.
type Worker struct {
	srv *asynq.Server
	mux *asynq.ServeMux
	log *slog.Logger
}

// NewWorker returns a worker with the system handlers registered. Start it
// with Start and stop it with Shutdown.
func NewWorker(opts WorkerOptions) *Worker {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 20
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ns := opts.Namespace
	srv := asynq.NewServer(opts.Redis, asynq.Config{
		Concurrency: opts.Concurrency,
		Queues: map[string]int{
			ns + ":" + QueueCritical: 6,
			ns + ":" + QueueDefault:  3,
			ns + ":" + QueueLow:      1,
		},
		ShutdownTimeout: opts.ShutdownTimeout,
		// Delayed tasks (retries, messages waiting for their images) are
		// due within a second rather than asynq's default five.
		DelayedTaskCheckInterval: time.Second,
		Logger:                   slogAdapter{log.With("component", "asynq")},
		LogLevel:                 asynq.WarnLevel,
	})
	w := &Worker{srv: srv, mux: asynq.NewServeMux(), log: log}
	w.mux.HandleFunc(TypePing, func(ctx context.Context, t *asynq.Task) error {
		_, err := t.ResultWriter().Write([]byte("pong"))
		return err
	})
	return w
}

// Handle registers the handler of a task type.
func (w *Worker) Handle(taskType string, h asynq.Handler) { w.mux.Handle(taskType, h) }

// Start begins taking tasks; it returns once the worker runs, which it
// does until Shutdown (ctx bounds the start only).
func (w *Worker) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return w.srv.Start(w.mux)
}

// Shutdown stops taking tasks and waits for running ones until ctx ends or
// the configured ShutdownTimeout passes, whichever is first. It reports
// ctx's end if it came first; the tasks still running are then handed back
// to the queue when ShutdownTimeout passes.
func (w *Worker) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.srv.Shutdown()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("worker shutdown: %w", ctx.Err())
	}
}
