package inboxproto

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/realtime"
	"github.com/pushgate/pushgate/realtime/wsconn"
)

// Inbox is what a session asks of the user's inbox (inbox.Service).
type Inbox interface {
	Inbox(ctx context.Context, q inbox.Query) ([]*inbox.Item, string, error)
	Mark(ctx context.Context, appID, userID string, ids []string, status inbox.Status) ([]*inbox.Item, error)
	ReadAll(ctx context.Context, appID, userID string) (int, error)
	Unseen(ctx context.Context, appID, userID string) (int, error)
}

// Hub is where sessions register to hear what any node publishes
// (realtime.Hub).
type Hub interface {
	Register(appID, userID, tokenID string, s realtime.Session) (unregister func())
}

// Identity is who an authenticated connection belongs to.
type Identity struct {
	AppID, UserID, TokenID string
}

// Options configure a Handler.
type Options struct {
	Inbox    Inbox
	Hub      Hub
	Upgrader *wsconn.Upgrader
	// Heartbeat is what hello announces; the Upgrader's must be the same.
	Heartbeat time.Duration
	// Track registers a live connection with the server's registry, which
	// closes it on shutdown; nil tracks nothing.
	Track func(close func(context.Context)) (done func())
	// TrackSSE is Track for SSE streams, so that they can be told apart
	// from WebSocket sessions; nil uses Track.
	TrackSSE func(close func(context.Context)) (done func())
	// Replay bounds the pending notifications sent after hello (default
	// 500); a device catches up on the rest with history.
	Replay int
	Logger *slog.Logger
}

// Handler serves the pushgate.v1 protocol over WebSocket.
type Handler struct {
	opts Options
	// appIDs holds one copy of each app id its sessions name: a session
	// keeps its app's id, and ten thousand of them need not keep ten
	// thousand copies.
	appIDs sync.Map
	// recounts bounds the unseen counts read at once for recounts.
	recounts chan struct{}
}

// NewHandler makes a Handler.
func NewHandler(opts Options) *Handler {
	if opts.Replay <= 0 {
		opts.Replay = 500
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{opts: opts, recounts: make(chan struct{}, 8)}
}

// ServeWS upgrades an authenticated request and starts its session:
// hello, the user's pending notifications oldest first, then live frames
// both ways. It returns once the session runs; an idle session holds no
// goroutine.
func (h *Handler) ServeWS(w http.ResponseWriter, r *http.Request, id Identity) {
	c, err := h.opts.Upgrader.Upgrade(w, r)
	if err != nil {
		return // answered by the upgrader
	}
	// The request's context ends with the handler. A session's calls are
	// short and bounded by the store's own timeouts, and a context per
	// session that the connection's end cancels would cost more memory
	// than the session itself: it uses context.Background.
	if v, loaded := h.appIDs.LoadOrStore(id.AppID, id.AppID); loaded {
		id.AppID = v.(string)
	}
	s := &session{h: h, c: c, id: id, replaying: true, tracked: func() {}}
	if h.opts.Track != nil {
		s.tracked = h.opts.Track(func(context.Context) { c.Close(wsconn.CloseGoingAway, "server shutting down") })
	}
	s.unregister = h.opts.Hub.Register(id.AppID, id.UserID, id.TokenID, s)
	if !s.greet(context.Background()) {
		c.Close(closeInternal, "could not read the inbox")
	}
	c.Serve(s)
}

// Frame handles a client frame (wsconn.Handler).
func (s *session) Frame(data []byte, err error) { s.handle(context.Background(), data, err) }

// Closed ends the session once its connection ended (wsconn.Handler).
func (s *session) Closed() {
	s.unregister()
	s.tracked()
}

// closeInternal is WebSocket's "internal error" close code, which SSE
// streams turn into an internal error event.
const closeInternal = wsconn.CloseInternal

// session is one /v1/ws connection, registered with the hub.
type session struct {
	h  *Handler
	c  *wsconn.Conn
	id Identity
	// unregister takes it out of the hub, tracked out of the server's
	// registry of live connections, once the connection ended.
	unregister, tracked func()

	// While the pending notifications are sent, live frames wait in held
	// so that they come after them, and one of the pending ones that also
	// came live is not sent twice.
	mu        sync.Mutex
	replaying bool
	held      [][]byte
	// unseen is the user's unseen count as this session last told it.
	unseen int
}

func (s *session) Protocol() realtime.Protocol { return WebSocket }

// Send passes a hub frame on. A new notification is unread, so the
// session counts it into the user's unseen count and says so; an unseen
// frame sets the count; a recount asks the inbox again.
func (s *session) Send(frame []byte) bool {
	s.mu.Lock()
	if s.replaying {
		s.held = append(s.held, frame)
		s.mu.Unlock()
		return true
	}
	switch {
	case bytes.HasPrefix(frame, notificationPrefix):
		s.unseen++
		count := s.unseen
		s.mu.Unlock()
		return s.c.Send(frame, unseenFrame(count))
	case bytes.HasPrefix(frame, unseenPrefix):
		var p countPayload
		if json.Unmarshal(frame, &p) == nil {
			s.unseen = p.Count
		}
	case bytes.HasPrefix(frame, recountPrefix):
		s.mu.Unlock()
		go s.recount()
		return true
	}
	s.mu.Unlock()
	return s.c.Send(frame)
}

// recount reads the user's unseen count and sends it, a few sessions at
// a time per node.
func (s *session) recount() {
	s.h.recounts <- struct{}{}
	defer func() { <-s.h.recounts }()
	count, err := s.h.opts.Inbox.Unseen(context.Background(), s.id.AppID, s.id.UserID)
	if err != nil {
		return // the connection ended, or the next change tells it
	}
	s.mu.Lock()
	s.unseen = count
	s.mu.Unlock()
	s.c.Send(unseenFrame(count))
}

func (s *session) Close(code int, reason string) { s.c.Close(code, reason) }

// greet sends hello and the pending notifications, then what came live
// meanwhile. The pending ones are read first: when they are all of the
// user's unseen notifications (fewer than Options.Replay unacknowledged),
// their number is hello's count and no count is asked of the store.
func (s *session) greet(ctx context.Context) bool {
	pending, replayed, unseen, err := s.pending(ctx)
	if err != nil {
		s.h.opts.Logger.Warn("realtime session: pending notifications", "app", s.id.AppID, "err", err)
		return false
	}
	if unseen < 0 {
		if unseen, err = s.h.opts.Inbox.Unseen(ctx, s.id.AppID, s.id.UserID); err != nil {
			s.h.opts.Logger.Warn("realtime session: unseen count", "app", s.id.AppID, "err", err)
			return false
		}
	}
	s.c.Send(render(TypeHello, helloPayload{SessionID: pushgate.NewID(), UserID: s.id.UserID, Unseen: unseen,
		Heartbeat: int(s.h.opts.Heartbeat / time.Second)}))
	for part := range slices.Chunk(pending, replayBatch) {
		s.c.Send(part...)
	}
	s.mu.Lock()
	s.unseen = unseen
	live := false
	for _, f := range s.held {
		if bytes.HasPrefix(f, recountPrefix) {
			live = true // a hub message, not a frame: count again below
			continue
		}
		if id, ok := notificationID(f); ok {
			if replayed[id] {
				continue
			}
			live = true
		}
		s.c.Send(f)
	}
	s.held, s.replaying = nil, false
	s.mu.Unlock()
	if live {
		// Some of them may be in hello's count, some not: ask again.
		s.recount()
	}
	return true
}

// replayBatch is how many pending notifications go into one write.
const replayBatch = 32

// pending reads the user's notifications that no device has acknowledged
// yet, oldest first, up to Options.Replay, as frames, with their ids; and
// the user's unseen count when it read all of the unseen ones (-1 when it
// stopped at the bound).
func (s *session) pending(ctx context.Context) (frames [][]byte, ids map[string]bool, unseen int, err error) {
	ids = map[string]bool{}
	q := inbox.Query{AppID: s.id.AppID, UserID: s.id.UserID, Filter: inbox.FilterUnseen, Oldest: true, Limit: 100}
	for {
		items, next, err := s.h.opts.Inbox.Inbox(ctx, q)
		if err != nil {
			return nil, nil, 0, err
		}
		for _, it := range items {
			unseen++
			if it.Status != inbox.StatusUnseen {
				continue // delivered to a device, not read: counted, not sent again
			}
			if len(frames) >= s.h.opts.Replay {
				return frames, ids, -1, nil
			}
			ids[it.ID] = true
			frames = append(frames, render(TypeNotification, NotificationOf(&it.Notification)))
		}
		if next == "" {
			return frames, ids, unseen, nil
		}
		q.Cursor = next
	}
}

// notificationID reads the id of a notification frame.
func notificationID(frame []byte) (string, bool) {
	var f struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	if json.Unmarshal(frame, &f) != nil || f.Type != TypeNotification {
		return "", false
	}
	return f.ID, true
}
