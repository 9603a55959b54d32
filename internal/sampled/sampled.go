// Package sampled makes Prometheus collectors of values that cost a query
// (a database, Redis) to read. The query runs when /metrics is scraped,
// at most once per MinAge: scrapes in between, from however many
// Prometheus servers, get the values of the last run, so the cost is
// bounded whatever the scrape rate, and nothing runs while nobody scrapes.
// A failed or slow run never fails the scrape: it keeps the last values
// and logs why.
//
// sampled never starts goroutines and never writes anything but its logs.
package sampled

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options tune a Collector.
type Options struct {
	// MinAge is the least time between two runs of Read (default 10 s).
	MinAge time.Duration
	// Timeout bounds one run of Read (default 2 s).
	Timeout time.Duration
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Collector is a prometheus.Collector whose metrics Read makes.
type Collector struct {
	name  string
	descs []*prometheus.Desc
	read  func(ctx context.Context) ([]prometheus.Metric, error)
	opts  Options

	mu     sync.Mutex
	last   []prometheus.Metric
	readAt time.Time
}

// New returns a Collector named name (for logs) of the metrics descs
// describe; read makes them, each of one of descs.
func New(name string, descs []*prometheus.Desc, read func(ctx context.Context) ([]prometheus.Metric, error), opts Options) *Collector {
	if opts.MinAge <= 0 {
		opts.MinAge = 10 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Collector{name: name, descs: descs, read: read, opts: opts}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Concurrent scrapes wait for
// one run instead of each running Read.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	if c.last == nil || now.Sub(c.readAt) >= c.opts.MinAge {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
		ms, err := c.read(ctx)
		cancel()
		// A failure is tried again at the next MinAge, not at every scrape.
		c.readAt = now
		if err != nil {
			c.opts.Logger.Warn("metrics: could not read "+c.name+"; its last values are shown", "err", err)
		} else {
			c.last = ms
		}
	}
	for _, m := range c.last {
		ch <- m
	}
}
