package server

import (
	"context"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/webhooks"
)

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
