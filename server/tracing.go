package server

import (
	"context"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/tracing"
)

// buildTracing turns tracing on when otel_endpoint is set: the exporter
// starts no connection until its first batch of spans. Otherwise
// s.tracing stays nil and no part makes spans.
func (s *Server) buildTracing(ctx context.Context) error {
	if s.cfg.OTelEndpoint == "" {
		return nil
	}
	tp, err := tracing.Exporter(ctx, s.cfg.OTelEndpoint, pushgate.Version)
	if err != nil {
		return err
	}
	s.tracerProvider = tp
	s.tracing = tracing.New(tp)
	return nil
}

// shutdownTracing exports the spans still buffered, within ctx.
func (s *Server) shutdownTracing(ctx context.Context) error {
	if s.tracerProvider == nil {
		return nil
	}
	tp := s.tracerProvider
	s.tracerProvider = nil
	return tp.Shutdown(ctx)
}
