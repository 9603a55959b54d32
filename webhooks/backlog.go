package webhooks

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushgate/pushgate/internal/sampled"
)

// BacklogReader reads the batches waiting to be POSTed (the webhook store).
type BacklogReader interface {
	Backlog(ctx context.Context) (Backlog, error)
}

// NewBacklogCollector returns the collector of pending batches, read from
// the database when /metrics is scraped, at most once per opts.MinAge
// (see sampled): two queries through the index of pending batches,
// reading a bounded number of rows.
func NewBacklogCollector(store BacklogReader, opts sampled.Options) prometheus.Collector {
	pending := prometheus.NewDesc("pushgate_webhook_batches_pending",
		"Webhook batches waiting to be delivered (due or waiting for a retry); counted over at most 100,000.", nil, nil)
	oldest := prometheus.NewDesc("pushgate_webhook_oldest_pending_seconds",
		"Age of the oldest pending webhook batch (0 when none is pending).", nil, nil)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	read := func(ctx context.Context) ([]prometheus.Metric, error) {
		b, err := store.Backlog(ctx)
		if err != nil {
			return nil, err
		}
		age := 0.0
		if !b.Oldest.IsZero() {
			age = max(now().Sub(b.Oldest), 0).Seconds()
		}
		return []prometheus.Metric{
			prometheus.MustNewConstMetric(pending, prometheus.GaugeValue, float64(b.Pending)),
			prometheus.MustNewConstMetric(oldest, prometheus.GaugeValue, age),
		}, nil
	}
	return sampled.New("the webhook backlog", []*prometheus.Desc{pending, oldest}, read, opts)
}
