package webhooks

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"
)

// The names of Pusher's channel webhook events.
const (
	ChannelOccupied = "channel_occupied"
	ChannelVacated  = "channel_vacated"
	MemberAdded     = "member_added"
	MemberRemoved   = "member_removed"
	ClientEventName = "client_event"
	CacheMiss       = "cache_miss"
)

// ChannelEvent is one event of an app's Pusher channel webhook, with the
// fields Pusher gives it: every event has name and channel; member events
// have user_id; a client_event has event, data, socket_id and, on a
// presence channel, user_id.
type ChannelEvent struct {
	Name     string `json:"name"`
	Channel  string `json:"channel"`
	UserID   string `json:"user_id,omitempty"`
	Event    string `json:"event,omitempty"`
	Data     string `json:"data,omitempty"`
	SocketID string `json:"socket_id,omitempty"`
}

// ChannelStore keeps the apps' channel webhook events and their batches.
// In it an app is its own bucket: an event's and a batch's BucketID is
// the app's id, and Targets are asked for (appID, appID).
type ChannelStore interface {
	Queue
	// AddChannelEvents stores events (each with AppID, At and Channel set)
	// unbatched, in the order given.
	AddChannelEvents(ctx context.Context, events []Event) error
}

// pusherBody is Pusher's channel webhook body.
type pusherBody struct {
	TimeMS int64           `json:"time_ms"`
	Events []*ChannelEvent `json:"events"`
}

// PusherBody renders events as Pusher's channel webhook body,
// {"time_ms": <at in Unix milliseconds>, "events": [...]}.
func PusherBody(events []Event, at time.Time) ([]byte, error) {
	b := pusherBody{TimeMS: at.UnixMilli(), Events: make([]*ChannelEvent, 0, len(events))}
	for _, e := range events {
		if e.Channel != nil {
			b.Events = append(b.Events, e.Channel)
		}
	}
	return json.Marshal(b)
}

// render is a batch's body in the target's format, made at now.
func render(f Format, events []Event, now time.Time) ([]byte, error) {
	if f == FormatPusher {
		return PusherBody(events, now)
	}
	return Body(events)
}

// ChannelRecorderOptions tune a ChannelRecorder.
type ChannelRecorderOptions struct {
	// Buffer bounds the events waiting to be written (default 10000).
	Buffer int
	// MaxBatch bounds the events one write stores (default 500).
	MaxBatch int
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// ChannelRecorder stores channel webhook events as the Pusher protocol
// reports them, without making the connection that caused one wait: Record
// queues the event and a writer stores what queued up in one call. From
// the store on, events are batched and delivered, with retries, by a
// Flusher and a Dispatcher like a bucket's.
type ChannelRecorder struct {
	store   ChannelStore
	opts    ChannelRecorderOptions
	in      chan Event
	run     *runner
	dropped atomic.Int64
}

// NewChannelRecorder returns a recorder over store; Start runs its writer.
func NewChannelRecorder(store ChannelStore, opts ChannelRecorderOptions) *ChannelRecorder {
	if opts.Buffer <= 0 {
		opts.Buffer = 10000
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 500
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &ChannelRecorder{store: store, opts: opts, in: make(chan Event, opts.Buffer), run: newRunner()}
}

// Record queues an app's event. When the writer is that far behind (the
// database is down), the event is dropped and counted: a connection's
// subscribe must not wait for a webhook.
func (r *ChannelRecorder) Record(appID string, e ChannelEvent) {
	// No ID: the store numbers events as it stores them.
	ev := Event{AppID: appID, BucketID: appID, At: r.opts.Now().UTC(), Channel: &e}
	select {
	case r.in <- ev:
	default:
		if r.dropped.Add(1)%1000 == 1 {
			r.opts.Logger.Warn("channel webhook events dropped: the writer is behind", "dropped", r.dropped.Load())
		}
	}
}

// Start runs the writer until Shutdown.
func (r *ChannelRecorder) Start(ctx context.Context) {
	r.run.start(ctx, func() {
		for {
			select {
			case <-r.run.stop:
				r.drain()
				return
			case e := <-r.in:
				r.write(r.take(e))
			}
		}
	})
}

// take returns first and what else is queued, up to MaxBatch.
func (r *ChannelRecorder) take(first Event) []Event {
	batch := []Event{first}
	for len(batch) < r.opts.MaxBatch {
		select {
		case e := <-r.in:
			batch = append(batch, e)
		default:
			return batch
		}
	}
	return batch
}

// drain writes what is queued when Shutdown comes.
func (r *ChannelRecorder) drain() {
	for {
		select {
		case e := <-r.in:
			r.write(r.take(e))
		default:
			return
		}
	}
}

func (r *ChannelRecorder) write(events []Event) {
	ctx, cancel := context.WithTimeout(r.run.ctx, 30*time.Second)
	defer cancel()
	if err := r.store.AddChannelEvents(ctx, events); err != nil {
		r.opts.Logger.Warn("store channel webhook events", "events", len(events), "err", err)
	}
}

// Shutdown writes what is queued and stops the writer; when ctx ends
// first the write in progress is cancelled.
func (r *ChannelRecorder) Shutdown(ctx context.Context) error { return r.run.shutdown(ctx) }
