package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/internal/lograte"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/providers"
)

// Credentials opens a bucket's credential (with its secrets) for a worker.
type Credentials interface {
	Credential(ctx context.Context, appID, bucketID, credentialID string) (*buckets.Credential, error)
}

// Deliverer handles TypeSend tasks: it claims the chunk's messages, sends
// them through the credential's provider with bounded concurrency, and
// stores the outcomes in bulk.
type Deliverer struct {
	sender   *Sender
	store    messages.Store
	contexts contexts.Store
	pool     *providerPool
	opts     Options
	// failures writes failed messages to the log, a few lines a second
	// per reason.
	failures *lograte.Limiter
	ctxCache sync.Map // context id -> *contexts.Context, once its images are ready or failed (then it never changes)
	// results are the lanes of group commit (groupcommit.go); each task
	// takes the next, so that a node has a few writes under way at once:
	// not one per task (a transaction per task and interval cost the
	// database twice the CPU per push), nor a single one that every slow
	// write holds up (measured in docs/reliability.md).
	results [resultLanes]groupCommit
	lane    atomic.Uint32
	// inFlight limits the calls under way to each provider (inflight.go).
	inFlight inFlights
}

// resultLanes is how many writes of results a node has under way at most.
const resultLanes = 2

// NewDeliverer returns the TypeSend handler. sender re-enqueues retries.
func NewDeliverer(sender *Sender, store messages.Store, ctxs contexts.Store, creds Credentials, registry *providers.Registry, opts Options) *Deliverer {
	opts.defaults()
	d := &Deliverer{
		sender: sender, store: store, contexts: ctxs, pool: newProviderPool(creds, registry, opts.Now), opts: opts,
		failures: lograte.New(opts.Logger, lograte.Options{Now: opts.Now}),
	}
	for i := range d.results {
		d.results[i].write, d.results[i].spacing = d.write, opts.ResultInterval
	}
	d.inFlight.metrics = opts.Metrics
	return d
}

// Close releases every provider's connections.
func (d *Deliverer) Close() { d.pool.closeAll() }

// ProcessTask implements asynq.Handler.
func (d *Deliverer) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var task sendTask
	if err := json.Unmarshal(t.Payload(), &task); err != nil {
		return fmt.Errorf("%w: bad payload: %v", asynq.SkipRetry, err)
	}
	// Messages of a context whose images are being processed wait,
	// unclaimed, so that no notification carries an image link that does
	// not work yet.
	if c, err := d.context(ctx, task); err == nil && c.State() == contexts.Processing {
		d.imagesPending(ctx, c)
		_, err := d.sender.queue.Enqueue(context.WithoutCancel(ctx), QueueDefault, asynq.NewTask(TypeSend, t.Payload()), d.sender.taskOptions(imagesWait)...)
		return err // on failure asynq retries this task
	}
	ctx, endSpan := d.traceTask(ctx, task)
	var claimed, sent int
	defer func() { endSpan(claimed, sent) }()
	now := d.opts.Now()
	msgs, err := d.store.Claim(ctx, task.IDs, now, now.Add(d.opts.Lease))
	if err != nil || len(msgs) == 0 {
		return err // nothing claimed: another task got them, or they are done
	}
	claimed = len(msgs)
	d.traceProvider(ctx, msgs[0].Provider)
	results, err := d.deliver(ctx, task, msgs)
	if err != nil {
		// Unstored results stay claimed until their lease ends; the sweep
		// then retries them. A second run of this task claims nothing.
		return fmt.Errorf("store results: %w", err)
	}
	// Retries are this task's messages again: one task, due after the
	// longest wait any of them was told.
	var retry []string
	var delay time.Duration
	for _, r := range results {
		if r.Status == messages.Sent {
			sent++
		}
		if r.Status == messages.Queued {
			retry = append(retry, r.Message.ID)
			delay = max(delay, r.RetryAt.Sub(now))
		}
	}
	if len(retry) > 0 {
		again := task
		again.IDs = retry
		d.sender.enqueueTask(context.WithoutCancel(ctx), again, delay)
	}
	return nil
}

// imagesWait is how long a send task waits for its context's images
// before it looks again.
const imagesWait = time.Second

// flushRetry is how long a task waits after a failed write of results
// before it tries again (Options.ResultInterval spaces its lane's writes).
const flushRetry = time.Second

// deliver sends the claimed messages and stores their results as they
// come, in small batches.
func (d *Deliverer) deliver(ctx context.Context, task sendTask, msgs []*messages.Message) ([]messages.Result, error) {
	store := context.WithoutCancel(ctx)
	p, c, results := d.prepare(ctx, task, msgs)
	if results != nil {
		_, err := d.write(store, results)
		return results, err
	}
	return d.sendAll(ctx, store, task, p, c, msgs)
}

// prepare finds the task's context and provider, with the context made
// for the provider's platform. When the messages cannot be sent now it
// returns their results instead: failed, or back for a retry when the
// cause may pass.
func (d *Deliverer) prepare(ctx context.Context, task sendTask, msgs []*messages.Message) (providers.Provider, *contexts.Context, []messages.Result) {
	fail := func(reason providers.Reason, err error) (providers.Provider, *contexts.Context, []messages.Result) {
		at := d.opts.Now()
		results := make([]messages.Result, len(msgs))
		for i, m := range msgs {
			results[i] = messages.Result{Message: m, Status: messages.Failed, Reason: string(reason), Error: err.Error(), Attempts: m.Attempts + 1, At: at}
		}
		return nil, nil, results
	}
	c, err := d.context(ctx, task)
	if err != nil {
		if pushgate.ErrorCode(err) == pushgate.ENOTFOUND {
			return fail(providers.ReasonBadCredentials, errors.New("the context or its bucket no longer exists"))
		}
		return nil, nil, d.retryAll(msgs, err)
	}
	if c.State() == contexts.Failed {
		return fail(providers.ReasonBadImage, errors.New(c.Failure))
	}
	p, platform, err := d.pool.get(ctx, task.AppID, task.BucketID, task.CredentialID)
	if err != nil {
		if pushgate.ErrorCode(err) == pushgate.ENOTFOUND {
			return fail(providers.ReasonBadCredentials, errors.New("the bucket expired or was deleted"))
		}
		if pushgate.ErrorCode(err) == pushgate.EINTERNAL {
			return nil, nil, d.retryAll(msgs, err)
		}
		return fail(providers.ReasonBadCredentials, err)
	}
	return p, c.ForPlatform(platform), nil
}

// sendAll sends msgs with c through p and stores their results (through
// store, which outlives ctx) as they come. A provider that sends many
// receivers in one request (providers.BatchSender) gets them in groups.
func (d *Deliverer) sendAll(ctx, store context.Context, task sendTask, p providers.Provider, c *contexts.Context, msgs []*messages.Message) ([]messages.Result, error) {
	results := make([]messages.Result, len(msgs))
	// The provider messages and the groups of indexes handed to the
	// senders are cut from one allocation each per chunk, not one per
	// message (a message is a group of one for most providers).
	pms := make([]providers.Message, len(msgs))
	order := make([]int, 0, len(msgs))
	batch := 1
	bs, isBatch := p.(providers.BatchSender)
	if isBatch {
		batch = max(1, bs.MaxBatch())
	}
	// A fixed set of sender goroutines per chunk: their stacks grow once
	// for the vendor client, instead of once per message.
	work := make(chan []int)
	done := make(chan int, len(msgs))
	var wg sync.WaitGroup
	for range min(d.opts.Concurrency, len(msgs)) {
		wg.Go(func() {
			for group := range work {
				d.sendGroup(ctx, p, bs, c, msgs, pms, group, results)
				for _, i := range group {
					done <- i
				}
			}
		})
	}
	flushed := make(chan error, 1)
	go func() { flushed <- d.flushResults(store, results, done, ctx.Done()) }()
	var givenUp []string
	start := 0 // of the group being gathered, in order
	for i, m := range msgs {
		now := d.opts.Now()
		if !m.ExpiresAt.IsZero() && !now.Before(m.ExpiresAt) {
			results[i] = messages.Result{Message: m, Status: messages.Expired, Reason: string(providers.ReasonExpired), Attempts: m.Attempts, At: now}
			done <- i
			continue
		}
		if m.Attempts >= d.opts.MaxAttempts {
			// Its earlier claims used every attempt: their workers died or
			// could not store what they learned (sending again could go on
			// for ever; this is the bound), or they stored retries while
			// delivery_max_attempts was higher.
			results[i] = d.givenUp(m, now)
			givenUp = append(givenUp, m.ID)
			done <- i
			continue
		}
		if order = append(order, i); len(order)-start == batch {
			work <- order[start:len(order):len(order)]
			start = len(order)
		}
	}
	if len(order) > start {
		work <- order[start:len(order):len(order)]
	}
	if len(givenUp) > 0 {
		// A warning: an operator who lowered the limit expects it, and a
		// result that cannot be stored was logged as an error already.
		d.opts.Logger.Warn("messages had no attempts left when claimed (delivery_max_attempts): failed, not sent again",
			"messages", givenUp, "max_attempts", d.opts.MaxAttempts, "context", task.ContextID, "credential", task.CredentialID)
	}
	close(work)
	wg.Wait()
	close(done)
	return results, <-flushed
}

// sendGroup sends the messages of msgs at the indexes in group, one Send
// each, or in one SendBatch when bs is set, and sets their results.
func (d *Deliverer) sendGroup(ctx context.Context, p providers.Provider, bs providers.BatchSender, c *contexts.Context, msgs []*messages.Message, pms []providers.Message, group []int, results []messages.Result) {
	pm := func(i int) *providers.Message {
		m := msgs[i]
		pms[i] = providers.Message{ID: m.ID, ForeignID: m.ForeignID, Context: c, Receiver: m.Receiver, ExpiresAt: m.ExpiresAt}
		return &pms[i]
	}
	limit := d.inFlight.of(msgs[group[0]].Provider)
	if bs == nil {
		for _, i := range group {
			call, err := d.startCall(ctx, limit, msgs[i].Provider, 1)
			if err == nil {
				err = p.Send(ctx, pm(i))
				call.end(err)
			}
			results[i] = d.outcome(msgs[i], err)
		}
		return
	}
	batch := make([]*providers.Message, len(group))
	for k, i := range group {
		batch[k] = pm(i)
	}
	call, err := d.startCall(ctx, limit, msgs[group[0]].Provider, len(batch))
	var errs []error
	if err == nil {
		errs = bs.SendBatch(ctx, batch)
		call.end(errs...)
	} else {
		errs = make([]error, len(group))
		for k := range errs {
			errs[k] = err
		}
	}
	for k, i := range group {
		var err error
		if k < len(errs) {
			err = errs[k]
		} else {
			// An adapter that answered for fewer messages than it was given
			// left the rest's fate unknown: they are retried.
			err = providers.Transient(providers.ReasonUnavailable, 0, 0, errors.New("the provider gave no result for this message"))
		}
		results[i] = d.outcome(msgs[i], err)
	}
}

// providerCall is one call to a provider under way: it holds a slot of
// the provider's limit, and is timed and traced.
type providerCall struct {
	d        *Deliverer
	limit    *inFlight
	provider string
	span     callSpan
	start    time.Time
}

// startCall waits for a slot of limit (it fails only when ctx ends) and
// starts a call of n messages to provider.
func (d *Deliverer) startCall(ctx context.Context, limit *inFlight, provider string, n int) (providerCall, error) {
	if err := limit.acquire(ctx); err != nil {
		return providerCall{}, err
	}
	return providerCall{d: d, limit: limit, provider: provider, span: d.traceCall(ctx, provider, n), start: time.Now()}, nil
}

// end ends the call with its errors, one a message (nil: sent).
func (c providerCall) end(errs ...error) {
	took := time.Since(c.start)
	c.limit.release(took)
	c.d.opts.Metrics.call(c.provider, took)
	c.span.end(errs...)
}

// flushResults stores results as their indexes arrive on done, until
// done closes: it hands what it has to its lane of group commit, which
// writes every ResultInterval, and gathers what comes meanwhile for the
// next write (flushRetry after a failed write). That bounds what a crash
// leaves delivered but recorded as unsent, and so sent again after
// recovery, to about ResultInterval plus one write of the node's sends,
// besides the sends in flight (docs/reliability.md). Each write adds a
// row of interim results per chunk (the store folds them into the chunk
// when it finishes). A batch that failed for a reason that may pass is
// tried again with the next one, and the last one every flushRetry while
// the claim holds, unless stop (the task's cancellation) closes.
func (d *Deliverer) flushResults(ctx context.Context, results []messages.Result, done <-chan int, stop <-chan struct{}) error {
	// The claim was taken just before: the last write may be tried again
	// until three quarters of its lease, while no other worker can take the
	// messages, so that results learned while the database was away are
	// not sent again after the lease (docs/reliability.md).
	lastTry := time.Now().Add(d.opts.Lease * 3 / 4)
	var pending []messages.Result
	var err error
	lane := &d.results[d.lane.Add(1)%resultLanes]
	flush := func() {
		if len(pending) == 0 {
			return
		}
		var rest []messages.Result
		rest, err = lane.commit(ctx, pending)
		pending = append(pending[:0], rest...)
		for i := range pending { // the failed write may have been stored
			pending[i].Rewrite = true
		}
	}
	var retry <-chan time.Time // set after a failed write
	for {
		if len(pending) > 0 && retry == nil {
			flush()
			if len(pending) > 0 {
				retry = time.After(flushRetry)
			}
		}
		select {
		case i, ok := <-done:
			if ok {
				pending = append(pending, results[i])
				pending, ok = gather(pending, results, done)
			}
			if !ok {
				flush()
				for len(pending) > 0 && time.Now().Add(flushRetry).Before(lastTry) {
					select {
					case <-time.After(flushRetry):
					case <-stop: // the task is cancelled (the node stops)
						return err
					}
					flush()
				}
				return err
			}
		case <-retry:
			retry = nil
		}
	}
}

// gather adds the results whose indexes wait on done to pending, without
// waiting; ok is false once done is closed.
func gather(pending, results []messages.Result, done <-chan int) ([]messages.Result, bool) {
	for {
		select {
		case i, ok := <-done:
			if !ok {
				return pending, false
			}
			pending = append(pending, results[i])
		default:
			return pending, true
		}
	}
}

// write stores rs. When the database refuses a batch for its data (text
// it cannot hold, say), it halves the batch until each refused result is
// alone, so the others are stored as they are, and stores that one made
// storable (see unstorable). It returns the results it could not store for
// a reason that may pass (a lost connection), to be tried again; a result
// that cannot be stored even sanitized is logged and left claimed: its
// lease ends, and the claim bound (MaxAttempts) ends its sending.
func (d *Deliverer) write(ctx context.Context, rs []messages.Result) ([]messages.Result, error) {
	err := d.store.Finish(ctx, rs)
	if err == nil {
		d.stored(ctx, rs)
		return nil, nil
	}
	if !errors.Is(err, messages.ErrUnstorable) {
		return rs, err
	}
	if len(rs) > 1 {
		half := len(rs) / 2
		restA, errA := d.write(ctx, rs[:half])
		restB, errB := d.write(ctx, rs[half:])
		rest := make([]messages.Result, 0, len(restA)+len(restB))
		return append(append(rest, restA...), restB...), errors.Join(errA, errB)
	}
	r := rs[0]
	fixed := unstorable(r)
	if err2 := d.store.Finish(ctx, []messages.Result{fixed}); err2 != nil {
		if !errors.Is(err2, messages.ErrUnstorable) {
			return rs, err2
		}
		d.opts.Logger.Error("a message's result cannot be stored, not even sanitized; it stays claimed until its lease ends",
			"message", r.Message.ID, "status", r.Status, "attempts", r.Attempts, "err", err2)
		return nil, nil
	}
	d.stored(ctx, []messages.Result{fixed})
	d.opts.Logger.Error("a message's result could not be stored as it was; stored with its text sanitized",
		"message", r.Message.ID, "status", fixed.Status, "reason", fixed.Reason, "err", err)
	return nil, nil
}

// stored counts stored results and logs the failed ones at warn level,
// each reason a few times a second at most (a storm of failures counts
// the rest; see lograte).
func (d *Deliverer) stored(ctx context.Context, rs []messages.Result) {
	d.opts.Metrics.stored(rs)
	for i := range rs {
		r := &rs[i]
		if r.Status != messages.Failed && r.Status != messages.Expired {
			continue
		}
		reason := r.Reason
		if !providers.Reason(reason).Known() {
			reason = other // log keys are kept: a closed set only
		}
		d.failures.Warn(ctx, reason, "message failed",
			slog.String("message", r.Message.ID), slog.String("provider", r.Message.Provider),
			slog.String("status", string(r.Status)), slog.String("error", r.Error))
	}
}

// unstorableText is the last error of a result stored sanitized. The
// status API shows last errors to tenants: what the database said (SQL,
// SQLSTATE, the server's words) goes to the log only (see write).
const unstorableText = "the database refused this result as it was; its text was replaced"

// unstorable returns r as a store can hold it: every text of its message
// (foreign id, receiver) and of the result made storable, and final (a
// retry would send the altered text: it fails instead), with reason
// unstorable unless it failed for a reason of its own, and unstorableText
// before its error.
func unstorable(r messages.Result) messages.Result {
	ownReason := (r.Status == messages.Failed || r.Status == messages.Expired) && r.Reason != ""
	r.Message = storableMessage(r.Message)
	if !r.Status.Final() {
		r.Status, r.RetryAt = messages.Failed, time.Time{}
	}
	if !ownReason {
		r.Reason = string(providers.ReasonUnstorable)
	}
	why := unstorableText
	if r.Error != "" {
		why += "; " + r.Error
	}
	r.Reason, r.Error = messages.StorableText(r.Reason), messages.StorableText(why)
	return r
}

// storableMessage returns a copy of m whose texts a store can hold.
func storableMessage(m *messages.Message) *messages.Message {
	c := *m
	c.ForeignID = messages.StorableText(c.ForeignID)
	rv := &c.Receiver
	rv.ForeignID, rv.Token, rv.Endpoint = messages.StorableText(rv.ForeignID), messages.StorableText(rv.Token), messages.StorableText(rv.Endpoint)
	rv.UserID = messages.StorableText(rv.UserID)
	rv.P256dh, rv.Auth = messages.StorableText(rv.P256dh), messages.StorableText(rv.Auth)
	return &c
}

// givenUp is the result of a message claimed with no attempts left:
// failed, unavailable, with its texts made storable (what kept its results
// from being stored may be in them). Its error does not say why its claims
// ended (workers that died, results that could not be stored, or retries
// stored under a higher limit): the store cannot tell them apart.
func (d *Deliverer) givenUp(m *messages.Message, at time.Time) messages.Result {
	return messages.Result{Message: storableMessage(m), Status: messages.Failed, Reason: string(providers.ReasonUnavailable), Attempts: m.Attempts, At: at,
		Error: fmt.Sprintf("no attempts left (%d claims): not sent again", m.Attempts)}
}

// outcome turns one send's error into the message's result.
func (d *Deliverer) outcome(m *messages.Message, err error) messages.Result {
	at := d.opts.Now()
	attempts := m.Attempts + 1
	if err == nil {
		return messages.Result{Message: m, Status: messages.Sent, Attempts: attempts, At: at}
	}
	o := providers.Classify(err)
	r := messages.Result{Message: m, Reason: string(o.Reason), Error: o.Error(), Attempts: attempts, At: at}
	switch {
	case o.Permanent:
		r.Status = messages.Failed
	case attempts >= d.opts.MaxAttempts:
		r.Status, r.Reason = messages.Failed, string(providers.ReasonUnavailable)
	default:
		r.Status = messages.Queued
		r.RetryAt = at.Add(d.backoff(attempts, o.RetryAfter))
		if !m.ExpiresAt.IsZero() && r.RetryAt.After(m.ExpiresAt) {
			r.Status, r.Reason, r.RetryAt = messages.Expired, string(providers.ReasonExpired), time.Time{}
		}
	}
	return r
}

// retryAll puts every message back for a later attempt after an error that
// is not theirs (the database or a vendor client could not be reached).
func (d *Deliverer) retryAll(msgs []*messages.Message, err error) []messages.Result {
	results := make([]messages.Result, len(msgs))
	for i, m := range msgs {
		results[i] = d.outcome(m, err)
	}
	return results
}

// backoff is exponential with jitter (half fixed, half random, so retries
// of a burst spread out), capped, and never shorter than the vendor's
// Retry-After. asynq schedules in whole seconds, so it rounds up.
func (d *Deliverer) backoff(attempt int, retryAfter time.Duration) time.Duration {
	base := time.Second << min(attempt-1, 20)
	base = min(base, d.opts.MaxBackoff)
	wait := base/2 + rand.N(base/2+1)
	wait = max(wait, retryAfter)
	return (wait + time.Second - 1).Truncate(time.Second)
}

func (d *Deliverer) context(ctx context.Context, task sendTask) (*contexts.Context, error) {
	if c, ok := d.ctxCache.Load(task.ContextID); ok {
		return c.(*contexts.Context), nil
	}
	c, err := d.contexts.GetContext(ctx, task.AppID, task.BucketID, task.ContextID)
	if err != nil {
		return nil, err
	}
	if c.State() != contexts.Processing { // its last change is behind it
		d.ctxCache.Store(task.ContextID, c)
	}
	return c, nil
}
