package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/internal/lograte"
	"github.com/pushgate/pushgate/internal/tracing"
)

// DispatcherOptions tune a Dispatcher.
type DispatcherOptions struct {
	// Timeout bounds one POST, answer included (default 15 s).
	Timeout time.Duration
	// RetryFor is how long a batch is retried before it is dead-lettered,
	// counted from its creation or its last Redeliver (default 24 h).
	RetryFor time.Duration
	// MinBackoff and MaxBackoff bound the wait before a retry (defaults
	// 5 s and 1 h). Each wait is about as long as the batch has been
	// failing, so waits double, with jitter so that batches that failed
	// together do not come back together.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Workers is how many POSTs may be in flight at once (default 16).
	Workers int
	// Interval is how often Start's loop looks for due batches when
	// nothing wakes it (default 1 s).
	Interval time.Duration
	// RecordRetry is how often a failed write of an attempt's outcome is
	// tried again while the batch's claim holds (default 1 s).
	RecordRetry time.Duration
	// Retain is how long delivered and dead batches stay listable after
	// their last attempt (default 7 days); Start's loop prunes older ones.
	Retain time.Duration
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Metrics counts attempts by outcome and reason (nil: nothing is
	// counted).
	Metrics *Metrics
	// Tracing makes a span per attempt, linked to the spans of the tasks
	// that delivered its events' messages (nil: tracing is off).
	Tracing *tracing.Tracing
}

// Dispatcher POSTs due batches to their bucket's callback and records what
// happened. Any number of Dispatchers may run on one database: a batch is
// claimed (leased) by one of them at a time.
type Dispatcher struct {
	store   Queue
	targets Targets
	client  *http.Client
	opts    DispatcherOptions
	lease   time.Duration
	run     *runner
	wake    chan struct{}
	// handed holds the targets the Flusher looked up for the batches it
	// made (Handoff).
	handed handoff
	// failures and deaths write failed attempts to the log, a few lines a
	// second per reason each (lograte).
	failures, deaths *lograte.Limiter
}

// NewDispatcher returns a Dispatcher that sends through client, which the
// server builds on the SSRF guard's transport. Redirects are not followed:
// a POST turned into a GET would lose the body and the signature.
func NewDispatcher(store Queue, targets Targets, client *http.Client, opts DispatcherOptions) (*Dispatcher, error) {
	if client == nil {
		return nil, errors.New("webhooks: NewDispatcher needs an http.Client")
	}
	c := *client
	c.CheckRedirect = pushgate.NoRedirects
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	if opts.RetryFor <= 0 {
		opts.RetryFor = 24 * time.Hour
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 5 * time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(time.Hour, opts.MinBackoff)
	}
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.RecordRetry <= 0 {
		opts.RecordRetry = time.Second
	}
	if opts.Retain <= 0 {
		opts.Retain = 7 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{
		store: store, targets: targets, client: &c, opts: opts,
		// The lease covers the POST and the reads and writes around it.
		lease: 2*opts.Timeout + 30*time.Second,
		run:   newRunner(), wake: make(chan struct{}, 1),
		failures: lograte.New(opts.Logger, lograte.Options{Now: opts.Now}),
		deaths:   lograte.New(opts.Logger, lograte.Options{Now: opts.Now}),
	}, nil
}

// Notify tells the loop that batches may be due now, instead of at its
// next Interval.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Handoff is given the batches a Flusher just made, with the targets it
// looked up for them (the server passes it as FlusherOptions.OnBatch), and
// wakes the loop. A batch this Dispatcher claims soon after is sent to the
// target handed over instead of one looked up again.
func (d *Dispatcher) Handoff(made []MadeBatch) {
	d.handed.put(made, d.opts.Now())
	d.Notify()
}

func (d *Dispatcher) claim(ctx context.Context, n int) ([]*Batch, error) {
	now := d.opts.Now().UTC()
	return d.store.ClaimBatches(ctx, now, now.Add(d.lease), n)
}

// attempt POSTs one claimed batch and records the outcome.
func (d *Dispatcher) attempt(ctx context.Context, b *Batch) error {
	claimed := d.opts.Now()
	sctx, endSpan := d.traceAttempt(ctx, b)
	o := d.send(sctx, b)
	endSpan(o)
	if ctx.Err() != nil {
		// Shutting down: the lease makes the batch due again, and nothing
		// is known of an attempt that was cut short.
		return nil
	}
	if err := d.record(ctx, o, claimed); err != nil {
		d.opts.Logger.Warn("record webhook attempt", "batch", b.ID, "err", err)
		return fmt.Errorf("record attempt of batch %s: %w", b.ID, err)
	}
	d.opts.Metrics.attempted(o)
	d.logFailure(ctx, b, o)
	return nil
}

// record stores the outcome of an attempt on a batch claimed at claimed.
// A database that is away for a moment (restarted, failing over) would
// otherwise leave the batch claimed until its lease ends, and one already
// delivered would be POSTed again then: so a failed write is tried again
// every RecordRetry while three quarters of the lease remain, or until
// the Dispatcher is cut short. FinishAttempt does nothing to a batch whose
// attempt count moved on, so a write that landed unseen is harmless.
func (d *Dispatcher) record(ctx context.Context, o Outcome, claimed time.Time) error {
	until := claimed.Add(d.lease * 3 / 4)
	for {
		err := d.store.FinishAttempt(ctx, o)
		if err == nil || ctx.Err() != nil || !d.opts.Now().Add(d.opts.RecordRetry).Before(until) {
			return err
		}
		t := time.NewTimer(d.opts.RecordRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// send makes the POST and decides what comes next.
func (d *Dispatcher) send(ctx context.Context, b *Batch) Outcome {
	o := Outcome{BatchID: b.ID, Attempt: b.Attempts}
	t, key, stop := d.resolve(ctx, b, o)
	if stop != nil {
		return *stop
	}
	events, err := d.store.BatchEvents(ctx, b.ID)
	if err != nil {
		d.opts.Logger.Warn("read webhook batch", "batch", b.ID, "err", err)
		return d.retry(o, b, 0, FailInternal, "internal error while reading the batch")
	}
	d.traceEvents(ctx, events)
	body, err := render(t.Format, events, d.opts.Now())
	if err != nil {
		d.opts.Logger.Error("render webhook body", "batch", b.ID, "err", err)
		return d.dead(o, FailInternal, "internal error while rendering the body")
	}
	return d.post(ctx, b, o, t, key, body)
}

// dead makes the outcome of a batch that can never be sent.
func (d *Dispatcher) dead(o Outcome, reason, format string, args ...any) Outcome {
	o.At, o.Status, o.Error, o.Reason = d.opts.Now().UTC(), StatusDead, fmt.Sprintf(format, args...), reason
	return o
}

// resolve returns the batch's target, the one the Flusher handed over
// with it or else looked up, and its signing key; or, when there is
// none to send to, the attempt's outcome.
func (d *Dispatcher) resolve(ctx context.Context, b *Batch, o Outcome) (*Target, []byte, *Outcome) {
	fail := func(o Outcome) (*Target, []byte, *Outcome) { return nil, nil, &o }
	t := d.handed.take(b.ID, d.opts.Now())
	if t == nil {
		var err error
		t, err = d.targets.Target(ctx, b.AppID, b.BucketID)
		if pushgate.ErrorCode(err) == pushgate.ENOTFOUND {
			return fail(d.dead(o, FailNoCallback, "the bucket no longer exists or has no callback"))
		}
		if err != nil {
			// Internal errors are logged; the batch listing is shown to API
			// clients and says only what kind of thing went wrong.
			d.opts.Logger.Warn("webhook callback lookup", "batch", b.ID, "bucket", b.BucketID, "err", err)
			return fail(d.retry(o, b, 0, FailInternal, "internal error while looking up the callback"))
		}
	}
	if !pushgate.IsHTTPURL(t.URL) {
		return fail(d.dead(o, FailBadURL, "the callback URL is not an absolute http(s) URL"))
	}
	key, err := signingKey(t)
	if err != nil {
		d.opts.Logger.Error("webhook secret unusable", "bucket", b.BucketID, "err", err)
		return fail(d.dead(o, FailBadSecret, "the signing secret is unusable"))
	}
	return t, key, nil
}

// post POSTs body, signed with key, to the target and makes the outcome
// of its answer.
func (d *Dispatcher) post(ctx context.Context, b *Batch, o Outcome, t *Target, key, body []byte) Outcome {
	rctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return d.dead(o, FailBadURL, "the callback URL is not usable: %s", withoutURLSecrets(err))
	}
	req.Header.Set("User-Agent", "pushgate-webhooks")
	for k, v := range t.Headers {
		req.Header.Set(k, v)
	}
	// After the bucket's headers: these are what a consumer verifies, so
	// nothing configured may replace them.
	req.Header.Set("Content-Type", "application/json")
	signRequest(req.Header, t, key, b.ID, d.opts.Now(), body)

	resp, err := d.client.Do(req)
	if err != nil {
		var ae *pushgate.AddressError
		if errors.As(err, &ae) {
			// The callback's name resolved to an address the SSRF guard
			// refuses: no retry will reach it. The refusal names the
			// address, never the URL, which may carry secrets.
			return d.dead(o, FailForbiddenAddress, "the callback URL leads to a forbidden address: %s", ae.Error())
		}
		if rctx.Err() != nil && ctx.Err() == nil {
			return d.retry(o, b, 0, FailTimeout, fmt.Sprintf("no answer within %s", d.opts.Timeout))
		}
		return d.retry(o, b, 0, FailConnection, withoutURLSecrets(err))
	}
	return d.answered(o, b, resp)
}

// answered makes the outcome of an answer, which it reads and closes.
func (d *Dispatcher) answered(o Outcome, b *Batch, resp *http.Response) Outcome {
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	// Drained so the connection is reused; a consumer that sends more is
	// cut off at a bound.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		o.At, o.Status, o.StatusCode = d.opts.Now().UTC(), StatusDelivered, resp.StatusCode
		return o
	}
	msg := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if s := printable(snippet, 200); s != "" {
		msg += ": " + s
	}
	return d.retry(o, b, resp.StatusCode, httpFailure(resp.StatusCode), msg)
}

// retry makes a failed attempt's outcome: due again after a backoff, or
// dead once the retry period is over. The last attempt is made at the end
// of the period, not skipped.
func (d *Dispatcher) retry(o Outcome, b *Batch, code int, reason, msg string) Outcome {
	now := d.opts.Now().UTC()
	o.At, o.StatusCode, o.Error, o.Reason = now, code, msg, reason
	deadline := b.RetrySince.Add(d.opts.RetryFor)
	if !now.Before(deadline) {
		o.Status = StatusDead
		return o
	}
	wait := min(max(now.Sub(b.RetrySince), d.opts.MinBackoff), d.opts.MaxBackoff)
	wait = wait/2 + rand.N(wait/2+1)
	o.Status, o.NextAttemptAt = StatusPending, now.Add(wait)
	if o.NextAttemptAt.After(deadline) {
		o.NextAttemptAt = deadline
	}
	return o
}

// logFailure writes a failed attempt to the log at warn level with its
// reason, each reason a few lines a second at most.
func (d *Dispatcher) logFailure(ctx context.Context, b *Batch, o Outcome) {
	switch o.Status {
	case StatusPending:
		d.failures.Warn(ctx, o.Reason, "webhook callback failed; the batch will be retried",
			slog.String("batch", b.ID), slog.String("bucket", b.BucketID), slog.Int("attempts", b.Attempts),
			slog.Int("status", o.StatusCode), slog.String("error", o.Error), slog.Time("next_attempt", o.NextAttemptAt))
	case StatusDead:
		d.deaths.Warn(ctx, o.Reason, "webhook batch dead-lettered",
			slog.String("batch", b.ID), slog.String("bucket", b.BucketID), slog.Int("attempts", b.Attempts),
			slog.Int("status", o.StatusCode), slog.String("error", o.Error))
	}
}

// withoutURLSecrets describes err, which batch listings show, with the
// callback URL it names redacted: net/http hides only the password.
func withoutURLSecrets(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Sprintf("%s %q: %v", ue.Op, pushgate.RedactURL(ue.URL), ue.Err)
	}
	return err.Error()
}

// printable keeps the start of an answer readable in a listing.
func printable(b []byte, n int) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, strings.ToValidUTF8(string(b), ""))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// Start runs the delivery loop until Shutdown: it keeps up to Workers
// POSTs in flight, claims more as they end, and prunes old batches.
func (d *Dispatcher) Start(ctx context.Context) {
	d.run.start(ctx, d.loop)
}

func (d *Dispatcher) loop() {
	ctx := d.run.ctx
	finished := make(chan struct{}, d.opts.Workers)
	inflight := 0
	tick := time.NewTicker(d.opts.Interval)
	defer tick.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	d.pruneAll(ctx)
	more := true // whether due batches may be waiting
	for {
		if more && inflight < d.opts.Workers {
			want := d.opts.Workers - inflight
			batches, err := d.claim(ctx, want)
			if err != nil && ctx.Err() == nil {
				d.opts.Logger.Warn("claim webhook batches", "err", err)
			}
			for _, b := range batches {
				inflight++
				go func() {
					_ = d.attempt(ctx, b)
					finished <- struct{}{}
				}()
			}
			more = err == nil && len(batches) == want
		}
		select {
		case <-d.run.stop:
			for ; inflight > 0; inflight-- {
				<-finished
			}
			return
		case <-finished:
			inflight--
		case <-tick.C:
			more = true
		case <-d.wake:
			more = true
		case <-prune.C:
			d.pruneAll(ctx)
		}
	}
}

func (d *Dispatcher) pruneAll(ctx context.Context) {
	if _, err := d.Prune(ctx); err != nil && ctx.Err() == nil {
		d.opts.Logger.Warn("prune webhook batches", "err", err)
	}
}

// Shutdown stops claiming and waits for the POSTs in flight; when ctx ends
// first it cancels them (their batches are retried after the lease).
func (d *Dispatcher) Shutdown(ctx context.Context) error { return d.run.shutdown(ctx) }
