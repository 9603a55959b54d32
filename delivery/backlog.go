package delivery

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushgate/pushgate/internal/sampled"
	"github.com/pushgate/pushgate/messages"
)

// BacklogReader reads what is left to deliver (the message store).
type BacklogReader interface {
	Backlog(ctx context.Context) (messages.Backlog, error)
}

// queueStates are the task states a queue's depth is shown by.
var queueStates = []string{"pending", "active", "scheduled", "retry"}

// NewBacklogCollector returns the collector of the queue's depth (Redis)
// and the outbox's backlog (the database). Both are read when /metrics is
// scraped, at most once per opts.MinAge (see sampled): a few Redis
// commands and four indexed, row-bounded queries, whatever the backlog.
func NewBacklogCollector(q *Queue, store BacklogReader, opts sampled.Options) prometheus.Collector {
	tasks := prometheus.NewDesc("pushgate_queue_tasks",
		"Tasks in the work queue (Redis), by queue and state. A send task carries a chunk of up to 500 messages.",
		[]string{"queue", "state"}, nil)
	oldest := prometheus.NewDesc("pushgate_queue_oldest_pending_seconds",
		"Age of the oldest task waiting for a worker, by queue (0 when none waits).", []string{"queue"}, nil)
	unfinished := prometheus.NewDesc("pushgate_outbox_messages",
		"Accepted messages not final yet (queued, being sent or waiting for a retry), from the database; counted over at most 10,000 chunks and 100,000 single rows.",
		nil, nil)
	due := prometheus.NewDesc("pushgate_outbox_oldest_due_seconds",
		"How long ago the oldest unfinished message was due to be sent (0 when none is due).", nil, nil)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	read := func(ctx context.Context) ([]prometheus.Metric, error) {
		infos, err := q.Info()
		if err != nil {
			return nil, err
		}
		b, err := store.Backlog(ctx)
		if err != nil {
			return nil, err
		}
		var ms []prometheus.Metric
		for _, name := range Queues() {
			in := infos[name]
			for i, n := range []int{in.Pending, in.Active, in.Scheduled, in.Retry} {
				ms = append(ms, prometheus.MustNewConstMetric(tasks, prometheus.GaugeValue, float64(n), name, queueStates[i]))
			}
			ms = append(ms, prometheus.MustNewConstMetric(oldest, prometheus.GaugeValue, max(in.Latency, 0).Seconds(), name))
		}
		age := 0.0
		if !b.OldestDue.IsZero() {
			age = max(now().Sub(b.OldestDue), 0).Seconds()
		}
		ms = append(ms,
			prometheus.MustNewConstMetric(unfinished, prometheus.GaugeValue, float64(b.Unfinished)),
			prometheus.MustNewConstMetric(due, prometheus.GaugeValue, age))
		return ms, nil
	}
	return sampled.New("the queue and outbox backlog", []*prometheus.Desc{tasks, oldest, unfinished, due}, read, opts)
}
