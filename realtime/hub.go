package realtime

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/pushgate/pushgate"
)

// Options configure a Hub. The zero value is one node on its own.
type Options struct {
	// Broker carries events to the other nodes; nil is a MemoryBroker of its
	// own (one node).
	Broker Broker
	// Node names this hub in the events it publishes, and must differ from
	// every other node's (a hub ignores events under its own name); "" is a
	// new id.
	Node   string
	Logger *slog.Logger
}

// Hub holds this node's live sessions, indexed by app and user (a client
// token's sessions are found by a scan), and delivers to them what any
// node publishes.
//
// Locks: the apps map has its own lock, each app another; neither is held
// while a session's Send or Close runs. A fan-out copies the sessions it
// targets under the app's read lock and sends after releasing it.
type Hub struct {
	broker Broker
	node   string
	log    *slog.Logger

	mu     sync.RWMutex
	apps   map[string]*appSessions
	closed bool // under mu: Shutdown has begun

	cancel  func() // the broker subscription, once Started
	started atomic.Bool
}

// appSessions is one app's sessions on this node. Sessions are indexed by
// user, for every delivery, but not by client token: revoking one is rare
// and scans the app's sessions (a map per session would cost every idle
// session memory for it).
type appSessions struct {
	mu    sync.RWMutex
	all   []*entry // every session, in no order; entry.idx is its place
	users map[string][]*entry
	// channels are the subscribers of each channel (Pusher's channels):
	// only sessions that subscribed are in them.
	channels map[string]*channelSubs
	closed   bool // the hub shut down: register nothing more
}

// entry is one registered session. Its fields other than idx and removed
// never change; idx and removed change under the app's lock.
type entry struct {
	s       Session
	app     *appSessions
	user    string
	token   string
	idx     int
	removed bool
}

// New returns a hub; Start subscribes it to the broker.
func New(opts Options) *Hub {
	h := &Hub{broker: opts.Broker, node: opts.Node, log: opts.Logger, apps: map[string]*appSessions{}}
	if h.broker == nil {
		h.broker = NewMemoryBroker()
	}
	if h.node == "" {
		h.node = pushgate.NewID()
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h
}

// Node returns the id this hub publishes under.
func (h *Hub) Node() string { return h.node }

// Start subscribes the hub to the broker, so it delivers what other nodes
// publish. It returns once the subscription is in place.
func (h *Hub) Start(ctx context.Context) error {
	if !h.started.CompareAndSwap(false, true) {
		return pushgate.Errorf(pushgate.EINTERNAL, "realtime: hub started twice")
	}
	cancel, err := h.broker.Subscribe(ctx, h.deliver)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.cancel = cancel
	h.mu.Unlock()
	return nil
}

// Shutdown stops delivering from other nodes and closes every session with
// CloseGoingAway. A session registered afterwards is closed at once. Nothing
// in it waits on the network (sessions close without blocking), so ctx only
// names the deadline it keeps.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	cancel := h.cancel
	apps := make([]*appSessions, 0, len(h.apps))
	for _, a := range h.apps {
		apps = append(apps, a)
	}
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	for _, a := range apps {
		a.mu.Lock()
		all := a.all
		for _, e := range all {
			e.removed = true
		}
		a.all, a.users, a.channels, a.closed = nil, map[string][]*entry{}, map[string]*channelSubs{}, true
		a.mu.Unlock()
		for _, e := range all {
			e.s.Close(CloseGoingAway, "server shutting down")
		}
	}
	return nil
}

// Register adds s as a session of userID in appID, opened with the client
// token tokenID ("" when it was not opened with one, e.g. delegated
// authentication). A session with userID "" is anonymous (a Pusher
// connection before sign-in, a Socket.IO one before register): ToApp
// reaches it, ToUsers never. The returned func removes it; calling it again
// does nothing. The hub keys sessions by the Session value itself: session ids
// (hello's sessionId, Pusher's socket_id) belong to each protocol.
func (h *Hub) Register(appID, userID, tokenID string, s Session) (unregister func()) {
	a, ok := h.app(appID)
	if !ok {
		s.Close(CloseGoingAway, "server shutting down")
		return func() {}
	}
	e := &entry{s: s, app: a, user: userID, token: tokenID}
	a.mu.Lock()
	if a.closed { // Shutdown ran since h.app
		a.mu.Unlock()
		s.Close(CloseGoingAway, "server shutting down")
		return func() {}
	}
	e.idx = len(a.all)
	a.all = append(a.all, e)
	if userID != "" {
		a.users[userID] = append(a.users[userID], e)
	}
	a.mu.Unlock()
	return func() { a.remove(e) }
}

// app returns appID's sessions, made on first use; false once the hub is
// shut down. Apps are few (tenants) and are kept once made.
func (h *Hub) app(appID string) (*appSessions, bool) {
	h.mu.RLock()
	a, closed := h.apps[appID], h.closed
	h.mu.RUnlock()
	if closed {
		return nil, false
	}
	if a != nil {
		return a, true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	if a = h.apps[appID]; a == nil {
		a = &appSessions{users: map[string][]*entry{}, channels: map[string]*channelSubs{}}
		h.apps[appID] = a
	}
	return a, true
}

// lookup returns appID's sessions, or nil when it has none on this node.
func (h *Hub) lookup(appID string) *appSessions {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.apps[appID]
}

// Sessions counts userID's sessions in appID on this node (other nodes'
// are not counted: presence across nodes belongs to Redis, issue 15).
func (h *Hub) Sessions(appID, userID string) int {
	a := h.lookup(appID)
	if a == nil {
		return 0
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return len(a.users[userID])
}

// remove takes e out of every index; it reports whether e was still there.
func (a *appSessions) remove(e *entry) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e.removed {
		return false
	}
	e.removed = true
	last := a.all[len(a.all)-1]
	a.all[e.idx], last.idx = last, e.idx
	a.all[len(a.all)-1] = nil
	a.all = a.all[:len(a.all)-1]
	if e.user != "" {
		drop(a.users, e.user, e)
	}
	return true
}

// drop removes e from m[key], and the key once its list is empty. Lists
// are one user's sessions: a few.
func drop(m map[string][]*entry, key string, e *entry) {
	list := m[key]
	for i, x := range list {
		if x == e {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(m, key)
		return
	}
	m[key] = list
}
