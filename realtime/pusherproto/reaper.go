package pusherproto

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Start keeps this node marked alive and, every few seconds, takes out
// what nodes that died counted, telling their presence channels of the
// members that left with them. It returns once the node is marked alive.
func (h *Handler) Start(ctx context.Context) error {
	if err := h.opts.State.Heartbeat(ctx); err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	h.stop = stop
	h.wg.Go(func() {
		t := time.NewTicker(nodeBeat)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				if err := h.opts.State.Heartbeat(runCtx); err != nil {
					h.opts.Logger.Warn("pusher: node heartbeat", "err", err)
				}
				h.reapOnce(runCtx)
			}
		}
	})
	return nil
}

// Shutdown stops the heartbeat and takes this node out of the shared
// state; call it once its connections have ended.
func (h *Handler) Shutdown(ctx context.Context) error {
	if h.stop != nil {
		h.stop()
		h.wg.Wait()
	}
	gone, err := h.opts.State.Forget(ctx)
	h.removed(ctx, gone)
	return err
}

// reapOnce takes out the dead nodes' share and sends member_removed for
// the members that left with them.
func (h *Handler) reapOnce(ctx context.Context) {
	gone, err := h.opts.State.Reap(ctx)
	if err != nil {
		h.opts.Logger.Warn("pusher: taking out what dead nodes counted", "err", err)
	}
	h.removed(ctx, gone)
}

// removed tells presence channels of members that left with a node, and
// the apps' webhooks of those and of the channels it vacated.
func (h *Handler) removed(ctx context.Context, gone []Member) {
	for _, m := range gone {
		if m.UserID == "" {
			h.webhook(m.AppID, WebhookEvent{Name: "channel_vacated", Channel: m.Channel})
			continue
		}
		h.webhook(m.AppID, WebhookEvent{Name: "member_removed", Channel: m.Channel, UserID: m.UserID})
		data := stringData(struct {
			UserID string `json:"user_id"`
		}{m.UserID})
		frame := eventFrame("pusher_internal:member_removed", m.Channel, data, "")
		if err := h.opts.Hub.ToChannel(ctx, m.AppID, m.Channel, "", Frame(frame)); err != nil {
			h.opts.Logger.Warn("pusher: publishing to other nodes", "app", m.AppID, "err", err)
		}
	}
}

// reaping is the Handler's background part.
type reaping struct {
	stop func()
	wg   sync.WaitGroup
}

// webhook reports an event that no session saw (a dead node's): the
// server's side drops those of apps without a channel webhook.
func (h *Handler) webhook(appID string, e WebhookEvent) {
	if h.opts.Webhooks != nil && !strings.HasPrefix(e.Channel, "#") {
		h.opts.Webhooks.Record(appID, e)
	}
}
