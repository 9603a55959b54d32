package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/webhooks"
)

// listeners tells every one of its inbox listeners of each change, in
// order: the realtime Notifier, then coreEvents.
type listeners []inbox.Listener

func (ls listeners) Stored(ctx context.Context, n *inbox.Notification, users []string) {
	for _, l := range ls {
		l.Stored(ctx, n, users)
	}
}

func (ls listeners) Changed(ctx context.Context, appID, userID string, items []*inbox.Item) {
	for _, l := range ls {
		l.Changed(ctx, appID, userID, items)
	}
}

func (ls listeners) Retracted(ctx context.Context, n *inbox.Notification, users []string) {
	for _, l := range ls {
		l.Retracted(ctx, n, users)
	}
}

func (ls listeners) TokenRevoked(ctx context.Context, t *inbox.Token) {
	for _, l := range ls {
		l.TokenRevoked(ctx, t)
	}
}

// coreEvents turns what a user's devices do with a notification a CORE
// send stored (through providers/websocket) into its message's client
// events, as a native app's service worker or SDK reports them: an
// acknowledgement (inbox status delivered) is delivered, a read is clicked
// (and delivered first, if no device acknowledged it). They go through the
// webhooks Recorder like /v1/context/{id}/events/…, so the bucket's
// callback receives them in its batches, each kind once per message.
//
// Only marks of listed notifications carry items: a read-all changes a
// watermark, not notifications one by one, and yields no events (its
// notifications stay without clicked). Deleting one from an inbox is no
// event either: CORE's close is a dismissed alert, which a deletion is
// not.
type coreEvents struct {
	rec *webhooks.Recorder
	log *slog.Logger
}

func (coreEvents) Stored(context.Context, *inbox.Notification, []string)    {}
func (coreEvents) Retracted(context.Context, *inbox.Notification, []string) {}
func (coreEvents) TokenRevoked(context.Context, *inbox.Token)               {}

// Changed records the client events of the CORE items among items. The
// events are stored before it returns, whether or not the session that
// made the change is still open.
func (ce coreEvents) Changed(ctx context.Context, appID, _ string, items []*inbox.Item) {
	ctx = context.WithoutCancel(ctx)
	for _, it := range items {
		if it.Source != inbox.SourceCore || it.MessageID == "" || it.ContextID == "" {
			continue
		}
		switch it.Status {
		case inbox.StatusDelivered:
			ce.record(ctx, appID, it, webhooks.Delivered, it.DeliveredAt)
		case inbox.StatusRead:
			if it.DeliveredAt == nil {
				ce.record(ctx, appID, it, webhooks.Delivered, it.ReadAt)
			}
			ce.record(ctx, appID, it, webhooks.Clicked, it.ReadAt)
		}
	}
}

func (ce coreEvents) record(ctx context.Context, appID string, it *inbox.Item, kind webhooks.Kind, at *time.Time) {
	e := webhooks.ClientEvent{ContextID: it.ContextID, MessageID: it.MessageID, Kind: kind}
	if at != nil {
		e.At = *at
	}
	if err := ce.rec.RecordClient(ctx, e); err != nil {
		// The message may be gone with its bucket; the inbox keeps the
		// user's state either way.
		ce.log.Warn("record a CORE notification's client event", "app", appID, "message", it.MessageID, "kind", kind, "err", err)
	}
}
