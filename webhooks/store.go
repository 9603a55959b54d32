package webhooks

import (
	"context"
	"time"
)

// Status is where a batch is in its life.
type Status string

const (
	StatusPending   Status = "pending"   // waiting for its next attempt (or in one)
	StatusDelivered Status = "delivered" // the consumer answered 2xx
	StatusDead      Status = "dead"      // RetryFor passed without a 2xx, or it can never be sent
)

// Batch is one POST's worth of a bucket's events, and how its delivery
// went. Its ID is the webhook-id header, the same on every attempt.
type Batch struct {
	ID       string
	AppID    string
	BucketID string
	Status   Status
	// Events is how many events the batch carries.
	Events int
	// Attempts counts the POSTs made (or begun) since the batch was created.
	Attempts int
	// LastStatusCode is the HTTP status of the last answer (0: none, e.g.
	// a timeout or a refused connection).
	LastStatusCode int
	// LastError says why the last attempt failed ("" after a success).
	LastError string
	CreatedAt time.Time
	// RetrySince starts the retry period: creation, or the last Redeliver.
	RetrySince time.Time
	// NextAttemptAt is when a pending batch is due (zero otherwise).
	NextAttemptAt time.Time
	LastAttemptAt time.Time
	DeliveredAt   time.Time
}

// PendingBucket summarises a bucket's events that are in no batch yet.
type PendingBucket struct {
	AppID    string
	BucketID string
	Events   int
	Oldest   time.Time
}

// NewBatch asks for a batch of up to Max of a bucket's oldest unbatched
// events.
type NewBatch struct {
	ID        string
	AppID     string
	BucketID  string
	Max       int
	CreatedAt time.Time
}

// Outcome is the end of one attempt. Status is StatusPending when another
// attempt is due at NextAttemptAt.
type Outcome struct {
	BatchID string
	// Attempt is the batch's Attempts as the claim returned it: an outcome
	// for an older claim (one whose lease ran out and was claimed again)
	// changes nothing.
	Attempt       int
	Status        Status
	StatusCode    int
	Error         string
	At            time.Time
	NextAttemptAt time.Time
	// Reason is why a failed attempt failed, one of the Fail constants
	// (metrics and logs use it; stores need not keep it).
	Reason string
}

// ListOptions select batches for Store.ListBatches.
type ListOptions struct {
	// Status keeps only batches in that state ("" for all).
	Status Status
	// Before keeps only batches created before the one with this id, for
	// paging (batch ids sort by creation time).
	Before string
	// Limit bounds the answer (default 50, at most 500).
	Limit int
}

func (o *ListOptions) defaults() {
	if o.Limit <= 0 {
		o.Limit = 50
	}
	o.Limit = min(o.Limit, 500)
}

// Store persists events and batches. Every method is safe to call from
// several processes sharing the database at once.
//
// Its events have two writers, and it writes another store's records: the
// sent and failed events are inserted by the message store
// (messages.Store.Finish, with ResultEvent's mapping) in the transaction
// that stores the results, and RecordClientEvents writes the client-event
// times of messages (and moves a message's outbox chunk, if the message
// store keeps one, into messages first). An implementation keeps both stores in one
// database.
type Store interface {
	Queue
	// RecordClientEvents stores what clients report, in one transaction:
	// for each event whose message exists in its context it sets the
	// message's time for the kind (delivered, clicked or closed; a column
	// of the message store's records) unless one is set, and when it was
	// unset and the bucket has a callback it stores the webhook event (with
	// the message's foreign id). found[i] reports whether events[i]'s
	// message exists in its context.
	RecordClientEvents(ctx context.Context, events []ClientEvent) (found []bool, err error)
}

// Queue is the part of a Store that the Flusher and the Dispatcher use:
// the backlog of events and the batches made of them. The bucket callbacks'
// Store is one; the apps' channel webhooks keep another (ChannelStore).
type Queue interface {
	// PendingBuckets summarises unbatched events per bucket, at most limit
	// buckets.
	PendingBuckets(ctx context.Context, limit int) ([]PendingBucket, error)
	// CreateBatch moves up to b.Max of the bucket's oldest unbatched events
	// into a new pending batch due at b.CreatedAt, atomically, and reports
	// how many it moved; with none to move it creates no batch and returns
	// 0. Concurrent calls for one bucket never move an event twice.
	CreateBatch(ctx context.Context, b NewBatch) (int, error)
	// DropPending deletes a bucket's unbatched events and reports how many.
	DropPending(ctx context.Context, bucketID string) (int, error)

	// ClaimBatches takes up to limit pending batches due at now, oldest
	// first: it counts an attempt and makes each due again at leaseUntil,
	// so that a claim whose process dies is retried. Concurrent claims
	// never return one batch twice before its lease ends.
	ClaimBatches(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*Batch, error)
	// BatchEvents returns a batch's events in a stable order (by time).
	BatchEvents(ctx context.Context, batchID string) ([]Event, error)
	// FinishAttempt records an attempt's outcome on a pending batch whose
	// Attempts still equals o.Attempt; otherwise it does nothing.
	FinishAttempt(ctx context.Context, o Outcome) error

	// GetBatch returns a batch of an app's bucket, or ENOTFOUND.
	GetBatch(ctx context.Context, appID, bucketID, id string) (*Batch, error)
	// ListBatches returns a bucket's batches, newest first.
	ListBatches(ctx context.Context, appID, bucketID string, opts ListOptions) ([]*Batch, error)
	// Redeliver makes a delivered or dead batch pending and due at now,
	// with a new retry period starting at now. It fails with ENOTFOUND for
	// an unknown batch and ECONFLICT for a pending one.
	Redeliver(ctx context.Context, appID, bucketID, id string, now time.Time) error
	// PruneBatches deletes up to limit delivered or dead batches whose
	// last attempt was before before, with their events.
	PruneBatches(ctx context.Context, before time.Time, limit int) (int, error)
}

// Format is how a Target's batches are rendered and signed.
type Format int

const (
	// FormatCORE is CORE's body, signed as Standard Webhooks say.
	FormatCORE Format = iota
	// FormatPusher is Pusher's channel webhook body ({time_ms, events}),
	// signed with X-Pusher-Key and X-Pusher-Signature.
	FormatPusher
)

// Target is where a bucket's batches go and how its events are batched.
type Target struct {
	// Format is the body and signature (FormatCORE unless set).
	Format Format
	// Key is the Pusher app key, sent as X-Pusher-Key (FormatPusher).
	Key string
	// URL is the callback; it must be an absolute http(s) URL.
	URL string
	// Headers are the bucket's configured headers, sent with every POST.
	Headers map[string]string
	// Secret signs every POST: "whsec_" followed by the base64 key; with
	// FormatPusher, the app's secret as it is.
	Secret string
	// BatchSize and FlushAfter override the Flusher's defaults when set.
	BatchSize  int
	FlushAfter time.Duration
}

// Targets resolves a bucket's callback. For a bucket that no longer
// exists, or whose callback is "none", it returns an ENOTFOUND error: the
// bucket's pending events are then dropped and its batches dead-lettered.
type Targets interface {
	Target(ctx context.Context, appID, bucketID string) (*Target, error)
}

// TargetsFunc adapts a function to Targets.
type TargetsFunc func(ctx context.Context, appID, bucketID string) (*Target, error)

func (f TargetsFunc) Target(ctx context.Context, appID, bucketID string) (*Target, error) {
	return f(ctx, appID, bucketID)
}

// Backlog is what waits to be POSTed, as metrics show it.
type Backlog struct {
	// Pending counts batches not yet delivered nor dead, over a bounded
	// number of rows; when Capped, there are at least that many.
	Pending int
	Capped  bool
	// Oldest is when the oldest pending batch was made; zero when there
	// is none.
	Oldest time.Time
}
