package server

import (
	"context"
	"net/http"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/webhooks"
)

// buildWebhooks builds the recorder of client events (which the inbox's
// CORE notifications report to as well) and the dispatcher of batches (which also serves the API's batch listing and redelivery) and,
// on a worker node, the flusher that makes batches; only worker nodes
// start the dispatcher.
func (s *Server) buildWebhooks() error {
	cfg := s.cfg
	s.recorder = webhooks.NewRecorder(s.DB.Webhooks(), webhooks.RecorderOptions{Logger: s.log, Now: s.now})
	s.listenCoreEvents()
	targets := webhooks.TargetsFunc(s.webhookTarget)
	var err error
	s.dispatcher, err = webhooks.NewDispatcher(s.DB.Webhooks(), targets, &http.Client{Transport: s.guard.Transport()},
		webhooks.DispatcherOptions{RetryFor: cfg.WebhookRetryFor, MinBackoff: cfg.WebhookMinBackoff, Logger: s.log, Now: s.now,
			Metrics: s.metrics.webhooks, Tracing: s.tracing})
	if err != nil {
		return err
	}
	if cfg.Has(RoleWorker) {
		s.flusher = webhooks.NewFlusher(s.DB.Webhooks(), targets, webhooks.FlusherOptions{
			BatchSize: cfg.WebhookBatchSize, FlushAfter: cfg.WebhookFlushInterval, OnBatch: s.dispatcher.Handoff, Logger: s.log, Now: s.now,
		})
	}
	return nil
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
