package inboxproto

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/realtime"
)

// Bounds of an SSE stream.
const (
	// sseQueueLimit is how many events may wait for a slow client; one
	// more ends the stream (slow_consumer).
	sseQueueLimit = 256
	// sseWriteTimeout bounds one write to the client.
	sseWriteTimeout = 10 * time.Second
	// sseRetry is the reconnection delay the stream advises.
	sseRetry = 3 * time.Second
	// sseReplayPage is how many notifications one inbox query reads.
	sseReplayPage = 100
)

// Error codes of the error event that ends an SSE stream (SSE has no
// close codes): what the WebSocket close code would have said.
const (
	ErrTokenRevoked = "token_revoked" // 4003: the client token was deleted; do not reconnect
	ErrGoingAway    = "going_away"    // 1001: the server is shutting down; reconnect
	ErrSlowConsumer = "slow_consumer" // 1013: events came faster than read; reconnect
)

// closeErrors are the codes and messages of the error events that end a
// stream, by the WebSocket close code the hub closes a session with.
var closeErrors = map[int][2]string{
	realtime.CloseRevoked:      {ErrTokenRevoked, "the client token was revoked"},
	realtime.CloseGoingAway:    {ErrGoingAway, "the server is shutting down; reconnect"},
	realtime.CloseSlowConsumer: {ErrSlowConsumer, "events came faster than they were read; reconnect"},
	closeInternal:              {ErrInternal, "the server could not read the inbox; reconnect later"},
}

// ServeSSE runs the session of an authenticated request as a stream of
// Server-Sent Events until the client leaves or the session is closed:
// hello, then the user's pending notifications oldest first (or, with a
// Last-Event-ID header or lastEventId query parameter, every notification
// of the inbox after that event's), then live events. It returns an error,
// having written nothing, when the Last-Event-ID is not one of its ids or
// the inbox cannot be read; once the stream began it returns nil.
func (h *Handler) ServeSSE(w http.ResponseWriter, r *http.Request, id Identity) error {
	var after *Position
	if v := r.Header.Get("Last-Event-ID"); v != "" || r.URL.Query().Get("lastEventId") != "" {
		if v == "" {
			v = r.URL.Query().Get("lastEventId")
		}
		p, err := ParseEventID(v)
		if err != nil {
			return err
		}
		after = &p
	}
	ctx := r.Context()
	s := &sseSession{h: h, id: id, sessionID: pushgate.NewID(), rc: http.NewResponseController(w), w: w,
		wake: make(chan struct{}, 1), end: make(chan struct{}), replaying: true, ctx: ctx}
	done := func() {}
	track := h.opts.TrackSSE
	if track == nil {
		track = h.opts.Track
	}
	if track != nil {
		done = track(func(context.Context) { s.Close(realtime.CloseGoingAway, "server shutting down") })
	}
	defer done()
	unregister := h.opts.Hub.Register(id.AppID, id.UserID, id.TokenID, s)
	defer unregister()
	unseen, err := h.opts.Inbox.Unseen(ctx, id.AppID, id.UserID)
	if err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no") // nginx: pass events on at once
	w.WriteHeader(http.StatusOK)
	hello := sseRender(TypeHello, helloPayload{SessionID: s.sessionID, UserID: id.UserID, Unseen: unseen,
		Heartbeat: int(h.heartbeat() / time.Second)})
	if !s.write([]byte("retry: "+strconv.FormatInt(sseRetry.Milliseconds(), 10)+"\n\n"), hello) {
		return nil
	}
	if !s.greet(ctx, unseen, after) {
		return nil
	}
	s.run(ctx)
	return nil
}

// heartbeat is how often a stream sends a comment to keep proxies from
// closing it.
func (h *Handler) heartbeat() time.Duration {
	if h.opts.Heartbeat <= 0 {
		return 25 * time.Second
	}
	return h.opts.Heartbeat
}

// sseSession is one /v1/sse stream, registered with the hub. The request's
// goroutine writes; the hub's Send and Close queue and wake it.
type sseSession struct {
	h         *Handler
	id        Identity
	sessionID string
	w         http.ResponseWriter
	rc        *http.ResponseController
	ctx       context.Context

	mu    sync.Mutex
	queue [][]byte
	wake  chan struct{} // a token when queue has events
	end   chan struct{} // closed by Close
	// final is the error event Close leaves for the writer, if any.
	final   []byte
	closing bool
	// While the greeting replays the inbox, live events wait in held (as
	// in the WebSocket session).
	replaying bool
	held      [][]byte
	unseen    int
}

func (s *sseSession) Protocol() realtime.Protocol { return SSE }

// Send queues a hub event, counting a new notification into the user's
// unseen count as the WebSocket session does. It refuses, and the stream
// ends, when more than sseQueueLimit events wait.
func (s *sseSession) Send(event []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return false
	case s.replaying:
		if len(s.held) >= sseQueueLimit {
			s.closeLocked(realtime.CloseSlowConsumer)
			return false
		}
		s.held = append(s.held, event)
		return true
	case hasPrefix(event, sseNotificationPrefix):
		s.unseen++
		return s.enqueue(event, sseRender(TypeUnseen, countPayload{Count: s.unseen}))
	case hasPrefix(event, sseUnseenPrefix):
		var p countPayload
		if json.Unmarshal(sseData(event), &p) == nil {
			s.unseen = p.Count
		}
	case hasPrefix(event, sseRecountPrefix):
		go s.recount()
		return true
	}
	return s.enqueue(event)
}

// enqueue adds events for the writer; s.mu is held.
func (s *sseSession) enqueue(events ...[]byte) bool {
	if len(s.queue)+len(events) > sseQueueLimit {
		s.closeLocked(realtime.CloseSlowConsumer)
		return false
	}
	s.queue = append(s.queue, events...)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// Close ends the stream after an error event saying why (token_revoked,
// going_away, slow_consumer); events still queued are dropped, and a
// client that resumes with Last-Event-ID gets their notifications again.
func (s *sseSession) Close(code int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked(code)
}

func (s *sseSession) closeLocked(code int) {
	if s.closing {
		return
	}
	e, ok := closeErrors[code]
	if !ok {
		e = closeErrors[closeInternal]
	}
	s.closing, s.queue, s.held = true, nil, nil
	s.final = sseEvent(TypeError, errorFrame(e[0], e[1], ""))
	close(s.end)
}

// recount reads the user's unseen count and sends it, a few sessions at
// a time per node.
func (s *sseSession) recount() {
	s.h.recounts <- struct{}{}
	defer func() { <-s.h.recounts }()
	count, err := s.h.opts.Inbox.Unseen(s.ctx, s.id.AppID, s.id.UserID)
	if err != nil {
		return // the stream ended, or the next change tells it
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.unseen = count
		s.enqueue(sseRender(TypeUnseen, countPayload{Count: count}))
	}
}

func hasPrefix(b, prefix []byte) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == string(prefix)
}

// run writes queued events, and a comment every heartbeat, until the
// client leaves or Close ends the stream.
func (s *sseSession) run(ctx context.Context) {
	tick := time.NewTicker(s.h.heartbeat())
	defer tick.Stop()
	ping := []byte(": ping\n\n")
	for {
		var extra [][]byte
		select {
		case <-ctx.Done():
			return
		case <-s.end:
		case <-s.wake:
		case <-tick.C:
			extra = [][]byte{ping}
		}
		s.mu.Lock()
		batch, closing, final := s.queue, s.closing, s.final
		s.queue = nil
		s.mu.Unlock()
		if closing {
			s.write(final)
			return
		}
		if !s.write(append(batch, extra...)...) {
			return
		}
	}
}

// write writes events and flushes them; false when the client is gone.
func (s *sseSession) write(events ...[]byte) bool {
	if len(events) == 0 {
		return true
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	for _, e := range events {
		if _, err := s.w.Write(e); err != nil {
			return false
		}
	}
	return s.rc.Flush() == nil
}

// greet writes the replay after hello, then what came live meanwhile.
func (s *sseSession) greet(ctx context.Context, unseen int, after *Position) bool {
	replayed, ok := s.replay(ctx, after)
	if !ok {
		s.Close(closeInternal, "could not read the inbox")
		s.mu.Lock()
		final := s.final
		s.mu.Unlock()
		s.write(final)
		return false
	}
	s.mu.Lock()
	s.unseen = unseen
	live := false
	var queue [][]byte
	for _, e := range s.held {
		if hasPrefix(e, sseRecountPrefix) {
			live = true // the count below is read again
			continue
		}
		if hasPrefix(e, sseNotificationPrefix) {
			var n idPayload
			if json.Unmarshal(sseData(e), &n) == nil && replayed[n.ID] {
				continue
			}
			live = true
		}
		queue = append(queue, e)
	}
	s.held, s.replaying = nil, false
	if !s.closing {
		s.enqueue(queue...)
	}
	s.mu.Unlock()
	if live {
		// Some of them may be in hello's count, some not: ask again.
		go s.recount()
	}
	return true
}

// replay writes the notifications a new stream starts with, oldest
// first, and returns their ids: without after, those no device has
// acknowledged (up to Options.Replay, as /v1/ws); with after, every one
// in the inbox after it, whatever its status.
func (s *sseSession) replay(ctx context.Context, after *Position) (map[string]bool, bool) {
	sent := map[string]bool{}
	q := inbox.Query{AppID: s.id.AppID, UserID: s.id.UserID, Filter: inbox.FilterUnseen, Oldest: true, Limit: sseReplayPage}
	if after != nil {
		q.Filter, q.Since = inbox.FilterAll, after.At
	}
	for after != nil || len(sent) < s.h.opts.Replay {
		items, next, err := s.h.opts.Inbox.Inbox(ctx, q)
		if err != nil {
			s.h.opts.Logger.Warn("realtime sse: replay", "app", s.id.AppID, "err", err)
			return nil, false
		}
		var page [][]byte
		for _, it := range items {
			switch {
			case after == nil && (it.Status != inbox.StatusUnseen || len(sent) >= s.h.opts.Replay):
				continue
			case after != nil && !after.Before(it.CreatedAt, it.ID):
				continue
			}
			sent[it.ID] = true
			page = append(page, sseRender(TypeNotification, NotificationOf(&it.Notification)))
		}
		if !s.write(page...) {
			return nil, false
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	return sent, true
}
