package server

import (
	"context"
	"net/http"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/realtime/pusherproto"
	"github.com/pushgate/pushgate/webhooks"
)

// channelWebhooks hands the Pusher protocol's webhook events to the
// recorder that stores them.
type channelWebhooks struct{ rec *webhooks.ChannelRecorder }

func (c channelWebhooks) Record(appID string, e pusherproto.WebhookEvent) {
	c.rec.Record(appID, webhooks.ChannelEvent{Name: e.Name, Channel: e.Channel, UserID: e.UserID,
		Event: e.Event, Data: e.Data, SocketID: e.SocketID})
}

// buildChannelRecorder makes the recorder of the apps' Pusher channel
// webhook events, which buildPusher hands to the protocol.
func (s *Server) buildChannelRecorder() {
	s.channelRecorder = webhooks.NewChannelRecorder(s.DB.ChannelWebhooks(), webhooks.ChannelRecorderOptions{Logger: s.log, Now: s.now})
}

// buildChannelDelivery makes the flusher and dispatcher of the channel
// webhooks: the webhooks package's, over the channel store, with the same
// retry and batching settings as bucket callbacks.
func (s *Server) buildChannelDelivery() error {
	cfg := s.cfg
	targets := webhooks.TargetsFunc(s.channelTarget)
	var err error
	s.channelDispatcher, err = webhooks.NewDispatcher(s.DB.ChannelWebhooks(), targets, &http.Client{Transport: s.guard.Transport()},
		webhooks.DispatcherOptions{RetryFor: cfg.WebhookRetryFor, MinBackoff: cfg.WebhookMinBackoff, Logger: s.log, Now: s.now})
	if err != nil {
		return err
	}
	if cfg.Has(RoleWorker) {
		s.channelFlusher = webhooks.NewFlusher(s.DB.ChannelWebhooks(), targets, webhooks.FlusherOptions{
			BatchSize: cfg.WebhookBatchSize, FlushAfter: cfg.WebhookFlushInterval, OnBatch: s.channelDispatcher.Handoff, Logger: s.log, Now: s.now,
		})
	}
	return nil
}

// channelTarget is where an app's channel webhook events go: its
// channelWebhookUrl, signed with its key and secret. An app without one
// (or gone) has no target, and its waiting events are dropped.
func (s *Server) channelTarget(ctx context.Context, appID, _ string) (*webhooks.Target, error) {
	app, err := s.Apps.Get(ctx, appID)
	if err != nil {
		return nil, err
	}
	if app.ChannelWebhookURL == "" {
		return nil, pushgate.NotFound("channel webhook")
	}
	return &webhooks.Target{Format: webhooks.FormatPusher, URL: app.ChannelWebhookURL, Key: app.Key, Secret: app.Secret}, nil
}
