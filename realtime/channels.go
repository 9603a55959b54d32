package realtime

import (
	"context"
	"runtime"
	"slices"
	"sync"
)

// Channels are named groups of sessions within an app that a session joins
// and leaves itself (the Pusher protocol's subscriptions). The hub knows
// only who subscribed on this node; what spans nodes (subscription counts,
// presence members) belongs to the protocol's shared state in Redis.

// channelSubs are one channel's subscribers on this node: a list for the
// fan-out and each session's place in it, so that leaving is O(1).
type channelSubs struct {
	list []Session
	idx  map[Session]int
}

// Identified is a session with a protocol id (Pusher's socket_id) that a
// channel publication may exclude.
type Identified interface {
	SocketID() string
}

// Subscribe adds s to channel's subscribers in appID on this node; it
// reports false when s was already there or the hub is shut down.
func (h *Hub) Subscribe(appID, channel string, s Session) bool {
	a, ok := h.app(appID)
	if !ok {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	c := a.channels[channel]
	if c == nil {
		c = &channelSubs{idx: map[Session]int{}}
		a.channels[channel] = c
	}
	if _, dup := c.idx[s]; dup {
		return false
	}
	c.idx[s] = len(c.list)
	c.list = append(c.list, s)
	return true
}

// Unsubscribe takes s out of channel's subscribers; it reports whether s
// was there.
func (h *Hub) Unsubscribe(appID, channel string, s Session) bool {
	a := h.lookup(appID)
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.channels[channel]
	if c == nil {
		return false
	}
	i, ok := c.idx[s]
	if !ok {
		return false
	}
	last := c.list[len(c.list)-1]
	c.list[i], c.idx[last] = last, i
	c.list[len(c.list)-1] = nil
	c.list = c.list[:len(c.list)-1]
	delete(c.idx, s)
	if len(c.list) == 0 {
		delete(a.channels, channel)
	}
	return true
}

// Subscribers counts channel's subscribers in appID on this node.
func (h *Hub) Subscribers(appID, channel string) int {
	a := h.lookup(appID)
	if a == nil {
		return 0
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if c := a.channels[channel]; c != nil {
		return len(c.list)
	}
	return 0
}

// ToChannel sends m to every subscriber of channel in appID, on every
// node, except the session whose SocketID is except ("" excludes none).
func (h *Hub) ToChannel(ctx context.Context, appID, channel, except string, m Message) error {
	h.localChannel(appID, channel, except, m)
	return h.publish(ctx, &Event{Node: h.node, Kind: ChannelEvent, AppID: appID, Channel: channel, Except: except, Message: m})
}

// CloseUsers closes every session of userIDs in appID, on every node,
// with code and reason (Pusher's terminate_connections).
func (h *Hub) CloseUsers(ctx context.Context, appID string, userIDs []string, code int, reason string) error {
	h.localCloseUsers(appID, userIDs, code, reason)
	return h.publish(ctx, &Event{Node: h.node, Kind: CloseUserEvent, AppID: appID, UserIDs: userIDs, Code: code, Reason: reason})
}

func (h *Hub) localCloseUsers(appID string, userIDs []string, code int, reason string) {
	a := h.lookup(appID)
	if a == nil {
		return
	}
	var list []*entry
	a.mu.RLock()
	for _, u := range userIDs {
		list = append(list, a.users[u]...)
	}
	a.mu.RUnlock()
	for _, e := range list {
		if a.remove(e) {
			e.s.Close(code, reason)
		}
	}
}

// subscribers is a reusable copy of one channel's subscribers.
type subscribers struct{ list []Session }

var subscriberPool = sync.Pool{New: func() any { return new(subscribers) }}

// localChannel renders m once per protocol and sends it to this node's
// subscribers of channel, split among the processors when they are many
// (as send does). A subscriber that cannot take it is closed as a slow
// consumer; its protocol unsubscribes it as its connection ends.
func (h *Hub) localChannel(appID, channel, except string, m Message) {
	a := h.lookup(appID)
	if a == nil {
		return
	}
	t := subscriberPool.Get().(*subscribers)
	a.mu.RLock()
	if c := a.channels[channel]; c != nil {
		t.list = append(t.list, c.list...)
	}
	a.mu.RUnlock()
	workers := min(runtime.GOMAXPROCS(0), len(t.list)/parallelFanout)
	if workers < 2 {
		h.sendToSubscribers(t.list, except, m)
	} else {
		var wg sync.WaitGroup
		for part := range slices.Chunk(t.list, (len(t.list)+workers-1)/workers) {
			wg.Go(func() { h.sendToSubscribers(part, except, m) })
		}
		wg.Wait()
	}
	clear(t.list)
	t.list = t.list[:0]
	subscriberPool.Put(t)
}

func (h *Hub) sendToSubscribers(list []Session, except string, m Message) {
	r := make(renders, 0, 2)
	var b Batch
	for _, s := range list {
		if except != "" {
			if id, ok := s.(Identified); ok && id.SocketID() == except {
				continue
			}
		}
		frame, ok := r.frame(s.Protocol(), m, h)
		if ok && !sendIn(&b, s, frame) {
			s.Close(CloseSlowConsumer, "slow consumer")
		}
	}
	if b != nil {
		b.Flush()
	}
}

// sendIn is s.Send(frame), gathered in *b when s is a Batcher.
func sendIn(b *Batch, s Session, frame []byte) bool {
	if bs, ok := s.(Batcher); ok {
		var sent bool
		*b, sent = bs.SendIn(*b, frame)
		return sent
	}
	return s.Send(frame)
}
