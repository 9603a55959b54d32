package realtime

import (
	"context"
	"runtime"
	"slices"
	"sync"

	"github.com/pushgate/pushgate"
)

// Every publication is delivered twice over: at once to this node's
// sessions, in the caller's goroutine, and through the broker to the other
// nodes, whose hubs deliver it to theirs; the broker brings it back here too
// and the hub ignores it by its Node. So a session sees it exactly once,
// and a local session does not wait on Redis: through Redis a delivery
// takes a round trip (80-150 µs on loopback) where a local one takes about
// a microsecond (docs/performance.md), and a node whose Redis is down still
// serves its own sessions.

// ToUsers sends m to every session, on every node, of each of userIDs in
// appID; a user named twice gets it once. An error means the other nodes
// may not have it; this node's sessions have it either way.
func (h *Hub) ToUsers(ctx context.Context, appID string, userIDs []string, m Message) error {
	if len(userIDs) > 1 {
		userIDs = slices.Compact(slices.Sorted(slices.Values(userIDs)))
	}
	h.localUsers(appID, userIDs, m)
	return h.publish(ctx, &Event{Node: h.node, Kind: ToUsersEvent, AppID: appID, UserIDs: userIDs, Message: m})
}

// ToApp sends m to every session of appID on every node.
func (h *Hub) ToApp(ctx context.Context, appID string, m Message) error {
	h.localApp(appID, m)
	return h.publish(ctx, &Event{Node: h.node, Kind: ToAppEvent, AppID: appID, Message: m})
}

// CloseToken closes every session opened with tokenID in appID, on every
// node, with code and reason: what revoking a client token does.
func (h *Hub) CloseToken(ctx context.Context, appID, tokenID string, code int, reason string) error {
	h.localCloseToken(appID, tokenID, code, reason)
	return h.publish(ctx, &Event{Node: h.node, Kind: CloseTokenEvent, AppID: appID, TokenID: tokenID, Code: code, Reason: reason})
}

func (h *Hub) publish(ctx context.Context, e *Event) error {
	if err := h.broker.Publish(ctx, e); err != nil {
		return &pushgate.Error{Code: pushgate.EUNAVAILABLE, Message: "realtime: other nodes not reached", Err: err}
	}
	return nil
}

// deliver runs what another node published.
func (h *Hub) deliver(e *Event) {
	if e.Node == h.node {
		return // delivered locally when published
	}
	switch e.Kind {
	case ToUsersEvent:
		h.localUsers(e.AppID, e.UserIDs, e.Message)
	case ToAppEvent:
		h.localApp(e.AppID, e.Message)
	case CloseTokenEvent:
		h.localCloseToken(e.AppID, e.TokenID, e.Code, e.Reason)
	case ChannelEvent:
		h.localChannel(e.AppID, e.Channel, e.Except, e.Message)
	case CloseUserEvent:
		h.localCloseUsers(e.AppID, e.UserIDs, e.Code, e.Reason)
	default:
		h.log.Warn("realtime: unknown event kind from another node", "kind", e.Kind, "node", e.Node)
	}
}

// targets is a reusable list of the sessions one fan-out sends to.
type targets struct{ list []*entry }

var targetPool = sync.Pool{New: func() any { return new(targets) }}

func (h *Hub) localUsers(appID string, userIDs []string, m Message) {
	a := h.lookup(appID)
	if a == nil {
		return
	}
	t := targetPool.Get().(*targets)
	a.mu.RLock()
	for _, u := range userIDs {
		t.list = append(t.list, a.users[u]...)
	}
	a.mu.RUnlock()
	h.send(t, m)
}

func (h *Hub) localApp(appID string, m Message) {
	a := h.lookup(appID)
	if a == nil {
		return
	}
	t := targetPool.Get().(*targets)
	a.mu.RLock()
	t.list = append(t.list, a.all...)
	a.mu.RUnlock()
	h.send(t, m)
}

func (h *Hub) localCloseToken(appID, tokenID string, code int, reason string) {
	a := h.lookup(appID)
	if a == nil || tokenID == "" { // "": sessions opened without a token
		return
	}
	var list []*entry
	a.mu.RLock()
	for _, e := range a.all {
		if e.token == tokenID {
			list = append(list, e)
		}
	}
	a.mu.RUnlock()
	for _, e := range list {
		if a.remove(e) {
			e.s.Close(code, reason)
		}
	}
}

// send renders m once per protocol among t's sessions and queues the frame
// on each; a session that cannot take it is dropped and closed. A session
// writes what its socket takes at once on the sending goroutine, so a
// large fan-out is split among the processors. t goes back to the pool.
func (h *Hub) send(t *targets, m Message) {
	workers := min(runtime.GOMAXPROCS(0), len(t.list)/parallelFanout)
	if workers < 2 {
		h.sendTo(t.list, m)
	} else {
		var wg sync.WaitGroup
		for part := range slices.Chunk(t.list, (len(t.list)+workers-1)/workers) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.sendTo(part, m)
			}()
		}
		wg.Wait()
	}
	clear(t.list)
	t.list = t.list[:0]
	targetPool.Put(t)
}

// parallelFanout is the number of sessions per processor above which a
// fan-out is split.
const parallelFanout = 512

func (h *Hub) sendTo(list []*entry, m Message) {
	r := make(renders, 0, 4)
	var b Batch
	for _, e := range list {
		frame, ok := r.frame(e.s.Protocol(), m, h)
		if ok && !sendIn(&b, e.s, frame) && e.app.remove(e) {
			e.s.Close(CloseSlowConsumer, "slow consumer")
		}
	}
	if b != nil {
		b.Flush()
	}
}

// renders caches one message's frames by protocol for one fan-out. There
// are a handful of protocols, so a list beats a map.
type renders []rendered

type rendered struct {
	p     Protocol
	frame []byte
	ok    bool
}

func (r *renders) frame(p Protocol, m Message, h *Hub) ([]byte, bool) {
	for _, x := range *r {
		if x.p == p {
			return x.frame, x.ok
		}
	}
	f, err := p.Render(m)
	if err != nil {
		h.log.Error("realtime: a message does not render", "type", m.Type, "err", err)
	}
	*r = append(*r, rendered{p: p, frame: f, ok: err == nil})
	return f, err == nil
}
