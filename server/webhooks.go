package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/webhooks"
)

// webhookObserver turns the delivery workers' stored results into webhook
// events: sent, and failed with its reason (an expired message is a failure
// with reason "expired"). Retries are not events.
type webhookObserver struct {
	rec       *webhooks.Recorder
	listening *callbackCache
	log       *slog.Logger
}

// callbackCache remembers which buckets have a callback, so buckets without
// one cost no event writes. A bucket's callback never changes once the
// bucket exists, so an answer stays true for the bucket's life.
type callbackCache struct {
	lookup func(ctx context.Context, appID, bucketID string) (*webhooks.Target, error)

	mu sync.Mutex
	m  map[string]bool
}

func (c *callbackCache) wants(ctx context.Context, appID, bucketID string) bool {
	c.mu.Lock()
	v, ok := c.m[bucketID]
	c.mu.Unlock()
	if ok {
		return v
	}
	_, err := c.lookup(ctx, appID, bucketID)
	switch {
	case err == nil:
		v = true
	case pushgate.ErrorCode(err) == pushgate.ENOTFOUND:
		v = false
	default:
		return true // unknown: record, and let the flusher decide
	}
	c.mu.Lock()
	if len(c.m) >= 100_000 {
		clear(c.m)
	}
	c.m[bucketID] = v
	c.mu.Unlock()
	return v
}

func (o webhookObserver) Observe(ctx context.Context, results []messages.Result, msgs map[string]*messages.Message) {
	events := make([]webhooks.Event, 0, len(results))
	for _, r := range results {
		m := msgs[r.ID]
		if m == nil || !o.listening.wants(ctx, m.AppID, m.BucketID) {
			continue
		}
		e := webhooks.Event{AppID: m.AppID, BucketID: m.BucketID, MessageID: m.ID, ForeignID: m.ForeignID, At: r.At}
		switch r.Status {
		case messages.Sent:
			e.Kind = webhooks.Sent
		case messages.Failed, messages.Expired:
			e.Kind, e.Reason = webhooks.Failed, r.Reason
		default:
			continue
		}
		events = append(events, e)
	}
	if len(events) == 0 {
		return
	}
	if err := o.rec.Record(context.WithoutCancel(ctx), events...); err != nil {
		o.log.Warn("webhook events not recorded", "events", len(events), "err", err)
	}
}

// webhookTarget is where a bucket's events go: its http callback, signed
// with its secret. Buckets without one have no target.
func (s *Server) webhookTarget(ctx context.Context, appID, bucketID string) (*webhooks.Target, error) {
	cb, secret, err := s.Buckets.CallbackOf(ctx, appID, bucketID)
	if err != nil {
		return nil, err
	}
	if cb.Type != "http" || cb.URL == "" {
		return nil, pushgate.NotFound("callback")
	}
	return &webhooks.Target{URL: cb.URL, Headers: cb.Headers, Secret: secret,
		BatchSize: cb.BatchSize, FlushAfter: time.Duration(cb.FlushIntervalMs) * time.Millisecond}, nil
}
