package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"
)

// TypeMaintenance runs the periodic jobs: the recovery sweep, bucket expiry
// and closing idle provider connections.
const TypeMaintenance = "system:maintenance"

// Sweep enqueues again what the queue lost: queued messages long past due
// (Redis flushed or restarted, an enqueue that failed) and messages whose
// worker died holding them. It returns how many it enqueued.
func (s *Sender) Sweep(ctx context.Context) (int, error) {
	now := s.opts.Now()
	total := 0
	for {
		refs, err := s.store.Stale(ctx, now, now.Add(-s.opts.StaleAfter), 5000)
		if err != nil {
			return total, err
		}
		if len(refs) == 0 {
			return total, nil
		}
		ids := make([]string, len(refs))
		for i, r := range refs {
			ids[i] = r.ID
		}
		// Marked first: if enqueuing fails the messages are found again
		// after StaleAfter instead of on the next loop here.
		if err := s.store.MarkEnqueued(ctx, ids, now); err != nil {
			return total, err
		}
		total += s.enqueueRefs(ctx, refs, 0)
		if len(refs) < 5000 {
			return total, nil
		}
	}
}

// Job is one periodic maintenance job.
type Job struct {
	Name string
	Run  func(ctx context.Context) error
}

// Maintenance handles TypeMaintenance by running the shared jobs, and
// schedules the task: each worker node enqueues it every interval, and a
// uniqueness lock lets one run per interval across all nodes. Local jobs
// (about this node's own resources) run on every node at every tick.
type Maintenance struct {
	queue    *Queue
	jobs     []Job
	local    []Job
	interval time.Duration
	log      *slog.Logger

	stop     chan struct{}
	stopOnce sync.Once
	cancel   context.CancelFunc // ends the context local jobs run on
	wg       sync.WaitGroup
}

// NewMaintenance returns the maintenance handler and scheduler.
func NewMaintenance(queue *Queue, interval time.Duration, log *slog.Logger, shared, local []Job) *Maintenance {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Maintenance{queue: queue, jobs: shared, local: local, interval: interval, log: log, stop: make(chan struct{})}
}

// ProcessTask implements asynq.Handler. A failed job is logged and the
// task still succeeds: the next interval runs the jobs again anyway, and
// a failed task would only be archived in Redis.
func (m *Maintenance) ProcessTask(ctx context.Context, _ *asynq.Task) error {
	m.run(ctx, m.jobs)
	return nil
}

// run runs jobs in order, logging each one that fails.
func (m *Maintenance) run(ctx context.Context, jobs []Job) {
	for _, j := range jobs {
		if err := j.Run(ctx); err != nil {
			m.log.Warn("maintenance job failed", "job", j.Name, "err", err)
		}
	}
}

// Start schedules the task and runs the local jobs every interval until
// Shutdown. They run on a context that keeps ctx's values but not its
// end; Shutdown ends it if its own deadline comes first.
func (m *Maintenance) Start(ctx context.Context) {
	ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	m.wg.Go(func() {
		t := time.NewTicker(m.interval)
		defer t.Stop()
		for {
			m.schedule(ctx)
			m.run(ctx, m.local)
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	})
}

func (m *Maintenance) schedule(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	unique := max(m.interval-time.Second, time.Second)
	_, err := m.queue.Enqueue(ctx, QueueLow, asynq.NewTask(TypeMaintenance, nil), asynq.Unique(unique), asynq.MaxRetry(0))
	if err != nil && !errors.Is(err, asynq.ErrDuplicateTask) {
		m.log.Warn("schedule maintenance", "err", err)
	}
}

// Shutdown stops scheduling and waits for the local jobs running to end,
// or for ctx: then it cancels them and reports ctx's end.
func (m *Maintenance) Shutdown(ctx context.Context) error {
	m.stopOnce.Do(func() { close(m.stop) })
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.wg.Wait()
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("maintenance shutdown: %w", ctx.Err())
	}
	if m.cancel != nil {
		m.cancel()
	}
	return err
}

// CloseIdleProviders is a maintenance job closing provider connections
// unused for idle.
func (d *Deliverer) CloseIdleProviders(idle time.Duration) Job {
	return Job{Name: "close idle providers", Run: func(context.Context) error {
		d.pool.closeIdle(idle)
		return nil
	}}
}
