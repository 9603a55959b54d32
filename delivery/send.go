package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/internal/tracing"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/recipients"
)

// TypeSend carries a chunk of messages of one credential and one context.
const TypeSend = "message:send"

// sendTask is TypeSend's payload. It names messages; the database holds
// them, so a task that runs twice finds them claimed and does nothing.
type sendTask struct {
	AppID        string `json:"a"`
	BucketID     string `json:"b"`
	ContextID    string `json:"c"`
	CredentialID string `json:"r"`
	IDs          idList `json:"i"`
	// Trace is the W3C traceparent of the send (tracing on): the task's
	// span joins its trace. Tasks of older versions have none.
	Trace string `json:"t,omitempty"`
}

// zeroTTLWindow is how long a message with a ttl of (almost) zero may wait
// for a worker before it expires.
const zeroTTLWindow = 30 * time.Second

// Options tune sending and delivery.
type Options struct {
	// ChunkSize is how many messages one task carries (default 500).
	ChunkSize int
	// MaxAttempts bounds tries per message before it fails as unavailable (default 8).
	MaxAttempts int
	// Lease is how long a worker may hold claimed messages (default 5 min).
	Lease time.Duration
	// Concurrency is how many sends one task runs at once (default 64).
	Concurrency int
	// StaleAfter is how long past due a queued message waits before the
	// sweep enqueues it again (default 1 min).
	StaleAfter time.Duration
	// ResultInterval spaces a task's writes of its results (default
	// 10 ms): a crash leaves about this long of a node's deliveries
	// unrecorded, to be sent again after recovery, besides the sends in
	// flight (docs/reliability.md).
	ResultInterval time.Duration
	// SweepInterval is how often the recovery sweep runs (default 30 s).
	SweepInterval time.Duration
	// MaxBackoff caps the wait between attempts (default 10 min).
	MaxBackoff time.Duration
	Recipients recipients.Options
	Logger     *slog.Logger
	Now        func() time.Time
	// Images is asked to process a context's images when a send task finds
	// them still processing (nil: nobody is asked).
	Images ImageJobs
	// NewIDGroup makes the ids of one chunk (default pushgate.NewIDGroup);
	// tests make it return ids already in use.
	NewIDGroup func(n int) []string
	// SkipIDGroups moves the next groups away from one another node took,
	// before a send makes its ids again (default pushgate.SkipIDGroups).
	SkipIDGroups func()
	// Metrics counts accepted messages, results and provider calls (nil:
	// nothing is counted).
	Metrics *Metrics
	// Tracing makes the spans of sends, tasks and provider calls (nil:
	// tracing is off).
	Tracing *tracing.Tracing
}

func (o *Options) defaults() {
	if o.ChunkSize <= 0 {
		o.ChunkSize = 500
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Lease <= 0 {
		o.Lease = 5 * time.Minute
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = time.Minute
	}
	if o.ResultInterval <= 0 {
		o.ResultInterval = 10 * time.Millisecond
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = 30 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewIDGroup == nil {
		o.NewIDGroup = pushgate.NewIDGroup
	}
	if o.SkipIDGroups == nil {
		o.SkipIDGroups = pushgate.SkipIDGroups
	}
}

// idTries bounds how often a send makes new ids because the ones it made
// were taken. A group is taken only by another node's group of the same
// millisecond and counter (about 1 in 256 of those). A retry first moves
// to a random counter a millisecond on (SkipIDGroups): counting on from
// the taken group would meet that node's next groups again, while from
// there each try meets another group independently, so a third meeting in
// a row means something else is wrong.
const idTries = 3

// Sender accepts sends: it checks receivers, commits the messages to the
// outbox and enqueues them in chunks.
type Sender struct {
	store messages.Store
	queue *Queue
	opts  Options
}

// NewSender returns a Sender.
func NewSender(store messages.Store, queue *Queue, opts Options) *Sender {
	opts.defaults()
	return &Sender{store: store, queue: queue, opts: opts}
}

// Check returns what Send would answer for receivers of bucket b without
// storing anything: a result per receiver, in order, with the problems of
// each refused one (the accepted ones have no errors and no id yet).
func (s *Sender) Check(b *buckets.Bucket, receivers []recipients.Receiver) []messages.SendResult {
	results := make([]messages.SendResult, len(receivers))
	s.accept(b, receivers, results)
	for i := range results {
		if results[i].Errors == nil {
			results[i].Errors = []string{}
		}
	}
	return results
}

// accept checks each receiver against its credential and the receivers
// before it, writes the problems of the refused ones into results, and
// returns the accepted ones' indexes by credential id, with the
// credentials in order of first use.
func (s *Sender) accept(b *buckets.Bucket, receivers []recipients.Receiver, results []messages.SendResult) (map[string][]int, []*buckets.Credential) {
	seen := make(map[recipients.DeviceKey]int, len(receivers))
	byCred := map[string][]int{}
	var creds []*buckets.Credential
	for i, r := range receivers {
		cred := b.Credential(r.CredentialID)
		errs := recipients.Validate(r, cred, s.opts.Recipients)
		if len(errs) == 0 {
			k := r.Key()
			if first, dup := seen[k]; dup {
				errs = []string{fmt.Sprintf("receiver: the same device as receivers[%d]", first)}
			} else {
				seen[k] = i
			}
		}
		if len(errs) > 0 {
			results[i] = messages.SendResult{Errors: errs}
			continue
		}
		if _, ok := byCred[cred.ID]; !ok {
			creds = append(creds, cred)
		}
		byCred[cred.ID] = append(byCred[cred.ID], i)
	}
	return byCred, creds
}

// Send accepts one message per valid receiver of bucket b with context c.
// It returns a result per receiver, in order, once the accepted messages are
// committed; enqueuing failures after that only delay delivery (the sweep
// enqueues what was missed). When it accepts none it stores nothing.
func (s *Sender) Send(ctx context.Context, b *buckets.Bucket, c *contexts.Context, receivers []recipients.Receiver) ([]messages.SendResult, error) {
	if err := recipients.CheckCount(len(receivers)); err != nil {
		return nil, err
	}
	ctx, endSpan := s.traceAccept(ctx, len(receivers))
	var accepted, enqueued int
	defer func() { endSpan(accepted, enqueued) }()
	traceparent := s.traceparent(ctx)
	now := s.opts.Now().UTC()
	results := make([]messages.SendResult, len(receivers))
	expires := c.ExpiresAt()
	if !expires.IsZero() && expires.Sub(now) < zeroTTLWindow {
		// ttl 0 means "now or never"; a worker must still get the chance.
		expires = now.Add(zeroTTLWindow)
	}
	// Accepted receivers, grouped by credential in order of first use: each
	// group is cut into the chunks that tasks will carry, and the ids of a
	// chunk share their IDGroup, so storage can keep a chunk together.
	byCred, creds := s.accept(b, receivers, results)
	// The chunks that tasks will carry: each credential's receivers, cut.
	var chunks [][]int
	var chunkCreds []*buckets.Credential
	for _, cred := range creds {
		for _, chunk := range cut(byCred[cred.ID], s.opts.ChunkSize, nil) {
			chunks = append(chunks, chunk)
			chunkCreds = append(chunkCreds, cred)
		}
	}
	if len(chunks) == 0 {
		return results, nil // nothing accepted, nothing stored
	}
	var tasks []sendTask
	for try := 1; ; try++ {
		if try > 1 {
			s.opts.SkipIDGroups()
		}
		tasks = tasks[:0]
		msgs := make([]*messages.Message, 0, len(receivers))
		slab := make([]messages.Message, 0, len(receivers)) // one allocation, not one a message
		for n, chunk := range chunks {
			cred := chunkCreds[n]
			ids := s.opts.NewIDGroup(len(chunk))
			tasks = append(tasks, sendTask{AppID: b.AppID, BucketID: b.ID, ContextID: c.ID, CredentialID: cred.ID, IDs: ids, Trace: traceparent})
			for k, i := range chunk {
				r := receivers[i]
				slab = append(slab, messages.Message{
					ID: ids[k], AppID: b.AppID, BucketID: b.ID, ContextID: c.ID, CredentialID: cred.ID,
					Provider: string(cred.Type), ForeignID: r.ForeignID, Receiver: r, Status: messages.Queued,
					CreatedAt: now, UpdatedAt: now, ExpiresAt: expires, EnqueuedAt: now,
				})
				m := &slab[len(slab)-1]
				msgs = append(msgs, m)
				results[i] = messages.SendResult{MessageID: m.ID, Errors: []string{}}
			}
		}
		err := s.store.Insert(ctx, msgs)
		if err == nil {
			break
		}
		if !errors.Is(err, messages.ErrIDTaken) || try == idTries {
			return nil, fmt.Errorf("store messages: %w", err)
		}
		s.opts.Logger.Info("message ids already in use; making new ones", "try", try, "err", err)
	}
	for n, chunk := range chunks {
		s.opts.Metrics.accept(string(chunkCreds[n].Type), len(chunk))
		accepted += len(chunk)
	}
	for _, t := range tasks {
		if s.enqueueTask(ctx, t, 0) {
			enqueued++
		}
	}
	return results, nil
}

// enqueueTask puts one chunk on the queue, due after delay, and reports
// whether it did. A failure is logged, not returned: the messages are
// committed, and the sweep enqueues them again.
func (s *Sender) enqueueTask(ctx context.Context, t sendTask, delay time.Duration) bool {
	payload, _ := json.Marshal(t)
	if _, err := s.queue.Enqueue(ctx, QueueDefault, asynq.NewTask(TypeSend, payload), s.taskOptions(delay)...); err != nil {
		s.opts.Logger.Warn("enqueue failed; the recovery sweep will retry", "messages", len(t.IDs), "err", err)
		return false
	}
	return true
}

// taskOptions are the options of a send task due after delay.
func (s *Sender) taskOptions(delay time.Duration) []asynq.Option {
	opts := []asynq.Option{asynq.MaxRetry(25), asynq.Timeout(s.opts.Lease)}
	if delay > 0 {
		opts = append(opts, asynq.ProcessIn(delay))
	}
	return opts
}

// enqueueRefs enqueues messages in chunks of one credential and context.
// A chunk ends only where the IDGroup changes, so the messages a send made
// together (refs list them together) go out together again: storage that
// keeps them as one record claims it whole, instead of writing it out
// first (about ChunkSize a task still, one group more at most).
func (s *Sender) enqueueRefs(ctx context.Context, refs []messages.Ref, delay time.Duration) int {
	type group struct{ app, bucket, context, credential string }
	groups := map[group][]string{}
	var order []group
	for _, r := range refs {
		g := group{r.AppID, r.BucketID, r.ContextID, r.CredentialID}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], r.ID)
	}
	sameGroup := func(a, b string) bool { return pushgate.IDGroup(a) == pushgate.IDGroup(b) }
	enqueued := 0
	for _, g := range order {
		for _, chunk := range cut(groups[g], s.opts.ChunkSize, sameGroup) {
			if s.enqueueTask(ctx, sendTask{AppID: g.app, BucketID: g.bucket, ContextID: g.context, CredentialID: g.credential, IDs: chunk}, delay) {
				enqueued += len(chunk)
			}
		}
	}
	return enqueued
}

// cut splits items into chunks of size, in order. A chunk that would end
// between two items that together (nil: none) says belong together goes
// on until they part, so it may be longer than size.
func cut[T any](items []T, size int, together func(prev, next T) bool) [][]T {
	var chunks [][]T
	for start := 0; start < len(items); {
		end := min(start+size, len(items))
		for together != nil && end < len(items) && together(items[end-1], items[end]) {
			end++
		}
		chunks = append(chunks, items[start:end])
		start = end
	}
	return chunks
}
