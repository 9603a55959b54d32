package webhooks_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/apps"
	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/storage/sqlstore"
	"github.com/pushgate/pushgate/webhooks"
)

// clock is a settable clock; the tests move it instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Millisecond)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// wireMessage is CORE's webhook message; decoding with unknown fields
// refused checks the body holds nothing else.
type wireMessage struct {
	MessageID string `json:"messageId"`
	ForeignID string `json:"foreignId"`
	Result    struct {
		Kind   string `json:"kind"`
		Reason string `json:"reason"`
		Action string `json:"action"`
	} `json:"result"`
	TS int64 `json:"ts"`
}

// request is one POST the consumer received.
type request struct {
	ID        string
	Timestamp string
	Header    http.Header
	Body      []byte
	Messages  []wireMessage
	Answer    int // the status the consumer answered; 0 when it hung up
}

// consumer is a backend's webhook endpoint: it verifies every signature
// with the Standard Webhooks library and answers what answer says.
type consumer struct {
	t      testing.TB
	srv    *httptest.Server
	secret string
	hook   *standardwebhooks.Webhook
	// loose skips the library's 5-minute timestamp window, for tests that
	// move the clock further than that (the signature is still checked).
	loose bool

	mu       sync.Mutex
	requests []request
	answer   func(n int) int // status for the n-th request (from 0); 0 hangs until the client gives up
	received chan struct{}
}

func newConsumer(t testing.TB) *consumer {
	key := make([]byte, 24)
	_, _ = rand.Read(key)
	c := &consumer{t: t, secret: webhooks.SecretPrefix + base64.StdEncoding.EncodeToString(key), received: make(chan struct{}, 1<<16)}
	var err error
	if c.hook, err = standardwebhooks.NewWebhook(c.secret); err != nil {
		t.Fatal(err)
	}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *consumer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	verify := c.hook.Verify
	if c.loose {
		verify = c.hook.VerifyIgnoringTimestamp
	}
	if err := verify(body, r.Header); err != nil {
		c.t.Errorf("signature of %s does not verify: %v", r.Header.Get("webhook-id"), err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		c.t.Errorf("got %s with Content-Type %q, want a JSON POST", r.Method, r.Header.Get("Content-Type"))
	}
	var p struct {
		Messages []wireMessage `json:"messages"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		c.t.Errorf("body is not CORE's shape: %v: %s", err, body)
	}
	c.mu.Lock()
	n := len(c.requests)
	status := http.StatusOK
	if c.answer != nil {
		status = c.answer(n)
	}
	c.requests = append(c.requests, request{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"),
		Header: r.Header.Clone(), Body: body, Messages: p.Messages, Answer: status})
	c.mu.Unlock()
	c.received <- struct{}{}
	if status == 0 {
		<-r.Context().Done()
		return
	}
	w.WriteHeader(status)
	fmt.Fprint(w, http.StatusText(status))
}

func (c *consumer) setAnswer(f func(n int) int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answer = f
}

func (c *consumer) all() []request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]request(nil), c.requests...)
}

// accepted returns the requests answered 2xx.
func (c *consumer) accepted() []request {
	var out []request
	for _, r := range c.all() {
		if r.Answer >= 200 && r.Answer < 300 {
			out = append(out, r)
		}
	}
	return out
}

// env is one bucket with a callback to a consumer, and the three parts
// over one database, all on a settable clock.
type env struct {
	t        *testing.T
	db       *sqlstore.DB
	store    *sqlstore.WebhookStore
	clock    *clock
	appID    string
	bucketID string
	// ctxID is the context of the messages that events name.
	ctxID string
	cons  *consumer

	mu      sync.Mutex
	targets map[string]*webhooks.Target

	rec  *webhooks.Recorder
	fl   *webhooks.Flusher
	disp *webhooks.Dispatcher
	// dispOpts are the options of the Dispatchers that dispatch runs, and
	// client (the consumer's by default) the client they send through.
	dispOpts webhooks.DispatcherOptions
	client   *http.Client
}

type envOptions struct {
	flusher    webhooks.FlusherOptions
	dispatcher webhooks.DispatcherOptions
}

func newEnv(t *testing.T, db *sqlstore.DB, o envOptions) *env {
	t.Helper()
	e := &env{t: t, db: db, store: db.Webhooks(), clock: newClock(), cons: newConsumer(t), targets: map[string]*webhooks.Target{},
		ctxID: pushgate.NewID(), dispOpts: o.dispatcher}
	e.appID, e.bucketID = createBucket(t, db)
	e.setTarget(e.bucketID, &webhooks.Target{URL: e.cons.srv.URL + "/hook", Secret: e.cons.secret})
	e.rec = webhooks.NewRecorder(e.store, webhooks.RecorderOptions{Now: e.clock.Now})
	o.flusher.Now = e.clock.Now
	e.fl = webhooks.NewFlusher(e.store, webhooks.TargetsFunc(e.target), o.flusher)
	e.disp = e.newDispatcher(db, o.dispatcher)
	return e
}

func (e *env) newDispatcher(db *sqlstore.DB, o webhooks.DispatcherOptions) *webhooks.Dispatcher {
	o.Now = e.clock.Now
	d, err := webhooks.NewDispatcher(db.Webhooks(), webhooks.TargetsFunc(e.target), e.cons.srv.Client(), o)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) target(_ context.Context, _, bucketID string) (*webhooks.Target, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.targets[bucketID]
	if !ok {
		return nil, pushgate.NotFound("bucket")
	}
	cp := *t
	return &cp, nil
}

func (e *env) setTarget(bucketID string, t *webhooks.Target) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t == nil {
		delete(e.targets, bucketID)
		return
	}
	e.targets[bucketID] = t
}

// record stores events of the env's bucket the ways the server does
// (testenv.StoreEvents): sent and failed ones as the results of their
// messages, client events as reports.
func (e *env) record(events ...webhooks.Event) {
	e.t.Helper()
	for i := range events {
		if events[i].AppID == "" {
			events[i].AppID, events[i].BucketID = e.appID, e.bucketID
		}
	}
	if err := testenv.StoreEvents(context.Background(), e.db, e.ctxID, e.clock.Now(), events...); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) flush() int {
	e.t.Helper()
	n, err := e.fl.FlushOnce(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// dispatch runs a new Dispatcher of the env for one round (runOnce) and
// returns how many batches it attempted.
func (e *env) dispatch() int {
	e.t.Helper()
	return e.dispatchWith(e.db, e.dispOpts)
}

// dispatchWith runs a Dispatcher over db with options o for one round and
// returns how many batches it attempted.
func (e *env) dispatchWith(db *sqlstore.DB, o webhooks.DispatcherOptions) int {
	e.t.Helper()
	o.Now = e.clock.Now
	st := &claimCounter{Store: db.Webhooks()}
	d, err := webhooks.NewDispatcher(st, webhooks.TargetsFunc(e.target), cmp.Or(e.client, e.cons.srv.Client()), o)
	if err != nil {
		e.t.Fatal(err)
	}
	runOnce(e.t, d)
	return int(st.claimed.Load())
}

// claimCounter counts the batches claimed through it.
type claimCounter struct {
	webhooks.Store
	claimed atomic.Int32
}

func (c *claimCounter) ClaimBatches(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*webhooks.Batch, error) {
	bs, err := c.Store.ClaimBatches(ctx, now, leaseUntil, limit)
	c.claimed.Add(int32(len(bs)))
	return bs, err
}

func (e *env) batches() []*webhooks.Batch {
	e.t.Helper()
	bs, err := e.disp.Batches(context.Background(), e.appID, e.bucketID, webhooks.ListOptions{Limit: 500})
	if err != nil {
		e.t.Fatal(err)
	}
	return bs
}

func (e *env) batch(id string) *webhooks.Batch {
	e.t.Helper()
	b, err := e.disp.Batch(context.Background(), e.appID, e.bucketID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// createBucket stores an app and a bucket, which batches belong to.
func createBucket(t testing.TB, db *sqlstore.DB) (appID, bucketID string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	a := &apps.App{ID: pushgate.NewID(), Name: "a", Key: pushgate.RandomToken(10), SealedSecret: "sealed", CreatedAt: now}
	k := &apps.APIKey{ID: pushgate.NewID(), AppID: a.ID, Name: "k", Prefix: "pgk_x", Role: apps.RoleAdmin, Hash: apps.HashAPIKey(pushgate.RandomToken(24)), CreatedAt: now}
	if err := db.Apps().CreateApp(ctx, a, k); err != nil {
		t.Fatal(err)
	}
	// A long idle TTL: some tests move their clock a day ahead.
	b := &buckets.StoredBucket{ID: pushgate.NewID(), AppID: a.ID, SealedCallback: "cb", SealedWebhookSecret: "ws", HasCallback: true,
		CreatedAt: now, LastUsedAt: now, IdleTTL: 365 * 24 * time.Hour}
	if err := db.Buckets().CreateBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	return a.ID, b.ID
}

// sent returns n sent events for new messages, foreignIds f0, f1...
func sent(n int) []webhooks.Event {
	out := make([]webhooks.Event, n)
	for i := range out {
		out[i] = webhooks.Event{MessageID: pushgate.NewID(), ForeignID: fmt.Sprint("f", i), Kind: webhooks.Sent}
	}
	return out
}

// messageIDs lists the message ids the requests carried.
func messageIDs(rs []request) map[string]int {
	out := map[string]int{}
	for _, r := range rs {
		for _, m := range r.Messages {
			out[m.MessageID+"/"+m.Result.Kind]++
		}
	}
	return out
}

// runOnce runs d's loop for one round, as the server starts it: Start
// claims up to Workers due batches at once, and Shutdown returns when
// their attempts are recorded.
func runOnce(t testing.TB, d *webhooks.Dispatcher) {
	t.Helper()
	d.Start(context.Background())
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
