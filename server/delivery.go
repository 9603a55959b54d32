package server

import (
	"context"
	"time"

	"github.com/pushgate/pushgate/delivery"
	"github.com/pushgate/pushgate/imagejobs"
	"github.com/pushgate/pushgate/recipients"
)

// buildDelivery builds the Sender every node accepts sends with and, on a
// worker node, the worker with its task handlers and the maintenance that
// schedules the periodic jobs.
func (s *Server) buildDelivery() {
	cfg := s.cfg
	opts := delivery.Options{
		ChunkSize:      cfg.DeliveryChunkSize,
		MaxAttempts:    cfg.DeliveryMaxAttempts,
		Concurrency:    cfg.DeliveryConcurrency,
		Lease:          cfg.DeliveryLease,
		StaleAfter:     cfg.DeliveryStaleAfter,
		ResultInterval: cfg.DeliveryResultInterval,
		Recipients:     recipients.Options{AllowHTTPEndpoints: cfg.WebPushAllowHTTP, Guard: s.guard},
		Logger:         s.log,
		Now:            s.now,
		Images:         s.images,
		Metrics:        s.metrics.delivery,
		Tracing:        s.tracing,
	}
	s.Sender = delivery.NewSender(s.DB.Messages(), s.Queue, opts)
	if !cfg.Has(RoleWorker) {
		return
	}
	s.worker = delivery.NewWorker(delivery.WorkerOptions{
		Redis:           s.redisOpt,
		Namespace:       cfg.QueueNamespace,
		Concurrency:     cfg.WorkerConcurrency,
		ShutdownTimeout: cfg.ShutdownGrace,
		Logger:          s.log,
	})
	s.deliverer = delivery.NewDeliverer(s.Sender, s.DB.Messages(), s.DB.Buckets(), s.Buckets, s.Providers, opts)
	s.worker.Handle(delivery.TypeSend, s.deliverer)
	s.worker.Handle(imagejobs.TaskType, s.images)
	s.maintenance = delivery.NewMaintenance(s.Queue, cfg.MaintenanceInterval, s.log, s.sharedJobs(),
		[]delivery.Job{s.deliverer.CloseIdleProviders(10 * time.Minute)})
	s.worker.Handle(delivery.TypeMaintenance, s.maintenance)
}

// sharedJobs are the maintenance jobs one node runs per interval for all.
func (s *Server) sharedJobs() []delivery.Job {
	return []delivery.Job{
		{Name: "recovery sweep", Run: func(ctx context.Context) error {
			n, err := s.Sender.Sweep(ctx)
			if n > 0 {
				s.log.Info("recovery sweep enqueued messages again", "count", n)
			}
			return err
		}},
		{Name: "bucket expiry", Run: s.Buckets.DeleteExpired},
		s.images.Recovery(s.cfg.DeliveryStaleAfter),
		s.images.SourceExpiry(),
		s.inboxPurge(),
	}
}
