package delivery

import (
	"context"
	"errors"
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

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewMaintenance returns the maintenance handler and scheduler.
func NewMaintenance(queue *Queue, interval time.Duration, log *slog.Logger, shared, local []Job) *Maintenance {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Maintenance{queue: queue, jobs: shared, local: local, interval: interval, log: log, stop: make(chan struct{})}
}

// ProcessTask implements asynq.Handler.
func (m *Maintenance) ProcessTask(ctx context.Context, _ *asynq.Task) error {
	var errs []error
	for _, j := range m.jobs {
		if err := j.Run(ctx); err != nil {
			m.log.Warn("maintenance job failed", "job", j.Name, "err", err)
			errs = append(errs, err)
		}
	}
	// Failures are logged; the next interval runs the jobs again anyway.
	_ = errors.Join(errs...)
	return nil
}

// Start schedules the task every interval until Shutdown.
func (m *Maintenance) Start() {
	m.wg.Go(func() {
		t := time.NewTicker(m.interval)
		defer t.Stop()
		for {
			m.schedule()
			for _, j := range m.local {
				if err := j.Run(context.Background()); err != nil {
					m.log.Warn("maintenance job failed", "job", j.Name, "err", err)
				}
			}
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	})
}

func (m *Maintenance) schedule() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	unique := max(m.interval-time.Second, time.Second)
	_, err := m.queue.Enqueue(ctx, QueueLow, asynq.NewTask(TypeMaintenance, nil), asynq.Unique(unique), asynq.MaxRetry(0))
	if err != nil && !errors.Is(err, asynq.ErrDuplicateTask) {
		m.log.Warn("schedule maintenance", "err", err)
	}
}

// Shutdown stops scheduling.
func (m *Maintenance) Shutdown() {
	close(m.stop)
	m.wg.Wait()
}

// CloseIdleProviders is a maintenance job closing provider connections
// unused for idle.
func (d *Deliverer) CloseIdleProviders(idle time.Duration) Job {
	return Job{Name: "close idle providers", Run: func(context.Context) error {
		d.pool.closeIdle(idle)
		return nil
	}}
}
