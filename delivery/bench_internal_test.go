package delivery

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/providers"
)

// acceptAll is a provider that accepts every message at once.
type acceptAll struct{}

func (acceptAll) Send(context.Context, *providers.Message) error { return nil }
func (acceptAll) Close() error                                   { return nil }

// finishNothing is a store whose Finish stores nothing: the benchmarks
// measure delivery's own work, not a database's.
type finishNothing struct{ messages.Store }

func (finishNothing) Finish(context.Context, []messages.Result) error { return nil }

// benchOptions count with metrics and log failures as a node does.
func benchOptions() Options {
	return Options{
		Now: time.Now, Metrics: NewMetrics(prometheus.NewRegistry()),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
}

func benchMessages(n int) []*messages.Message {
	msgs := make([]*messages.Message, n)
	for i := range msgs {
		msgs[i] = &messages.Message{ID: "m", Provider: string(buckets.VAPID), Status: messages.Sending}
	}
	return msgs
}

// BenchmarkSendOne is one message's send path: the provider call and the
// result it makes (allocs/op is what a message costs delivery).
func BenchmarkSendOne(b *testing.B) {
	d := NewDeliverer(nil, finishNothing{}, nil, nil, providers.NewRegistry(), benchOptions())
	msgs := benchMessages(1)
	results := make([]messages.Result, 1)
	c := &contexts.Context{}
	group := []int{0}
	pms := make([]providers.Message, 1) // sendAll makes one a chunk
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d.sendGroup(ctx, acceptAll{}, nil, c, msgs, pms, group, results)
	}
}

// BenchmarkWrite500 stores a batch of 500 results (sent, failed, retried).
func BenchmarkWrite500(b *testing.B) {
	d := NewDeliverer(nil, finishNothing{}, nil, nil, providers.NewRegistry(), benchOptions())
	msgs := benchMessages(500)
	rs := make([]messages.Result, len(msgs))
	for i, m := range msgs {
		rs[i] = messages.Result{Message: m, Status: messages.Sent, Attempts: 1}
		switch i % 5 {
		case 1:
			rs[i].Status, rs[i].Reason = messages.Failed, string(providers.ReasonUnregistered)
		case 2:
			rs[i].Status, rs[i].Reason = messages.Queued, string(providers.ReasonRateLimited)
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.write(ctx, rs); err != nil {
			b.Fatal(err)
		}
	}
}
